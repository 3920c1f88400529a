/*
 * protocol: the OAuth 2.1 / OpenID Connect endpoints (under /oauth/ and
 * /.well-known/). This header is the route table only (oauth.c); app/
 * includes it, no protocol unit does. Start-up and upkeep: upkeep.h; our
 * own URLs: issuer.h.
 */
#ifndef SHARK_PROTOCOL_OAUTH_H
#define SHARK_PROTOCOL_OAUTH_H

#include "../core/router.h"

/* Registers every protocol route and the /oauth/ error envelope. */
int oauth_routes(router *r);

#endif
