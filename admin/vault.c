/* The token vault's routes (see vault.h): provider templates, connections
 * and the connect flow, the agent's token fetch with single-flight refresh,
 * and the Layer 5 disconnect cascade. */
#include "vault.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/fetch.h"
#include "../core/log.h"
#include "../core/outbound.h"
#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../crypto/seal.h"
#include "../protocol/client.h"
#include "../protocol/oauth.h"
#include "../protocol/pages.h"
#include "../protocol/resource.h"
#include "../protocol/session.h"
#include "../store/vault.h"
#include "admin.h"

#define SEAL_VERSION 1
#define POLL_MS 100      /* a fetch waiting for another's refresh re-reads the row this often */
#define WAIT_MAX_MS 10000
#define VAULT_SCOPE "vault:read"
#define CALLBACK_PATH "/api/v1/vault/callback"

/* ------------------------------------------------------------ helpers */

static char *new_id(http_req *req, const char *prefix)
{
    uint8_t raw[16];
    char text[40];
    hash_random(raw, sizeof(raw));
    enc_base62(raw, sizeof(raw), text, sizeof(text));
    return arena_printf(http_req_arena(req), "%s%s", prefix, text);
}

/* A column as request memory, NULL for SQL NULL. */
static const char *col(http_req *req, PGresult *res, int c)
{
    return PQgetisnull(res, 0, c) ? NULL : arena_strdup(http_req_arena(req), PQgetvalue(res, 0, c));
}

static bool col_true(PGresult *res, int c)
{
    return PQgetvalue(res, 0, c)[0] == 't';
}

static void wipe(void *p)
{
    sodium_memzero(p, strlen(p));
}

/* Request memory wiped when the request ends: for anything holding a secret. */
__attribute__((format(printf, 2, 3))) static char *secret_printf(http_req *req, const char *fmt,
                                                                  ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = arena_alloc(http_req_arena(req), (size_t)(n > 0 ? n : 0) + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
    va_end(ap);
    arena_cleanup(http_req_arena(req), wipe, s);
    return s;
}

/* Seals text for one row; base64 of the box. */
static const char *seal_text(http_req *req, const char *text, const char *ad)
{
    arena *a = http_req_arena(req);
    size_t n = strlen(text), bn = n + SEAL_OVERHEAD, tl = (bn + 2) / 3 * 4 + 1;
    uint8_t *box = arena_alloc(a, bn);
    char *b64 = arena_alloc(a, tl);
    if (seal_box(http_req_app(req)->master_key, SEAL_VERSION, (const uint8_t *)text, n,
                 (const uint8_t *)ad, strlen(ad), box, bn) < 0 ||
        enc_b64(box, bn, b64, tl) < 0)
        return NULL;
    return b64;
}

/* Opens what seal_text made; NULL when absent or when it does not open
 * (another row's ciphertext, another master key). */
static const char *open_text(http_req *req, const char *b64, const char *ad)
{
    if (b64 == NULL)
        return NULL;
    arena *a = http_req_arena(req);
    size_t bl = strlen(b64);
    uint8_t *box = arena_alloc(a, bl + 1);
    long n = enc_b64_decode(b64, bl, box, bl + 1);
    if (n < SEAL_OVERHEAD)
        return NULL;
    char *out = arena_calloc(a, (size_t)n);
    arena_cleanup(a, wipe, out);
    long m = seal_open(http_req_app(req)->master_key, box, (size_t)n, (const uint8_t *)ad,
                       strlen(ad), (uint8_t *)out, (size_t)n - 1);
    if (m < 0)
        return NULL;
    out[m] = '\0';
    return out;
}

static const char *conn_ad(http_req *req, const char *conn_id, const char *provider_id)
{
    return arena_printf(http_req_arena(req), "%s|%s", conn_id, provider_id);
}

/* RFC 3986 percent-encoding of everything but unreserved characters (for
 * query strings and application/x-www-form-urlencoded alike). */
static char *pct(http_req *req, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = arena_alloc(http_req_arena(req), strlen(s) * 3 + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p) != NULL) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    arena_cleanup(http_req_arena(req), wipe, out); /* may encode a secret */
    return out;
}

/* --------------------------------------------------- provider calls */

/* The token endpoint of one provider and how to authenticate to it. */
typedef struct provider_call {
    const char *token_url, *client_id, *client_secret; /* secret NULL: a public client */
    bool basic;
} provider_call;

/* Opens the provider's client secret (AD = provider id). Returns -1 when a
 * stored secret does not open. */
static int provider_call_init(http_req *req, provider_call *pc, const char *provider_id,
                              const char *token_url, const char *client_id,
                              const char *secret_sealed, const char *auth_style)
{
    pc->token_url = token_url;
    pc->client_id = client_id ? client_id : "";
    pc->basic = auth_style != NULL && strcmp(auth_style, "basic") == 0;
    pc->client_secret = open_text(req, secret_sealed, provider_id);
    return secret_sealed != NULL && pc->client_secret == NULL ? -1 : 0;
}

/* POSTs form `params` (already encoded) to url with the client's
 * authentication: Basic (RFC 6749 §2.3.1, form-encoded id and secret) or
 * the credentials in the body. */
