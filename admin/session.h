/*
 * admin/session: dashboard sign-in. POST /api/v1/admin/session exchanges the
 * admin key, once, for a session cookie (HttpOnly, SameSite=Strict,
 * __Host- under https) lasting ADMIN_SESSION_TTL_S; the answer carries the
 * session's CSRF token, which every mutation made with the cookie must send
 * in X-CSRF-Token. GET tells a signed-in page its CSRF token again, DELETE
 * signs out. The admin guard (guard.c) accepts the cookie through
 * admin_session_guard.
 */
#ifndef SHARK_ADMIN_SESSION_H
#define SHARK_ADMIN_SESSION_H

#include <stdbool.h>

#include "../core/http.h"
#include "../core/router.h"

#define ADMIN_SESSION_TTL_S (2 * 3600)
#define ADMIN_SESSION_COOKIE "shark_admin"

int admin_session_register(router *r);

/* The cookie's session, when the request carries one: checks it (and, for a
 * method other than GET/HEAD, its CSRF header), then runs `next`, or answers
 * 401/403. Returns false without answering when there is no cookie. */
bool admin_session_guard(http_req *req, route_handler next);

#endif
