/*
 * jar: request objects (RFC 9101) at /oauth/authorize and /oauth/par. A
 * request object is a JWT signed by one of the client's registered keys
 * (jwks; never "none" or a shared secret), with iss the client_id, aud
 * the issuer, exp at most an hour ahead, and client_id, when present, the
 * request's. Its claims are then the request's parameters: those outside
 * it are ignored (§5). Only PAR's request_uri values are taken (§5.2:
 * nothing is fetched).
 */
#ifndef SHARK_PROTOCOL_JAR_H
#define SHARK_PROTOCOL_JAR_H

#include <jansson.h>

#include "../core/http.h"

/* params: a new object of the request's parameters as strings (the
 * caller owns it), or NULL with why set (error invalid_request_object, or
 * unavailable when the store could not be read: why is then NULL). */
typedef void (*oauth_jar_cb)(http_req *req, void *ud, json_t *params, const char *why);
void oauth_jar_open(http_req *req, const char *client_id, const char *request, oauth_jar_cb cb,
                    void *ud);

#endif