static int provider_post(http_req *req, const provider_call *pc, const char *url,
                         const char *params, fetch_cb cb, void *ud)
{
    const char *body = params, *auth = NULL;
    if (pc->basic && pc->client_secret != NULL) {
        const char *cred =
            secret_printf(req, "%s:%s", pct(req, pc->client_id), pct(req, pc->client_secret));
        size_t cl = strlen(cred), bl = (cl + 2) / 3 * 4 + 1;
        char *b64 = arena_alloc(http_req_arena(req), bl);
        enc_b64((const uint8_t *)cred, cl, b64, bl);
        arena_cleanup(http_req_arena(req), wipe, b64);
        auth = secret_printf(req, "Authorization: Basic %s", b64);
    } else if (pc->client_secret != NULL) {
        body = secret_printf(req, "%s&client_id=%s&client_secret=%s", params,
                             pct(req, pc->client_id), pct(req, pc->client_secret));
    } else {
        body = secret_printf(req, "%s&client_id=%s", params, pct(req, pc->client_id));
    }
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded",
                             "Accept: application/json", auth, NULL};
    fetch_request rq = {.method = "POST", .url = url, .headers = headers, .body = body,
                        .body_len = strlen(body)};
    return fetch_submit(http_req_app(req), &rq, cb, ud, http_req_loop(req));
}

/* A token endpoint's answer, read into request memory. */
typedef struct grant {
    const char *access, *refresh, *expires_in, *scopes, *error;
} grant;

enum outcome { GRANT_OK, GRANT_REAUTH, GRANT_OUTAGE, GRANT_REFUSED };

static bool reauth_error(const char *e)
{
    /* invalid_grant (RFC 6749); Slack answers 200 with its own names. */
    return e != NULL && (strcmp(e, "invalid_grant") == 0 || strcmp(e, "invalid_refresh_token") == 0 ||
                         strcmp(e, "token_revoked") == 0 || strcmp(e, "token_expired") == 0);
}

/* Granted scopes as a JSON array (space- or comma-separated in answers). */
static const char *scope_array(http_req *req, const char *s)
{
    json_t *a = json_array();
    char *copy = arena_strdup(http_req_arena(req), s), *save = NULL;
    for (char *t = strtok_r(copy, " ,", &save); t != NULL; t = strtok_r(NULL, " ,", &save))
        json_array_append_new(a, json_string(t));
    char *text = json_dumps(a, JSON_COMPACT);
    const char *out = arena_strdup(http_req_arena(req), text ? text : "[]");
    free(text);
    json_decref(a);
    return out;
}

static enum outcome read_grant(http_req *req, const fetch_response *res, grant *g)
{
    memset(g, 0, sizeof(*g));
    if (res->error != NULL) {
        g->error = arena_strdup(http_req_arena(req), res->error);
        return res->refused ? GRANT_REFUSED : GRANT_OUTAGE;
    }
    if (res->status >= 500 || res->status == 429 || res->status == 408) {
        g->error = arena_printf(http_req_arena(req), "the provider answered HTTP %ld", res->status);
        return GRANT_OUTAGE;
    }
    json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
    json_t *e = json_object_get(j, "error"), *at = json_object_get(j, "access_token");
    json_t *rt = json_object_get(j, "refresh_token"), *ex = json_object_get(j, "expires_in");
    json_t *sc = json_object_get(j, "scope");
    enum outcome o = GRANT_REFUSED;
    if (json_is_string(e)) {
        g->error = arena_strdup(http_req_arena(req), json_string_value(e));
        o = reauth_error(g->error) ? GRANT_REAUTH : GRANT_REFUSED;
    } else if (res->status == 200 && json_is_string(at) && json_string_length(at) > 0) {
        g->access = secret_printf(req, "%s", json_string_value(at));
        if (json_is_string(rt) && json_string_length(rt) > 0)
            g->refresh = secret_printf(req, "%s", json_string_value(rt));
        if (json_is_integer(ex) && json_integer_value(ex) >= 0 &&
            json_integer_value(ex) < 100000000)
            g->expires_in = arena_printf(http_req_arena(req), "%lld",
                                         (long long)json_integer_value(ex));
        else if (json_is_string(ex) && strspn(json_string_value(ex), "0123456789") ==
                                           json_string_length(ex) && json_string_length(ex) > 0 &&
                 json_string_length(ex) < 9)
            g->expires_in = arena_strdup(http_req_arena(req), json_string_value(ex));
        if (json_is_string(sc))
            g->scopes = scope_array(req, json_string_value(sc));
        o = GRANT_OK;
    } else {
        g->error = arena_printf(http_req_arena(req), "the provider answered HTTP %ld without a token",
                                res->status);
    }
    json_decref(j);
    return o;
}

/* ---------------------------------------------------------- providers */

static const char *const reserved_slugs[] = {"providers", "connections", "connect", "callback"};

static bool slug_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
        return false;
    for (size_t i = 0; i < sizeof(reserved_slugs) / sizeof(reserved_slugs[0]); i++)
        if (strcmp(s, reserved_slugs[i]) == 0)
            return false;
    return true;
}

static bool scope_ok(const char *s)
{
    return *s != '\0' && strlen(s) <= 300 && strpbrk(s, " ,\"\\") == NULL;
}

/* A provider URL passes the outbound policy (a literal private address
 * needs --webhook-allowed-hosts) and carries no fragment. */
static bool url_field(http_req *req, json_t *b, const char *field, const char **out, bool *bad)
{
    const char *v = admin_string(req, b, field, 2000, bad);
    if (*bad || v == NULL)
        return !*bad;
    char err[200];
    if (hook_url_check(http_req_app(req)->cfg.webhook_allowed_hosts, v, err, sizeof(err)) != 0 ||
        strchr(v, '#') != NULL) {
        *bad = true;
        http_error(req, 400, "invalid_request",
                   arena_printf(http_req_arena(req), "%s: %s", field,
                                strchr(v, '#') ? "must not carry a fragment" : err));
        return false;
    }
    *out = v;
    return true;
}

/* Reads the provider members of a create or update body; on error it
 * answered 400. `endpoints` tells whether any endpoint member was given. */
