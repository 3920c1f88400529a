#include "session.h"

#include <stdio.h>
#include <string.h>

#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../identity/web.h"
#include "../store/admin_session.h"
#include "../store/rows_admin.h"
#include "admin.h"

/* The CSRF token is derived from the cookie value, so it needs no storage
 * and a page that can read it already proved it holds the session. */
static void csrf_for(const char *token, char out[48])
{
    uint8_t mac[HASH_SHA256_LEN];
    hash_hmac_sha256((const uint8_t *)token, strlen(token), "shark-admin-csrf", 16, mac);
    enc_b64url(mac, sizeof(mac), out, 48);
}

static void session_body(http_req *req, int status, const char *token, const char *expires)
{
    char csrf[48];
    csrf_for(token, csrf);
    char *body = arena_printf(http_req_arena(req), "{\"csrf_token\":\"%s\",\"expires_at\":\"%s\"}",
                              csrf, expires);
    http_respond(req, status, "application/json", body, strlen(body));
}

/* ---- sign-in ---- */

struct sign_in {
    http_req *req;
    char token[48];
};

static void on_opened(void *ud, PGresult *res, int err, const char *msg)
{
    struct sign_in *s = ud;
    (void)msg;
    if (admin_db_error(s->req, err))
        return;
    const char *expires_at = store_admin_session_expiry(res, http_req_arena(s->req));
    if (expires_at == NULL) {
        http_error(s->req, 401, "unauthorized", "missing or invalid admin API key");
        return;
    }
    web_set_cookie(s->req, ADMIN_SESSION_COOKIE, s->token, "/",
                   arena_printf(http_req_arena(s->req), "HttpOnly; SameSite=Strict; Max-Age=%d",
                                ADMIN_SESSION_TTL_S));
    session_body(s->req, 201, s->token, expires_at);
}

static void sign_in(http_req *req)
{
    json_t *body = admin_body(req);
    if (body == NULL)
        return;
    bool bad = false;
    const char *key = admin_string(req, body, "admin_key", 128, &bad);
    if (bad)
        return;
    if (key == NULL || strncmp(key, "sk_live_", 8) != 0) {
        http_error(req, 401, "unauthorized", "missing or invalid admin API key");
        return;
    }
    struct sign_in *s = arena_calloc(http_req_arena(req), sizeof(*s));
    s->req = req;
    uint8_t raw[32], idraw[12];
    hash_random(raw, sizeof(raw));
    hash_random(idraw, sizeof(idraw));
    enc_b64url(raw, sizeof(raw), s->token, sizeof(s->token));
    char idb[24], key_hash[65], token_hash[65];
    enc_b64url(idraw, sizeof(idraw), idb, sizeof(idb));
    hash_sha256_hex(key, strlen(key), key_hash);
    hash_sha256_hex(s->token, strlen(s->token), token_hash);
    store_actor who = admin_actor(req);
    if (store_admin_session_open(
            http_req_pool(req), key_hash, arena_printf(http_req_arena(req), "ads_%s", idb),
            token_hash, ADMIN_SESSION_TTL_S, who.request_id, who.client_ip, on_opened, s) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* ---- the session of a request ---- */

struct check {
    http_req *req;
    route_handler next;
    const char *token;
};

static void no_session(http_req *req)
{
    http_error(req, 401, "unauthorized", "no admin session; sign in again");
}

static bool safe_method(http_req *req)
{
    const char *m = http_req_method(req);
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

static void on_checked(void *ud, PGresult *res, int err, const char *msg)
{
    struct check *c = ud;
    (void)msg;
    if (admin_db_error(c->req, err))
        return;
    if (store_row_count(res) != 1) {
        no_session(c->req);
        return;
    }
    c->next(c->req);
}

bool admin_session_guard(http_req *req, route_handler next)
{
    const char *token = web_cookie(req, ADMIN_SESSION_COOKIE);
    if (token == NULL)
        return false;
    if (strlen(token) > 64) {
        no_session(req);
        return true;
    }
    if (!safe_method(req)) {
        char want[48];
        csrf_for(token, want);
        const char *got = http_req_header(req, "X-CSRF-Token");
        if (got == NULL || http_req_header_count(req, "X-CSRF-Token") != 1 ||
            !hash_ct_eq(got, strlen(got), want, strlen(want))) {
            http_error(req, 403, "forbidden", "missing or wrong X-CSRF-Token for this session");
            return true;
        }
    }
    struct check *c = arena_calloc(http_req_arena(req), sizeof(*c));
    *c = (struct check){req, next, token};
    char hash[65];
    hash_sha256_hex(token, strlen(token), hash);
    if (store_admin_session_check(http_req_pool(req), hash, on_checked, c) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
    return true;
}

/* ---- GET: the CSRF token again; DELETE: sign out ---- */

static void on_current(void *ud, PGresult *res, int err, const char *msg)
{
    struct check *c = ud;
    (void)msg;
    if (admin_db_error(c->req, err))
        return;
    store_admin_session_row r;
    if (!store_admin_session_row_read(res, http_req_arena(c->req), &r)) {
        no_session(c->req);
        return;
    }
    session_body(c->req, 200, c->token, r.expires_at);
}

static void current(http_req *req)
{
    const char *token = web_cookie(req, ADMIN_SESSION_COOKIE);
    if (token == NULL || strlen(token) > 64) {
        no_session(req);
        return;
    }
    struct check *c = arena_calloc(http_req_arena(req), sizeof(*c));
    *c = (struct check){req, NULL, token};
    char hash[65];
    hash_sha256_hex(token, strlen(token), hash);
    if (store_admin_session_check(http_req_pool(req), hash, on_current, c) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_closed(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    (void)res;
    if (admin_db_error(req, err))
        return;
    web_set_cookie(req, ADMIN_SESSION_COOKIE, "", "/", "HttpOnly; SameSite=Strict; Max-Age=0");
    http_respond(req, 204, NULL, "", 0);
}

static void sign_out_checked(http_req *req)
{
    const char *token = web_cookie(req, ADMIN_SESSION_COOKIE);
    char hash[65];
    hash_sha256_hex(token, strlen(token), hash);
    store_actor who = admin_actor(req);
    if (store_admin_session_close(http_req_pool(req), hash, who.request_id, who.client_ip,
                                  on_closed, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* Signing out is a mutation too: it needs the CSRF header (else a forged
 * request could end the session). */
static void sign_out(http_req *req)
{
    if (!admin_session_guard(req, sign_out_checked))
        no_session(req);
}

static const web_route routes[] = {
    {"POST", "/api/v1/admin/session", sign_in, 0},
    {"GET", "/api/v1/admin/session", current, 0},
    {"DELETE", "/api/v1/admin/session", sign_out, 0},
};

int admin_session_register(router *r)
{
    return web_routes_add(r, routes, sizeof(routes) / sizeof(routes[0]));
}
