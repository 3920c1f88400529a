/*
 * authorize_request: an authorization request checked before anyone signs
 * in — GET /oauth/authorize (parameters, a request object, or the
 * request_uri of a pushed request) and POST /oauth/par (RFC 9126, client
 * authenticated, answered in JSON). OAuth 2.1 rules: PKCE with S256 only,
 * exact redirect URI match (loopback on any port, RFC 8252 §7.3); a DPoP
 * proof or dpop_jkt binds the code to a key (RFC 9449 §10). Errors go back
 * to the client only once its redirect URI is known to be registered;
 * before that the user sees an error page. A valid request goes on to
 * authorize_flow.h.
 */
#ifndef SHARK_PROTOCOL_AUTHORIZE_REQUEST_H
#define SHARK_PROTOCOL_AUTHORIZE_REQUEST_H

#include "../core/http.h"

void oauth_authorize_get(http_req *req);
void oauth_authorize_par(http_req *req);

#endif
