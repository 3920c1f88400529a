/* token: the token endpoint and the form reading every OAuth POST shares. */
#ifndef SHARK_PROTOCOL_TOKEN_H
#define SHARK_PROTOCOL_TOKEN_H

#include "../core/http.h"
#include "form.h"

void oauth_token_endpoint(http_req *req);
/* Requires a form Content-Type and parses the body (duplicates refused).
 * Returns 0, or -1 after answering 400. */
int oauth_read_form(http_req *req, form *f);

#endif
