/*
 * authorize_flow: the browser half of the code flow once a request is
 * valid (authorize_request.h validates): sign-in with prompt and max_age,
 * the login page, consent, the decision, and the redirect back with code
 * or error, state and iss (RFC 9207) in the request's response mode.
 * Within protocol/, for authorize_request.c and the routes (authorize.c).
 */
#ifndef SHARK_PROTOCOL_AUTHORIZE_FLOW_H
#define SHARK_PROTOCOL_AUTHORIZE_FLOW_H

#include <jansson.h>
#include <stdbool.h>

#include "../core/http.h"
#include "../identity/session.h"
#include "form.h"

/* One authorization request on its way through the browser. */
typedef struct oauth_az {
    http_req *req;
    const char *areq; /* auth_requests id */
    json_t *params;   /* client_id, redirect_uri, scope, state, code_challenge, nonce, resource */
    const char *client_name;
    const session *s;
    form f;
    bool approve;
    bool resumed; /* back from the login page: prompt and max_age were applied */
} oauth_az;

/* A new authorization request id, in the request's arena. */
const char *oauth_az_new_id(http_req *req);
/* Stores the validated request (z->areq, params_json) and goes on to
 * sign-in and consent. */
void oauth_az_begin(oauth_az *z, const char *client_id, const char *params_json);
/* A request pushed earlier (PAR), named by its id, comes back through the
 * browser. */
void oauth_az_pushed(http_req *req, const char *id);
/* An error sent back to z's (registered) redirect URI. */
void oauth_az_redirect_error(oauth_az *z, const char *error, const char *desc);
/* The page for a client lookup that failed (error as oauth_client_lookup
 * gives it: NULL unknown, OAUTH_LOOKUP_UNAVAILABLE, or why its metadata
 * document cannot be used). */
void oauth_az_client_error(http_req *req, const char *error);

/* GET /oauth/authorize/resume, POST /oauth/authorize/decision, GET and
 * POST /login. */
void oauth_authorize_resume(http_req *req);
void oauth_authorize_decision(http_req *req);
void oauth_authorize_login_get(http_req *req);
void oauth_authorize_login_post(http_req *req);

#endif
