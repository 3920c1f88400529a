#include "login.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../crypto/password.h"
#include "../store/auth.h"

struct login {
    uv_work_t work;
    http_req *req;
    login_cb cb;
    hash_cb hcb;
    void *ud;
    const char *email, *password, *user_id, *stored;
    int attempt; /* its number at this address in the current window */
    bool allowed, ok;
    char hash[PASSWORD_HASH_MAX];
};

static void on_session(http_req *req, void *ud, const session *s, bool expired)
{
    struct login *l = ud;
    (void)expired;
    l->cb(req, l->ud, s, s ? NULL : "unavailable");
}

static void on_recorded(void *ud, PGresult *res, int err, const char *msg)
{
    struct login *l = ud;
    (void)res;
    (void)msg;
    if (err != STORE_OK)
        l->cb(l->req, l->ud, NULL, "unavailable");
    else if (!l->ok)
        l->cb(l->req, l->ud, NULL, "invalid_credentials");
    else
        session_start(l->req, l->user_id, on_session, l);
}

/* Thread pool: the only place passwords are hashed or checked. Refused and
 * unknown accounts hash the password instead: the same work, so the time
 * an answer takes tells nothing either. */
static void verify_work(uv_work_t *w)
{
    struct login *l = w->data;
    if (l->allowed && l->stored != NULL)
        l->ok = password_verify(l->password, l->stored);
    else
        password_hash(l->password, l->hash);
}

static void verify_done(uv_work_t *w, int status)
{
    struct login *l = w->data;
    if (status != 0) {
        l->cb(l->req, l->ud, NULL, "unavailable");
        return;
    }
    /* Counted against the email either way: a refusal says nothing about
     * whether the account exists. */
    if (!l->allowed) {
        l->cb(l->req, l->ud, NULL, "account_locked");
        return;
    }
    if (l->stored == NULL) {
        l->cb(l->req, l->ud, NULL, "invalid_credentials");
        return;
    }
    if (store_auth_login_end(http_req_pool(l->req), l->email, http_req_client_ip(l->req),
                             l->user_id, l->ok, l->attempt, l->attempt == LOGIN_MAX_FAILURES,
                             http_req_id(l->req), on_recorded, l) != 0)
        l->cb(l->req, l->ud, NULL, "unavailable");
}

/* The attempt is counted before the password is looked at, so concurrent
 * guesses cannot outrun the limit. */
static void on_begun(void *ud, PGresult *res, int err, const char *msg)
{
    struct login *l = ud;
    (void)msg;
    if (err != STORE_OK) {
        l->cb(l->req, l->ud, NULL, "unavailable");
        return;
    }
    arena *a = http_req_arena(l->req);
    l->allowed = PQgetvalue(res, 0, 0)[0] == 't';
    l->attempt = atoi(PQgetvalue(res, 0, 3));
    /* no password set: cannot sign in this way, like an unknown account */
    if (!PQgetisnull(res, 0, 1) && !PQgetisnull(res, 0, 2)) {
        l->user_id = arena_strdup(a, PQgetvalue(res, 0, 1));
        l->stored = arena_strdup(a, PQgetvalue(res, 0, 2));
    }
    l->work.data = l;
    if (uv_queue_work(http_req_loop(l->req), &l->work, verify_work, verify_done) != 0)
        l->cb(l->req, l->ud, NULL, "unavailable");
}

void login_password(http_req *req, const char *email, const char *password, login_cb cb,
                    void *ud)
{
    struct login *l = arena_calloc(http_req_arena(req), sizeof(*l));
    l->req = req;
    l->cb = cb;
    l->ud = ud;
    l->email = email;
    l->password = password;
    if (strlen(password) > 1024 || strlen(email) > 254) {
        cb(req, ud, NULL, "invalid_credentials");
        return;
    }
    if (store_auth_login_begin(http_req_pool(req), email, http_req_client_ip(req),
                               LOGIN_MAX_FAILURES, LOGIN_ACCOUNT_MAX_FAILURES, LOGIN_LOCK_S,
                               on_begun, l) != 0)
        cb(req, ud, NULL, "unavailable");
}

static void hash_work(uv_work_t *w)
{
    struct login *l = w->data;
    l->ok = password_hash(l->password, l->hash) == 0;
}

static void hash_done(uv_work_t *w, int status)
{
    struct login *l = w->data;
    l->hcb(l->req, l->ud, status == 0 && l->ok ? l->hash : NULL);
}

void login_hash_password(http_req *req, const char *password, hash_cb cb, void *ud)
{
    struct login *l = arena_calloc(http_req_arena(req), sizeof(*l));
    l->req = req;
    l->hcb = cb;
    l->ud = ud;
    l->password = password;
    l->work.data = l;
    if (uv_queue_work(http_req_loop(req), &l->work, hash_work, hash_done) != 0)
        cb(req, ud, NULL);
}
