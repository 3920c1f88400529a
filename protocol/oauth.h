/*
 * protocol: the OAuth 2.1 endpoints (under /oauth/ and /.well-known/) for machine
 * clients — discovery, JWKS, client registration, the token endpoint
 * (client_credentials, token exchange, refresh), introspection, revocation.
 */
#ifndef SHARK_PROTOCOL_OAUTH_H
#define SHARK_PROTOCOL_OAUTH_H

#include <stddef.h>

#include "../core/router.h"
#include "../core/server.h"

/* Start-up (blocking): loads or creates the signing keys. */
int oauth_startup(app *a, char *err, size_t errlen);
/* Per loop, before it runs: key refresh and token-table upkeep timers. */
void oauth_loop_init(worker *w);
/* Registers every protocol route. */
int oauth_routes(router *r);
/* Introspection and revocation routes (introspect.c). */
int oauth_introspect_routes(router *r);
/* OpenID Connect UserInfo (userinfo.c). */
int oauth_userinfo_routes(router *r);

/* URL of an endpoint under the issuer, e.g. oauth_url(a, "/oauth/token"),
 * written into out. */
void oauth_url(const app *a, const char *path, char *out, size_t len);

#endif
