/*
 * logout: OpenID Connect RP-Initiated Logout 1.0 at /oauth/logout (the
 * end_session_endpoint), GET or POST from any site, with id_token_hint,
 * client_id, post_logout_redirect_uri (exactly one the client registered)
 * and state. A signed-in person is asked first (the answer is a same-origin
 * POST with the session's CSRF token); ending the session ends the grants
 * bound to it. Then back to post_logout_redirect_uri with state, or a
 * signed-out page.
 */
#ifndef SHARK_PROTOCOL_LOGOUT_H
#define SHARK_PROTOCOL_LOGOUT_H

#include "../core/router.h"

int oauth_logout_routes(router *r);

#endif
