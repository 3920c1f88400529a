/* token: the token endpoint (POST /oauth/token; the grants are in grant.h). */
#ifndef SHARK_PROTOCOL_TOKEN_H
#define SHARK_PROTOCOL_TOKEN_H

#include "../core/http.h"
#include "form.h"

void oauth_token_endpoint(http_req *req);

#endif