static int read_provider(http_req *req, json_t *b, store_vault_provider_in *in, bool *endpoints)
{
    bool bad = false;
    in->name = admin_string(req, b, "name", 200, &bad);
    url_field(req, b, "authorize_url", &in->authorize_url, &bad);
    url_field(req, b, "token_url", &in->token_url, &bad);
    url_field(req, b, "revoke_url", &in->revoke_url, &bad);
    in->scopes = admin_string_array(req, json_object_get(b, "scopes"), "scopes", 100, scope_ok,
                                    &bad);
    in->scope_separator = admin_string(req, b, "scope_separator", 1, &bad);
    in->authorize_params = admin_string(req, b, "authorize_params", 1000, &bad);
    in->auth_style = admin_string(req, b, "auth_style", 8, &bad);
    in->client_id = admin_string(req, b, "client_id", 500, &bad);
    if (bad)
        return -1;
    const char *secret = admin_string(req, b, "client_secret", 2000, &bad);
    if (bad)
        return -1;
    json_t *rot = json_object_get(b, "rotates_refresh_tokens");
    if ((rot != NULL && !json_is_boolean(rot)) ||
        (in->scope_separator != NULL && strcmp(in->scope_separator, " ") != 0 &&
         strcmp(in->scope_separator, ",") != 0) ||
        (in->auth_style != NULL && strcmp(in->auth_style, "basic") != 0 &&
         strcmp(in->auth_style, "post") != 0) ||
        (in->authorize_params != NULL && strpbrk(in->authorize_params, "#? \"<>") != NULL) ||
        (in->name != NULL && in->name[0] == '\0')) {
        http_error(req, 400, "invalid_request",
                   "name must not be empty; auth_style is basic or post; scope_separator is ' ' "
                   "or ','; rotates_refresh_tokens is a boolean; authorize_params is a query string");
        return -1;
    }
    if (rot != NULL)
        in->rotates = json_is_true(rot) ? "true" : "false";
    if (secret != NULL && in->id != NULL &&
        (in->secret_sealed = seal_text(req, secret, in->id)) == NULL) {
        http_error(req, 500, "internal_error", "cannot seal the client secret");
        return -1;
    }
    *endpoints = in->authorize_url != NULL || in->token_url != NULL || in->revoke_url != NULL ||
                 in->auth_style != NULL;
    return 0;
}

