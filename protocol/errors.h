/*
 * protocol/errors: the RFC 6749 §5.2 error envelope
 * ({"error","error_description"}) of the /oauth/ surface, registered with
 * the router by oauth_routes so every error under /oauth/, routed or not,
 * takes this shape.
 */
#ifndef SHARK_PROTOCOL_ERRORS_H
#define SHARK_PROTOCOL_ERRORS_H

#include "../core/http.h"

/* route_envelope for /oauth/. A 405 is invalid_request here (RFC 6749 has
 * no method_not_allowed). */
void oauth_envelope(http_req *r, int status, const char *code, const char *message);

/* Always the RFC 6749 envelope (error, error_description), whatever the
 * path: for OAuth answers given outside /oauth/. description may be NULL. */
void http_error_oauth(http_req *r, int status, const char *error, const char *description);

#endif
