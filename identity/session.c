#include "session.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../store/auth.h"
#include "web.h"

#define COOKIE "shark_session"

struct sload {
    http_req *req;
    session_cb cb;
    void *ud;
    session s;
};

const char *session_cookie_hash(http_req *req)
{
    const char *v = web_cookie(req, COOKIE);
    if (v == NULL || strlen(v) > 100)
        return NULL;
    char *h = arena_alloc(http_req_arena(req), 65);
    hash_sha256_hex(v, strlen(v), h);
    return h;
}

static const char *col(http_req *req, PGresult *r, int c)
{
    return arena_strdup(http_req_arena(req), PQgetvalue(r, 0, c));
}

static void on_session(void *ud, PGresult *res, int err, const char *msg)
{
    struct sload *l = ud;
    (void)msg;
    if (err != STORE_OK || PQntuples(res) == 0) {
        l->cb(l->req, l->ud, NULL, false);
        return;
    }
    if (PQgetvalue(res, 0, 0)[0] != 't') {
        l->cb(l->req, l->ud, NULL, true);
        return;
    }
    session *s = &l->s;
    s->user_id = col(l->req, res, 1);
    s->public_id = col(l->req, res, 2);
    s->csrf = col(l->req, res, 3);
    s->auth_time = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    s->email = col(l->req, res, 5);
    s->name = col(l->req, res, 6);
    s->email_verified = PQgetvalue(res, 0, 7)[0] == 't';
    l->cb(l->req, l->ud, s, false);
}

void session_load(http_req *req, session_cb cb, void *ud)
{
    const char *hash = session_cookie_hash(req);
    if (hash == NULL) {
        cb(req, ud, NULL, false);
        return;
    }
    struct sload *l = arena_calloc(http_req_arena(req), sizeof(*l));
    l->req = req;
    l->cb = cb;
    l->ud = ud;
    if (store_session_get(http_req_pool(req), hash, SESSION_IDLE_S, on_session, l) != 0)
        cb(req, ud, NULL, false);
}

static char *random_text(http_req *req, size_t bytes)
{
    uint8_t raw[32];
    char *out = arena_alloc(http_req_arena(req), 64);
    hash_random(raw, bytes);
    enc_base62(raw, bytes, out, 64);
    return out;
}

/* The User-Agent as shown in session lists: at most 200 bytes, printable
 * ASCII (header bytes need not be UTF-8, and a cut could split a sequence). */
static const char *user_agent(http_req *req)
{
    const char *ua = http_req_header(req, "User-Agent");
    if (ua == NULL)
        return NULL;
    char *out = arena_strndup(http_req_arena(req), ua, 200);
    for (char *p = out; *p != '\0'; p++)
        if (*p < 0x20 || *p > 0x7e)
            *p = '?';
    return out;
}

static void on_created(void *ud, PGresult *res, int err, const char *msg)
{
    struct sload *l = ud;
    (void)res;
    (void)msg;
    l->cb(l->req, l->ud, err == STORE_OK ? &l->s : NULL, false);
}

void session_start(http_req *req, const char *user_id, session_cb cb, void *ud)
{
    struct sload *l = arena_calloc(http_req_arena(req), sizeof(*l));
    l->req = req;
    l->cb = cb;
    l->ud = ud;
    const char *value = random_text(req, 32);
    char *hash = arena_alloc(http_req_arena(req), 65);
    hash_sha256_hex(value, strlen(value), hash);
    l->s.user_id = user_id;
    l->s.public_id = arena_printf(http_req_arena(req), "ses_%s", random_text(req, 12));
    l->s.csrf = random_text(req, 24);
    l->s.auth_time = (int64_t)time(NULL);
    web_set_cookie(req, COOKIE, value, "/",
                   arena_printf(http_req_arena(req), "HttpOnly; SameSite=Lax; Max-Age=%d",
                                SESSION_ABSOLUTE_S));
    if (store_session_create(http_req_pool(req), hash, l->s.public_id, user_id, l->s.csrf,
                             SESSION_IDLE_S, SESSION_ABSOLUTE_S, http_req_client_ip(req),
                             user_agent(req), on_created,
                             l) != 0)
        cb(req, ud, NULL, false);
}

void session_clear_cookie(http_req *req)
{
    web_set_cookie(req, COOKIE, "", "/", "HttpOnly; SameSite=Lax; Max-Age=0");
}

bool session_csrf_ok(const session *s, const char *token)
{
    return token != NULL && s != NULL &&
           hash_ct_eq(s->csrf, strlen(s->csrf), token, strlen(token));
}
