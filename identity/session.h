/*
 * session: people's sign-in sessions. The `shark_session` cookie
 * (`__Host-shark_session`, Secure, under an https issuer; see web.h;
 * HttpOnly, SameSite=Lax) carries 32 random bytes; the
 * store keeps their SHA-256 with an idle and an absolute expiry. Each
 * session has a CSRF token that every cookie-authenticated state change
 * must echo (form field `csrf_token` or header X-CSRF-Token).
 */
#ifndef SHARK_PROTOCOL_SESSION_H
#define SHARK_PROTOCOL_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/http.h"

#define SESSION_IDLE_S 3600
#define SESSION_ABSOLUTE_S (7 * 86400)

typedef struct session {
    const char *user_id, *public_id, *csrf, *email, *name;
    bool email_verified;
    int64_t auth_time;
} session;

/* s is NULL without a live session; expired tells a stale cookie apart. */
typedef void (*session_cb)(http_req *req, void *ud, const session *s, bool expired);
void session_load(http_req *req, session_cb cb, void *ud);

/* Creates a session for user_id and sets the cookie on the response; cb
 * gets the new session (NULL if the store failed: answer 503). */
void session_start(http_req *req, const char *user_id, session_cb cb, void *ud);

/* Clears the cookie on the response. */
void session_clear_cookie(http_req *req);
/* SHA-256 hex of the request's session cookie, or NULL. */
const char *session_cookie_hash(http_req *req);

/* Constant-time check of a presented CSRF token. */
bool session_csrf_ok(const session *s, const char *token);

#endif
