/*
 * audience: which audiences a client may ask tokens for — RFC 8707 `resource`
 * and RFC 8693 `audience` at the token endpoint, `resource` at authorize and
 * PAR. A client may name this server's issuer (the default audience) and the
 * resources registered for it (an agent's are its app's). A client the
 * operator vouched for — an agent, or one registered with the admin key or an
 * initial access token — may also name the client_id of any active client,
 * which puts that id in the token's aud (how agent A hands a token to agent B
 * to exchange). Anonymously registered and metadata-document clients may not:
 * their tokens are for this server and nothing else.
 */
#ifndef SHARK_PROTOCOL_AUDIENCE_H
#define SHARK_PROTOCOL_AUDIENCE_H

#include <stdbool.h>

#include "../core/server.h"
#include "client.h"

/* A resource as it may be registered: an absolute URI (RFC 3986 §4.3; with
 * a host for http and https; IRI text beyond ASCII allowed) of at most 1000
 * bytes, without spaces, controls or a fragment. URN-style audiences fit;
 * client ids, which hold no ':', do not. */
bool oauth_resource_valid(const char *uri);

/* Whether aud is the issuer or one of c's resources (no lookup). */
bool oauth_audience_listed(const app *a, const oauth_client *c, const char *aud);

/* Decides aud for c: a listed one at once, a client id by looking the client
 * up through the loop's client cache. cb may run before this returns. */
enum oauth_audience { OAUTH_AUDIENCE_UNAVAILABLE = -1, OAUTH_AUDIENCE_REFUSED, OAUTH_AUDIENCE_OK };
typedef void (*oauth_audience_cb)(http_req *req, void *ud, enum oauth_audience verdict);
void oauth_audience_check(http_req *req, const oauth_client *c, const char *aud,
                          oauth_audience_cb cb, void *ud);

#endif
