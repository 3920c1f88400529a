/*
 * respmode: how an authorization response reaches the client — query (the
 * code flow's default), fragment (OAuth 2.0 Multiple Response Type Encoding
 * Practices) or form_post (OAuth 2.0 Form Post Response Mode: a page whose
 * form posts the parameters to the redirect URI, submitted by a script the
 * page's CSP allows by nonce, with a button when scripts are off).
 */
#ifndef SHARK_PROTOCOL_RESPMODE_H
#define SHARK_PROTOCOL_RESPMODE_H

#include <stdbool.h>

#include "../core/http.h"

/* The modes advertised in response_modes_supported, NULL-terminated. */
extern const char *const oauth_response_modes[];
bool oauth_response_mode_known(const char *mode);

/* application/x-www-form-urlencoded escaping, in the request arena. */
const char *oauth_qs(http_req *req, const char *v);

/* Sends the response: kv is name, value, name, value, ..., NULL (values not
 * yet escaped); mode NULL means query. */
void oauth_response_send(http_req *req, const char *redirect_uri, const char *mode,
                         const char *const *kv);

#endif
