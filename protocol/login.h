/*
 * login: password sign-in shared by the HTML login page and
 * POST /api/v1/auth/login. argon2id runs on the libuv thread pool, never on
 * a loop thread. An unknown email costs the same hashing work and gets the
 * same answer as a wrong password; repeated failures lock the account for a
 * while (LOGIN_MAX_FAILURES in a row → LOGIN_LOCK_S seconds).
 */
#ifndef SHARK_PROTOCOL_LOGIN_H
#define SHARK_PROTOCOL_LOGIN_H

#include "session.h"

#define LOGIN_MAX_FAILURES 5
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
