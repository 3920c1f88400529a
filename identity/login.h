/*
 * login: password sign-in shared by the HTML login page and
 * POST /api/v1/auth/login. argon2id runs on the libuv thread pool, never on
 * a loop thread. Every attempt is counted in the database before its
 * password is checked, per (email, client address) and per email: past
 * LOGIN_MAX_FAILURES from one address, or LOGIN_ACCOUNT_MAX_FAILURES from
 * all addresses together (those of an address over its own limit not
 * counted), attempts are refused unchecked until LOGIN_LOCK_S seconds after
 * the last one. So a stranger locks out only their own address, and the
 * account's ceiling bounds guesses from many. Unknown emails are counted,
 * hashed and answered exactly like real accounts; a success clears its
 * address's count.
 */
#ifndef SHARK_PROTOCOL_LOGIN_H
#define SHARK_PROTOCOL_LOGIN_H

#include "session.h"

#define LOGIN_MAX_FAILURES 5          /* per (email, address) */
#define LOGIN_ACCOUNT_MAX_FAILURES 50 /* per email, all addresses */
#define LOGIN_LOCK_S 900

/* On success s is the new session (its cookie set on the response) and
 * error is NULL; otherwise s is NULL and error is "invalid_credentials",
 * "account_locked" or "unavailable". */
typedef void (*login_cb)(http_req *req, void *ud, const session *s, const char *error);
void login_password(http_req *req, const char *email, const char *password, login_cb cb,
                    void *ud);

/* Hashes a new password on the thread pool; hash is NULL on failure. */
typedef void (*hash_cb)(http_req *req, void *ud, const char *hash);
void login_hash_password(http_req *req, const char *password, hash_cb cb, void *ud);

#endif