static void on_providers(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    char *body = arena_printf(http_req_arena(req), "{\"items\":%s,\"total\":%s}",
                              PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
    http_respond(req, 200, "application/json", body, strlen(body));
}

static void provider_list(http_req *req)
{
    if (store_vault_provider_list(http_req_pool(req), on_providers, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_provider(void *ud, PGresult *res, int err, const char *msg)
{
    (void)msg;
    admin_respond_row(ud, res, err, 200, "provider");
}

static void provider_get(http_req *req)
{
    if (store_vault_provider_get(http_req_pool(req), http_req_param(req, "id"), on_provider, req) !=
        0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_provider_created(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (err == STORE_ECONFLICT) {
        http_error(req, 409, "conflict", "a provider with this id exists");
        return;
    }
    admin_respond_row(req, res, err, 201, "provider");
}

static void provider_create(http_req *req)
{
    json_t *b = admin_body(req);
    if (b == NULL)
        return;
    store_vault_provider_in in = {0};
    bool bad = false, endpoints;
    in.id = admin_string(req, b, "id", 64, &bad);
    if (!bad && in.id == NULL)
        in.id = admin_string(req, b, "slug", 64, &bad);
    if (bad)
        return;
    if (in.id == NULL || !slug_ok(in.id)) {
        http_error(req, 400, "invalid_request",
                   "id must be 1-64 of a-z 0-9 _ - (and not providers, connections, connect or "
                   "callback)");
        return;
    }
    if (read_provider(req, b, &in, &endpoints) != 0)
        return;
    if (in.name == NULL || in.authorize_url == NULL || in.token_url == NULL) {
        http_error(req, 400, "invalid_request", "name, authorize_url and token_url are required");
        return;
    }
    store_actor who = admin_actor(req);
    if (store_vault_provider_create(http_req_pool(req), &in, &who, on_provider_created, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_provider_updated(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    if (!col_true(res, 0)) {
        http_error(req, 404, "not_found", "no such provider");
        return;
    }
    if (!col_true(res, 1)) {
        http_error(req, 400, "invalid_request",
                   "a built-in provider's endpoints are fixed; set client_id, client_secret, "
                   "scopes, name or authorize_params");
        return;
    }
    admin_respond_text(req, 200, PQgetvalue(res, 0, 2));
}

static void provider_update(http_req *req)
{
    json_t *b = admin_body(req);
    if (b == NULL)
        return;
    store_vault_provider_in in = {.id = http_req_param(req, "id")};
    bool endpoints;
    if (in.id == NULL || read_provider(req, b, &in, &endpoints) != 0)
        return;
    store_actor who = admin_actor(req);
    if (store_vault_provider_update(http_req_pool(req), &in, endpoints, &who, on_provider_updated,
                                    req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_provider_deleted(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    if (!col_true(res, 0))
        http_error(req, 404, "not_found", "no such provider");
    else if (col_true(res, 1))
        http_error(req, 400, "invalid_request", "built-in providers cannot be deleted");
    else if (!col_true(res, 3))
        http_error(req, 409, "conflict",
                   arena_printf(http_req_arena(req),
                                "the provider has %s connections; disconnect them first",
                                PQgetvalue(res, 0, 2)));
    else
        http_respond(req, 204, NULL, NULL, 0);
}

static void provider_delete(http_req *req)
{
    store_actor who = admin_actor(req);
    if (store_vault_provider_delete(http_req_pool(req), http_req_param(req, "id"), &who,
                                    on_provider_deleted, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* -------------------------------------------------- connections (admin) */

/* A new connection's tokens are sealed with its id, so the id comes first:
 * an existing connection of the user to the provider keeps its own. */
typedef struct conn_new {
    http_req *req;
    store_vault_conn_in in;
    const char *access, *refresh; /* plaintext, request memory (wiped) */
    int status;                   /* answer on success */
    const char *provider_name;    /* connect flow: for the page */
    bool page;
} conn_new;

static void on_conn_stored(void *ud, PGresult *res, int err, const char *msg)
{
    conn_new *c = ud;
    http_req *req = c->req;
    (void)msg;
    bool raced = err == STORE_OK && PQntuples(res) == 0;
    if (c->page) {
        if (err != STORE_OK || raced)
            page_error(req, raced ? 409 : 503, "The connection could not be stored; try again.");
        else
            page_send(req, 200, "Connected",
                      arena_printf(http_req_arena(req),
                                   "<h1>Connected</h1><p>Your %s account is connected. Agents you "
                                   "authorised can now use it.</p><p class=muted>You can close "
                                   "this window.</p>",
                                   page_escape(req, c->provider_name)));
        return;
    }
    if (admin_db_error(req, err))
        return;
    if (raced) {
        http_error(req, 409, "conflict", "the connection changed meanwhile; retry");
        return;
    }
    admin_respond_text(req, c->status, PQgetvalue(res, 0, 0));
}

/* Seals and stores; `existing` is the user's current connection id to the
 * provider, if any. */
static void conn_store(conn_new *c, const char *existing)
{
    http_req *req = c->req;
    c->in.id = existing ? existing : new_id(req, "conn_");
    const char *ad = conn_ad(req, c->in.id, c->in.provider_id);
    c->in.access_sealed = c->access ? seal_text(req, c->access, ad) : NULL;
    c->in.refresh_sealed = c->refresh ? seal_text(req, c->refresh, ad) : NULL;
    store_actor who = admin_actor(req);
    if (store_vault_conn_upsert(http_req_pool(req), &c->in, &who, on_conn_stored, c) != 0)
        on_conn_stored(c, NULL, STORE_EUNAVAIL, NULL);
}

static void on_conn_prepared(void *ud, PGresult *res, int err, const char *msg)
{
    conn_new *c = ud;
    (void)msg;
    if (admin_db_error(c->req, err))
        return;
    if (!col_true(res, 0) || !col_true(res, 1)) {
        http_error(c->req, 404, "not_found", col_true(res, 0) ? "no such provider" : "no such user");
        return;
    }
    conn_store(c, col(c->req, res, 2));
}

/* expires_at: ISO-8601 text, or unix seconds as a number or digits. */
static int read_expiry(http_req *req, json_t *b, const char **out)
{
    json_t *v = json_object_get(b, "expires_at");
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < 100000000000LL) {
        *out = arena_printf(http_req_arena(req), "%lld", (long long)json_integer_value(v));
        return 0;
    }
    if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= 64) {
        *out = json_string_value(v);
        return 0;
    }
    http_error(req, 400, "invalid_request", "expires_at must be ISO-8601 text or unix seconds");
    return -1;
}

static void conn_create(http_req *req)
{
    json_t *b = admin_body(req);
    if (b == NULL)
        return;
    conn_new *c = arena_calloc(http_req_arena(req), sizeof(*c));
    c->req = req;
    c->status = 201;
    bool bad = false;
    c->in.user_id = admin_string(req, b, "user_id", 100, &bad);
    c->in.provider_id = admin_string(req, b, "provider_id", 64, &bad);
    c->access = admin_string(req, b, "access_token", 16384, &bad);
    c->refresh = admin_string(req, b, "refresh_token", 16384, &bad);
    c->in.scopes = admin_string_array(req, json_object_get(b, "scopes"), "scopes", 100,
                                      scope_ok, &bad);
    if (bad || read_expiry(req, b, &c->in.expires_at) != 0)
        return;
    if (c->in.user_id == NULL || c->in.provider_id == NULL ||
        (c->access == NULL && c->refresh == NULL)) {
        http_error(req, 400, "invalid_request",
                   "user_id, provider_id and an access_token or refresh_token are required");
        return;
    }
    c->in.actor_id = "admin";
    c->in.actor_type = "admin";
    if (store_vault_conn_prepare(http_req_pool(req), c->in.user_id, c->in.provider_id,
                                 on_conn_prepared, c) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

struct page {
    http_req *req;
    int limit, offset;
};

static void on_conns(void *ud, PGresult *res, int err, const char *msg)
{
    struct page *p = ud;
    (void)msg;
    if (admin_db_error(p->req, err))
        return;
    char *body = arena_printf(http_req_arena(p->req),
                              "{\"items\":%s,\"total\":%s,\"limit\":%d,\"offset\":%d}",
                              PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), p->limit, p->offset);
    http_respond(p->req, 200, "application/json", body, strlen(body));
}

static void conn_list(http_req *req)
{
    struct page *p = arena_calloc(http_req_arena(req), sizeof(*p));
    p->req = req;
    if (admin_page(req, &p->limit, &p->offset) != 0)
        return;
    if (store_vault_conn_list(http_req_pool(req), http_req_query_get(req, "provider_id"),
                              http_req_query_get(req, "user_id"), p->limit, p->offset, on_conns,
                              p) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_conn(void *ud, PGresult *res, int err, const char *msg)
{
    (void)msg;
    admin_respond_row(ud, res, err, 200, "connection");
}

static void conn_get(http_req *req)
{
    if (store_vault_conn_get(http_req_pool(req), http_req_param(req, "id"), on_conn, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* ------------------------------------------------ disconnect (Layer 5) */

/* Outlives the request: the provider's answer comes after ours. */
struct revoke_call {
    char provider[72];
};

static void on_provider_revoked(void *ud, const fetch_response *res)
{
    struct revoke_call *rc = ud;
    char status[16];
    snprintf(status, sizeof(status), "%ld", res->status);
    if (res->error != NULL || res->status < 200 || res->status >= 300)
        log_msg(LOG_WARN, "vault: provider token revocation failed", "provider", rc->provider,
                "status", status, "error", res->error ? res->error : "", NULL);
    free(rc);
}

/* Best effort: the refresh token (else the access token) is revoked at the
 * provider when its template has an endpoint; the connection is gone here
 * whatever the provider says. Row of store_vault_conn_delete. */
static void revoke_at_provider(http_req *req, PGresult *res)
{
    const char *url = col(req, res, 4), *provider = col(req, res, 8);
    if (url == NULL)
        return;
    const char *ad = conn_ad(req, PQgetvalue(res, 0, 0), provider);
    const char *refresh = open_text(req, col(req, res, 9), ad);
    const char *token = refresh ? refresh : open_text(req, col(req, res, 10), ad);
    provider_call pc;
    if (token == NULL || provider_call_init(req, &pc, provider, url, col(req, res, 5),
                                            col(req, res, 6), col(req, res, 7)) != 0)
        return;
    struct revoke_call *rc = calloc(1, sizeof(*rc));
    if (rc == NULL)
        return;
    snprintf(rc->provider, sizeof(rc->provider), "%s", provider);
    const char *params = secret_printf(req, "token=%s&token_type_hint=%s", pct(req, token),
                                       refresh ? "refresh_token" : "access_token");
    if (provider_post(req, &pc, url, params, on_provider_revoked, rc) != 0)
        free(rc);
}

static void on_disconnected(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (!admin_found(req, res, err, "connection"))
        return;
    bool cascade = http_req_ctx(req) != NULL;
    json_t *ids = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    json_t *body = json_pack("{s:s,s:o,s:I,s:s?}", "connection_id", PQgetvalue(res, 0, 0),
                             "revoked_agent_ids", ids ? ids : json_array(), "revoked_token_count",
                             (json_int_t)atoll(PQgetvalue(res, 0, 2)), "cascade_audit_event_id",
                             cascade ? PQgetvalue(res, 0, 3) : NULL);
    revoke_at_provider(req, res);
    http_respond_json(req, 200, body);
}

static void on_disconnect_counted(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (!admin_found(req, res, err, "connection"))
        return;
    json_t *ids = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    http_respond_json(req, 200, json_pack("{s:s,s:o,s:I,s:b}", "connection_id",
                                          PQgetvalue(res, 0, 0), "revoked_agent_ids",
                                          ids ? ids : json_array(), "revoked_token_count",
                                          (json_int_t)atoll(PQgetvalue(res, 0, 2)), "dry_run",
                                          1));
}

static void conn_delete(http_req *req)
{
    const char *c = http_req_query_get(req, "cascade_to_agents");
    if (c != NULL && strcmp(c, "true") != 0 && strcmp(c, "false") != 0) {
        http_error(req, 400, "invalid_request", "cascade_to_agents must be true or false");
        return;
    }
    bool cascade = c == NULL || strcmp(c, "true") == 0, dry;
    if (admin_dry_run(req, &dry) != 0)
        return;
    /* A dry run answers what the cascade would revoke and disconnects nothing. */
    if (dry) {
        if (store_vault_conn_dry_run(http_req_pool(req), http_req_param(req, "id"), cascade,
                                     on_disconnect_counted, req) != 0)
            admin_db_error(req, STORE_EUNAVAIL);
        return;
    }
    http_req_set_ctx(req, cascade ? req : NULL);
    store_actor who = admin_actor(req);
    if (store_vault_conn_delete(http_req_pool(req), http_req_param(req, "id"), cascade, &who,
                                on_disconnected, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* ------------------------------------------------------- connect flow */

static void b64url_random(char out[44])
{
    uint8_t raw[32];
    hash_random(raw, sizeof(raw));
    enc_b64url(raw, sizeof(raw), out, 44);
    sodium_memzero(raw, sizeof(raw));
}

typedef struct connect_req {
    http_req *req;
    const char *state, *verifier;
} connect_req;

static void on_state_created(void *ud, PGresult *res, int err, const char *msg)
{
    connect_req *c = ud;
    http_req *req = c->req;
    (void)msg;
    if (!admin_found(req, res, err, "provider"))
        return;
    if (!col_true(res, 4)) {
        http_error(req, 409, "conflict",
                   "the provider has no client_id yet: set it with PATCH /api/v1/vault/providers/{id}");
        return;
    }
    uint8_t digest[HASH_SHA256_LEN];
    char challenge[48], redirect[2200];
    hash_sha256(c->verifier, strlen(c->verifier), digest);
    enc_b64url(digest, sizeof(digest), challenge, sizeof(challenge));
    oauth_url(http_req_app(req), CALLBACK_PATH, redirect, sizeof(redirect));
    const char *url = PQgetvalue(res, 0, 0), *scope = PQgetvalue(res, 0, 2),
               *extra = PQgetvalue(res, 0, 3);
    const char *loc = arena_printf(
        http_req_arena(req),
        "%s%sresponse_type=code&client_id=%s&redirect_uri=%s%s%s&state=%s&code_challenge=%s"
        "&code_challenge_method=S256%s%s",
        url, strchr(url, '?') ? "&" : "?", pct(req, PQgetvalue(res, 0, 1)), pct(req, redirect),
        *scope ? "&scope=" : "", *scope ? pct(req, scope) : "", c->state, challenge,
        *extra ? "&" : "", extra);
    http_header(req, "Location", loc);
    http_header(req, "Cache-Control", "no-store");
    http_respond(req, 302, NULL, NULL, 0);
}

static void on_connect_session(http_req *req, void *ud, const session *s, bool expired)
{
    connect_req *c = ud;
    if (s == NULL) {
        http_error(req, 401, expired ? "session_expired" : "unauthorized",
                   "sign in first: connecting an account needs a session");
        return;
    }
    char state[44], verifier[44], hash[65];
    b64url_random(state);
    b64url_random(verifier);
    c->state = arena_strdup(http_req_arena(req), state);
    c->verifier = arena_strdup(http_req_arena(req), verifier);
    hash_sha256_hex(state, strlen(state), hash);
    if (store_vault_state_create(http_req_pool(req), hash, s->user_id, http_req_param(req, "provider"),
                                 c->verifier, on_state_created, c) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void vault_connect(http_req *req)
{
    const char *provider = http_req_param(req, "provider");
    if (provider == NULL || strlen(provider) > 64) {
        http_error(req, 404, "not_found", "no such provider");
        return;
    }
    connect_req *c = arena_calloc(http_req_arena(req), sizeof(*c));
    c->req = req;
    session_load(req, on_connect_session, c);
}

typedef struct callback_req {
    http_req *req;
    conn_new conn;
    const char *existing;
} callback_req;

static void on_code_exchanged(void *ud, const fetch_response *res)
{
    callback_req *cb = ud;
    http_req *req = cb->req;
    grant g;
    enum outcome o = read_grant(req, res, &g);
    if (o != GRANT_OK) {
        log_msg(LOG_WARN, "vault: code exchange failed", "provider", cb->conn.in.provider_id,
                "error", g.error ? g.error : "", NULL);
        page_error(req, 502,
                   arena_printf(http_req_arena(req), "The provider did not give a token (%s).",
                                g.error ? g.error : "no answer"));
        return;
    }
    cb->conn.access = g.access;
    cb->conn.refresh = g.refresh;
    cb->conn.in.expires_in = g.expires_in;
    if (g.scopes != NULL)
        cb->conn.in.scopes = g.scopes;
    conn_store(&cb->conn, cb->existing);
}

/* Row of store_vault_state_consume. */
static void on_state_consumed(void *ud, PGresult *res, int err, const char *msg)
{
    callback_req *cb = ud;
    http_req *req = cb->req;
    (void)msg;
    if (err != STORE_OK) {
        page_error(req, 503, "The database is unavailable; try again shortly.");
        return;
    }
    if (PQntuples(res) == 0 || !col_true(res, 2)) {
        page_error(req, 400, PQntuples(res) == 0
                                 ? "This connection request is unknown or was already used."
                                 : "This connection request expired; start again.");
        return;
    }
    const char *provider = col(req, res, 0), *error = http_req_query_get(req, "error"),
               *code = http_req_query_get(req, "code");
    cb->conn.provider_name = col(req, res, 7);
    if (error != NULL || code == NULL) {
        page_error(req, 400,
                   arena_printf(http_req_arena(req), "%s did not connect your account: %s.",
                                cb->conn.provider_name, error ? error : "no code was returned"));
        return;
    }
    cb->conn.in.provider_id = provider;
    cb->conn.in.scopes = col(req, res, 8);
    cb->existing = col(req, res, 9);
    provider_call pc;
    if (provider_call_init(req, &pc, provider, col(req, res, 3), col(req, res, 4), col(req, res, 5),
                           col(req, res, 6)) != 0) {
        page_error(req, 500, "The provider's client secret cannot be opened.");
        return;
    }
    char redirect[2200];
    oauth_url(http_req_app(req), CALLBACK_PATH, redirect, sizeof(redirect));
    const char *params = secret_printf(req, "grant_type=authorization_code&code=%s&redirect_uri=%s"
                                            "&code_verifier=%s",
                                       pct(req, code), pct(req, redirect), col(req, res, 1));
    if (provider_post(req, &pc, pc.token_url, params, on_code_exchanged, cb) != 0)
        page_error(req, 503, "Outbound HTTP is unavailable; try again shortly.");
}

static void on_callback_session(http_req *req, void *ud, const session *s, bool expired)
{
    callback_req *cb = ud;
    const char *state = http_req_query_get(req, "state");
    if (s == NULL) {
        page_error(req, 401, expired ? "Your session expired; sign in and connect again."
                                     : "Sign in first, then connect the account again.");
        return;
    }
    if (state == NULL || strlen(state) > 200) {
        page_error(req, 400, "The provider's answer carries no state.");
        return;
    }
    char hash[65];
    hash_sha256_hex(state, strlen(state), hash);
    cb->conn.in.user_id = s->user_id;
    cb->conn.in.actor_id = s->user_id;
    cb->conn.in.actor_type = "user";
    if (store_vault_state_consume(http_req_pool(req), hash, s->user_id, on_state_consumed, cb) != 0)
        page_error(req, 503, "The database is unavailable; try again shortly.");
}

/* The provider redirects the user's browser here: the session must be the
 * one that started the flow (the state is bound to its user). */
static void vault_callback(http_req *req)
{
    callback_req *cb = arena_calloc(http_req_arena(req), sizeof(*cb));
    cb->req = req;
    cb->conn.req = req;
    cb->conn.page = true;
    http_header(req, "Cache-Control", "no-store");
    session_load(req, on_callback_session, cb);
}

/* ------------------------------------------ token fetch (agent path) */

typedef struct fetch_req {
    http_req *req;
    const char *provider, *agent, *conn_id;
    long long gen;         /* refresh_gen when this fetch started waiting */
    uint64_t wait_until_ms;
    bool refreshed;
    const char *access, *expires_at;
    uv_timer_t *timer;
} fetch_req;

static void fetch_serve(fetch_req *f, const char *access_sealed, const char *expires_at);
static void fetch_claim(fetch_req *f);

static void needs_reauth(http_req *req)
{
    http_error(req, 409, "needs_reauth",
               "the provider refused the stored grant: the user must connect the account again");
}

static void on_recorded(void *ud, PGresult *res, int err, const char *msg)
{
    fetch_req *f = ud;
    http_req *req = f->req;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    if (!col_true(res, 0)) {
        http_error(req, 404, "not_found", "the connection was disconnected");
        return;
    }
    http_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, json_pack("{s:s,s:s,s:s?,s:s}", "access_token", f->access,
                                          "token_type", "Bearer", "expires_at", f->expires_at,
                                          "provider", f->provider));
}

/* Records the fetch (agent, connection) for the cascade, then answers. */
static void fetch_serve(fetch_req *f, const char *access_sealed, const char *expires_at)
{
    http_req *req = f->req;
    f->access = open_text(req, access_sealed, conn_ad(req, f->conn_id, f->provider));
    f->expires_at = expires_at;
    if (f->access == NULL) {
        http_error(req, 500, "internal_error", "the stored token cannot be opened");
        return;
    }
    store_actor who = admin_actor(req);
    if (store_vault_record_fetch(http_req_pool(req), f->conn_id, f->agent, f->refreshed, &who,
                                 on_recorded, f) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* ---- waiting for another fetch's refresh ---- */

static void free_timer(uv_handle_t *h)
{
    free(h);
}

static void wait_poll(uv_timer_t *t);

static void on_polled(void *ud, PGresult *res, int err, const char *msg)
{
    fetch_req *f = ud;
    http_req *req = f->req;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    if (PQntuples(res) == 0) {
        http_error(req, 404, "not_found", "the connection was disconnected");
        return;
    }
    long long gen = atoll(PQgetvalue(res, 0, 5));
    bool due = col_true(res, 3), refreshing = col_true(res, 4);
    if (col_true(res, 0)) {
        needs_reauth(req);
    } else if (!due) {
        fetch_serve(f, col(req, res, 1), col(req, res, 2));
    } else if (gen != f->gen) {
        /* A refresh finished and the token is still stale: it failed. */
        http_error(req, 502, "provider_error",
                   "the provider could not refresh the token; the stored tokens are kept");
    } else if (!refreshing) {
        fetch_claim(f); /* the holder's claim lapsed (it died): take over */
    } else if (server_now_ms() >= f->wait_until_ms) {
        http_error(req, 503, "internal_error", "a refresh of this token is still running; retry");
    } else if ((f->timer = malloc(sizeof(*f->timer))) == NULL) {
        http_error(req, 503, "internal_error", "out of memory");
    } else {
        uv_timer_init(http_req_loop(req), f->timer);
        f->timer->data = f;
        uv_timer_start(f->timer, wait_poll, POLL_MS, 0);
    }
}

static void wait_poll(uv_timer_t *t)
{
    fetch_req *f = t->data;
    http_req *req = f->req;
    f->timer = NULL;
    uv_close((uv_handle_t *)t, free_timer);
    /* The loop is shutting down: its pool may be gone. */
    if (http_req_pool(req) == NULL) {
        http_error(req, 503, "internal_error", "shutting down");
        return;
    }
    if (store_vault_conn_poll(http_req_pool(req), f->conn_id,
                              http_req_app(req)->cfg.vault_refresh_skew_s, on_polled, f) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* ---- the refresh (this fetch holds the claim) ---- */

typedef struct refresh_req {
    fetch_req *f;
    enum outcome outcome;
    const char *reason;
} refresh_req;

static void on_refresh_stored(void *ud, PGresult *res, int err, const char *msg)
{
    fetch_req *f = ud;
    http_req *req = f->req;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    if (PQntuples(res) == 0) {
        http_error(req, 404, "not_found", "the connection was disconnected");
        return;
    }
    /* The new token is only in request memory: serve it without reopening. */
    f->expires_at = col(req, res, 0);
    store_actor who = admin_actor(req);
    if (store_vault_record_fetch(http_req_pool(req), f->conn_id, f->agent, true, &who, on_recorded,
                                 f) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_refresh_failed(void *ud, PGresult *res, int err, const char *msg)
{
    refresh_req *r = ud;
    http_req *req = r->f->req;
    (void)res;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    if (r->outcome == GRANT_REAUTH)
        needs_reauth(req);
    else
        http_error(req, 502, "provider_error",
                   arena_printf(http_req_arena(req),
                                "the provider could not refresh the token (%s); the stored tokens "
                                "are kept",
                                r->reason));
}

static void on_refreshed(void *ud, const fetch_response *res)
{
    refresh_req *r = ud;
    fetch_req *f = r->f;
    http_req *req = f->req;
    grant g;
    r->outcome = read_grant(req, res, &g);
    if (r->outcome == GRANT_OK) {
        const char *ad = conn_ad(req, f->conn_id, f->provider);
        f->access = g.access;
        if (store_vault_refresh_store(http_req_pool(req), f->conn_id, seal_text(req, g.access, ad),
                                      g.expires_in, g.refresh ? seal_text(req, g.refresh, ad) : NULL,
                                      g.scopes, on_refresh_stored, f) != 0)
            admin_db_error(req, STORE_EUNAVAIL);
        return;
    }
    r->reason = g.error ? g.error : "no answer";
    log_msg(LOG_WARN, "vault: token refresh failed", "provider", f->provider, "connection",
            f->conn_id, "error", r->reason, NULL);
    store_actor who = admin_actor(req);
    if (store_vault_refresh_failed(http_req_pool(req), f->conn_id, r->outcome == GRANT_REAUTH,
                                   r->reason, f->agent, &who, on_refresh_failed, r) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* Row of store_vault_refresh_claim: this fetch refreshes for everyone. */
static void refresh(fetch_req *f, PGresult *res)
{
    http_req *req = f->req;
    refresh_req *r = arena_calloc(http_req_arena(req), sizeof(*r));
    r->f = f;
    f->refreshed = true;
    const char *rt = open_text(req, col(req, res, 0), conn_ad(req, f->conn_id, f->provider));
    provider_call pc;
    if (rt == NULL || provider_call_init(req, &pc, f->provider, col(req, res, 1), col(req, res, 2),
                                         col(req, res, 3), col(req, res, 4)) != 0) {
        fetch_response none = {.error = "a stored secret cannot be opened"};
        on_refreshed(r, &none);
        return;
    }
    const char *params = secret_printf(req, "grant_type=refresh_token&refresh_token=%s", pct(req, rt));
    if (provider_post(req, &pc, pc.token_url, params, on_refreshed, r) != 0) {
        fetch_response none = {.error = "outbound HTTP is unavailable"};
        on_refreshed(r, &none);
    }
}

static void on_claimed(void *ud, PGresult *res, int err, const char *msg)
{
    fetch_req *f = ud;
    http_req *req = f->req;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    if (PQntuples(res) == 1) {
        refresh(f, res);
        return;
    }
    /* Someone else refreshes (or just did): wait for the row to change. */
    if (f->wait_until_ms == 0)
        f->wait_until_ms = server_now_ms() + WAIT_MAX_MS;
    if (store_vault_conn_poll(http_req_pool(req), f->conn_id,
                              http_req_app(req)->cfg.vault_refresh_skew_s, on_polled, f) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void fetch_claim(fetch_req *f)
{
    http_req *req = f->req;
    if (store_vault_refresh_claim(http_req_pool(req), f->conn_id,
                                  http_req_app(req)->cfg.vault_refresh_skew_s, on_claimed, f) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* Row of store_vault_fetch_lookup. */
static void on_lookup(void *ud, PGresult *res, int err, const char *msg)
{
    fetch_req *f = ud;
    http_req *req = f->req;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    if (PQgetisnull(res, 0, 0)) {
        http_error(req, 403, "forbidden", "the token acts for no user whose connections it could use");
        return;
    }
    if (!col_true(res, 1)) {
        http_error(req, 403, "forbidden",
                   "the agent is not authorised by the user (not created by them, no consent)");
        return;
    }
    if (PQgetisnull(res, 0, 2)) {
        http_error(req, 404, "not_found",
                   arena_printf(http_req_arena(req), "no %s connection for this user", f->provider));
        return;
    }
    f->conn_id = col(req, res, 2);
    f->gen = atoll(PQgetvalue(res, 0, 8));
    if (col_true(res, 3))
        needs_reauth(req);
    else if (!col_true(res, 6))
        fetch_serve(f, col(req, res, 4), col(req, res, 5));
    else if (!col_true(res, 7))
        needs_reauth(req); /* stale and nothing to refresh it with */
    else
        fetch_claim(f);
}

static bool has_scope(const char *scope, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = scope; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, " ");
        if (len == n && strncmp(p, want, n) == 0)
            return true;
        p += len;
        p += strspn(p, " ");
    }
    return false;
}

static void on_token_checked(http_req *req, void *ud, const oauth_access *tok)
{
    fetch_req *f = ud;
    /* A bearer token could be replayed by whoever saw it; the vault hands
     * out third-party credentials only to the key holder. */
    if (tok->jkt == NULL) {
        http_header(req, "WWW-Authenticate",
                    "DPoP error=\"invalid_token\", error_description=\"the vault requires a "
                    "DPoP-bound token\"");
        http_error(req, 401, "invalid_token", "the vault requires a DPoP-bound access token");
        return;
    }
    if (!has_scope(tok->scope, VAULT_SCOPE)) {
        http_header(req, "WWW-Authenticate",
                    "DPoP error=\"insufficient_scope\", scope=\"" VAULT_SCOPE "\"");
        http_error(req, 403, "forbidden", "the token lacks the vault:read scope");
        return;
    }
    f->agent = tok->client_id;
    if (store_vault_fetch_lookup(http_req_pool(req), tok->sub, tok->client_id, f->provider,
                                 http_req_app(req)->cfg.vault_refresh_skew_s, on_lookup, f) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void vault_token(http_req *req)
{
    fetch_req *f = arena_calloc(http_req_arena(req), sizeof(*f));
    f->req = req;
    f->provider = http_req_param(req, "provider");
    if (f->provider == NULL || strlen(f->provider) > 64) {
        http_error(req, 404, "not_found", "no such provider");
        return;
    }
    oauth_resource_auth(req, on_token_checked, f);
}

/* ------------------------------------------------------------ routes */

static const admin_route routes[] = {
    {"GET", "/api/v1/vault/providers", provider_list},
    {"POST", "/api/v1/vault/providers", provider_create},
    {"GET", "/api/v1/vault/providers/{id}", provider_get},
    {"PATCH", "/api/v1/vault/providers/{id}", provider_update},
    {"DELETE", "/api/v1/vault/providers/{id}", provider_delete},
    {"GET", "/api/v1/vault/connections", conn_list},
    {"POST", "/api/v1/vault/connections", conn_create},
    {"GET", "/api/v1/vault/connections/{id}", conn_get},
    {"DELETE", "/api/v1/vault/connections/{id}", conn_delete},
};

/* Order matters: "/api/v1/vault/connections/token" matches two patterns
 * with as many literal segments, and the first registered wins. */
int admin_vault_register(router *r)
{
    if (admin_routes_add(r, routes, sizeof(routes) / sizeof(routes[0])) != 0 ||
        router_add(r, "GET", "/api/v1/vault/connect/{provider}", vault_connect, NULL) != 0 ||
        router_add(r, "GET", CALLBACK_PATH, vault_callback, NULL) != 0)
        return -1;
    return router_add(r, "GET", "/api/v1/vault/{provider}/token", vault_token, NULL);
}
