#include "register.h"
#include "register_meta.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/http.h"
#include "../core/server.h"
#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../store/clients.h"
#include "../store/dcr.h"
#include "../store/rows_clients.h"
#include "../store/rows_oauth.h"
#include "../store/system.h"
#include "errors.h"

#define MAX_CLIENT_ID 128  /* longer than any id issued */
#define MAX_CREDENTIAL 200 /* bytes of a registration credential */

/* One registration request across its database steps. */
typedef struct reg {
    const char *client_id;
    const char *token, *secret; /* plaintext, shown in this response only */
    char token_hash[65], secret_hash[65];
    char credential_hash[65]; /* of the admin key or initial access token presented */
    bool with_iat;
} reg;
/* The request's JSON object body, or NULL after answering 400. */
static json_t *json_body(http_req *req)
{
    const char *ct = http_req_header(req, "Content-Type");
    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
        http_error_oauth(req, 400, "invalid_request", "Content-Type must be application/json");
        return NULL;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    json_t *j = json_loadb(body != NULL ? body : "", body != NULL ? len : 0, JSON_REJECT_DUPLICATES,
                           NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        http_error_oauth(req, 400, "invalid_request", "the body must be a JSON object");
        return NULL;
    }
    return j;
}

/* The Bearer credential of a request with exactly one Authorization header. */
static const char *bearer(const http_req *req)
{
    const char *auth = http_req_header(req, "Authorization");
    if (auth == NULL || http_req_header_count(req, "Authorization") != 1 ||
        strncasecmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0')
        return NULL;
    return auth + 7;
}

static void invalid_token(http_req *req)
{
    http_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
    http_error_oauth(req, 401, "invalid_token", "missing or invalid access token");
}

static bool db_failed(http_req *req, int err)
{
    if (err == STORE_OK)
        return false;
    if (err == STORE_EINVALID)
        http_error_oauth(req, 400, "invalid_client_metadata",
                         "a metadata value was refused by the database");
    else
        http_error_oauth(req, 503, "temporarily_unavailable",
                         "database unavailable; retry shortly");
    return true;
}

/* prefix + base62 of n random bytes, in the arena. */
static char *random_id(arena *a, const char *prefix, size_t n)
{
    uint8_t raw[32];
    char text[64];
    hash_random(raw, n);
    enc_base62(raw, n, text, sizeof(text));
    return arena_printf(a, "%s%s", prefix, text);
}

/* The client information response (RFC 7591 §3.2.1, RFC 7592 §3) for a
 * client row; the caller adds a client_secret it just issued. */
static json_t *client_info(http_req *req, const store_client_reg_row *c, const char *token)
{
    const app *a = http_req_app(req);
    /* Extra members first so the registered ones win over any stale copy. */
    json_t *j = json_loads(c->metadata, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    json_object_set_new(j, "client_id", json_string(c->client_id));
    json_object_set_new(j, "client_id_issued_at", json_integer((json_int_t)c->issued_at));
    json_object_set_new(j, "client_secret_expires_at", json_integer(0));
    json_object_set_new(j, "registration_access_token", json_string(token));
    json_object_set_new(j, "registration_client_uri",
                        json_string(arena_printf(http_req_arena(req), "%s/oauth/register/%s",
                                                 a->cfg.issuer, c->client_id)));
    json_object_set_new(j, "token_endpoint_auth_method", json_string(c->auth_method));
    const struct {
        const char *name, *value;
    } arrays[] = {{"grant_types", c->grant_types},
                  {"response_types", c->response_types},
                  {"redirect_uris", c->redirect_uris}};
    for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++)
        json_object_set_new(j, arrays[i].name, json_loads(arrays[i].value, 0, NULL));
    if (*c->scope != '\0')
        json_object_set_new(j, "scope", json_string(c->scope));
    if (*c->name != '\0')
        json_object_set_new(j, "client_name", json_string(c->name));
    /* OpenID Connect Registration §2: RS256 unless registered otherwise */
    if (json_object_get(j, "id_token_signed_response_alg") == NULL)
        json_object_set_new(j, "id_token_signed_response_alg", json_string("RS256"));
    if (c->jwks != NULL)
        json_object_set_new(j, "jwks", json_loads(c->jwks, 0, NULL));
    json_t *resources = json_loads(c->resources, 0, NULL);
    if (json_array_size(resources) > 0)
        json_object_set(j, "resources", resources);
    json_decref(resources);
    return j;
}

/* Answers with the client row (200/201), adding the secret when this
 * request issued one. */
static void respond_client(http_req *req, int status, const store_client_reg_row *c)
{
    const reg *g = http_req_ctx(req);
    json_t *j = client_info(req, c, g->token);
    if (g->secret != NULL)
        json_object_set_new(j, "client_secret", json_string(g->secret));
    http_respond_json(req, status, j);
}

/* ---- RFC 7591: POST /oauth/register ---- */

static void on_registered(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (db_failed(req, err))
        return;
    store_client_reg_row c;
    if (!store_client_reg_row_read(res, http_req_arena(req), &c))
        invalid_token(req); /* the initial access token was spent meanwhile */
    else
        respond_client(req, 201, &c);
}

/* --dcr token: the initial access token, compared as digests so neither
 * its content nor its length shows in timing. */
static bool static_token_ok(const char *got, const char *expected)
{
    uint8_t a[HASH_SHA256_LEN], b[HASH_SHA256_LEN];
    hash_sha256(got, strlen(got), a);
    hash_sha256(expected, strlen(expected), b);
    return hash_ct_eq(a, sizeof(a), b, sizeof(b));
}

/* Validates the body against b and stores the client, spending the initial
 * access token in the same statement when one vouches for it. */
static void register_within(http_req *req, const oauth_reg_bounds *b)
{
    arena *a = http_req_arena(req);
    reg *g = http_req_ctx(req);
    json_t *body = json_body(req);
    if (body == NULL)
        return;
    oauth_client_meta m = {0};
    int rc = oauth_register_parse(a, body, http_req_app(req)->cfg.signing_alg, &m);
    json_decref(body);
    if (rc != 0 || oauth_register_within(&m, a, b) != 0) {
        http_error_oauth(req, 400, m.error, m.desc);
        return;
    }
    g->client_id = random_id(a, "client_", 16);
    g->token = random_id(a, "rat_", 32);
    hash_sha256_hex(g->token, strlen(g->token), g->token_hash);
    if (m.needs_secret) {
        g->secret = random_id(a, "", 32);
        hash_sha256_hex(g->secret, strlen(g->secret), g->secret_hash);
        m.row.secret_hash = g->secret_hash;
    }
    m.row.client_id = g->client_id;
    m.row.token_hash = g->token_hash;
    m.row.request_id = http_req_id(req);
    m.row.client_ip = http_req_client_ip(req);
    m.row.registered_by = b->via;
    m.row.initial_token_hash = g->with_iat ? g->credential_hash : NULL;
    if (store_client_register(http_req_pool(req), &m.row, on_registered, req) != 0)
        db_failed(req, STORE_EUNAVAIL);
}

static void register_as_admin(http_req *req)
{
    const oauth_reg_bounds b = {"admin", true, NULL, NULL, NULL};
    register_within(req, &b);
}

static void on_admin_key(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (db_failed(req, err))
        return;
    if (!store_admin_key_valid(res))
        invalid_token(req);
    else
        register_as_admin(req);
}

/* RFC 7591 §3: the token's allowances bound the client; it is spent only
 * when the client is stored. */
static void on_initial_token(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    arena *a = http_req_arena(req);
    (void)msg;
    if (db_failed(req, err))
        return;
    store_dcr_bound_row t;
    if (!store_dcr_bound_row_read(res, a, &t)) {
        invalid_token(req);
        return;
    }
    const oauth_reg_bounds b = {t.id, false, t.scopes, t.grant_types, t.resources};
    ((reg *)http_req_ctx(req))->with_iat = true;
    register_within(req, &b);
}

/* Anonymous registration per --dcr (open; token: with the static token;
 * off: none), or vouched for by the admin key or an initial access token
 * in any mode. A credential that does not check out is refused, never
 * taken as anonymous. */
static void register_client(http_req *req)
{
    const config *cfg = &http_req_app(req)->cfg;
    reg *g = arena_calloc(http_req_arena(req), sizeof(*g));
    http_req_set_ctx(req, g);
    const char *cred = bearer(req);
    if (cred == NULL && http_req_header(req, "Authorization") == NULL) {
        if (strcmp(cfg->dcr, "off") == 0) {
            http_error_oauth(req, 403, "access_denied", "dynamic registration is disabled");
        } else if (strcmp(cfg->dcr, "token") == 0) {
            invalid_token(req);
        } else {
            const oauth_reg_bounds b = oauth_register_open_bounds(cfg);
            register_within(req, &b);
        }
        return;
    }
    if (cred == NULL || strlen(cred) > MAX_CREDENTIAL) {
        invalid_token(req);
        return;
    }
    if (strcmp(cfg->dcr, "token") == 0 && static_token_ok(cred, cfg->dcr_token)) {
        const oauth_reg_bounds b = oauth_register_open_bounds(cfg);
        register_within(req, &b);
        return;
    }
    bool admin = strncmp(cred, "sk_live_", 8) == 0;
    if (!admin && strncmp(cred, "iat_", 4) != 0) {
        invalid_token(req);
        return;
    }
    /* Only hashes are stored; a lookup by hash reveals nothing of the
     * credential (as for the admin API, admin/guard.c). */
    hash_sha256_hex(cred, strlen(cred), g->credential_hash);
    if (admin && store_admin_key_cached(http_req_loop_ctx(req), g->credential_hash)) {
        register_as_admin(req);
        return;
    }
    store_pool *p = http_req_pool(req);
    int rc = admin ? store_admin_key_check(p, http_req_loop_ctx(req), g->credential_hash,
                                           on_admin_key, req)
                   : store_dcr_token_find(p, g->credential_hash, on_initial_token, req);
    if (rc != 0)
        db_failed(req, STORE_EUNAVAIL);
}

/* ---- RFC 7592: GET / PUT / DELETE /oauth/register/{client_id} ---- */

static void on_updated(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (db_failed(req, err))
        return;
    store_client_reg_row c;
    if (!store_client_reg_row_read(res, http_req_arena(req), &c))
        invalid_token(req); /* deleted or re-keyed since it was loaded */
    else
        respond_client(req, 200, &c);
}

/* An update is held to what the registration was: the anonymous rules as
 * configured now, the initial access token's allowances, or none. */
static oauth_reg_bounds stored_bounds(http_req *req, const store_client_reg_row *cur)
{
    const char *via = cur->registered_by;
    if (via == NULL || strcmp(via, "open") == 0)
        return oauth_register_open_bounds(&http_req_app(req)->cfg);
    if (strcmp(via, "admin") == 0)
        return (oauth_reg_bounds){via, true, NULL, NULL, NULL};
    return (oauth_reg_bounds){via, false, cur->bound_scopes, cur->bound_grants,
                              cur->bound_resources};
}

/* RFC 7592 §2.2: the body replaces every registered value. The secret
 * stays while the method keeps using one; a client moving to a secret
 * method gets a new one. */
static void update_client(http_req *req, reg *g, const store_client_reg_row *cur)
{
    arena *a = http_req_arena(req);
    json_t *body = json_body(req);
    if (body == NULL)
        return;
    const char *stored = cur->secret_hash;
    const char *id = json_string_value(json_object_get(body, "client_id"));
    const json_t *secret = json_object_get(body, "client_secret");
    oauth_client_meta m = {0};
    if (id == NULL || strcmp(id, g->client_id) != 0) {
        m.error = "invalid_request";
        m.desc = "client_id must be present and match the client URI";
    } else if (secret != NULL) {
        char h[65];
        const char *s = json_string_value(secret);
        if (s != NULL)
            hash_sha256_hex(s, strlen(s), h);
        if (s == NULL || stored == NULL || !hash_ct_eq(h, 64, stored, strlen(stored))) {
            m.error = "invalid_request";
            m.desc = "client_secret does not match the current secret";
        }
    }
    if (m.error == NULL &&
        oauth_register_parse(a, body, http_req_app(req)->cfg.signing_alg, &m) == 0) {
        const oauth_reg_bounds b = stored_bounds(req, cur);
        oauth_register_within(&m, a, &b);
    }
    json_decref(body);
    if (m.error != NULL) {
        http_error_oauth(req, 400, m.error, m.desc);
        return;
    }
    if (m.needs_secret && stored != NULL) {
        m.row.secret_hash = stored;
    } else if (m.needs_secret) {
        g->secret = random_id(a, "", 32);
        hash_sha256_hex(g->secret, strlen(g->secret), g->secret_hash);
        m.row.secret_hash = g->secret_hash;
    }
    m.row.client_id = g->client_id;
    m.row.token_hash = g->token_hash;
    m.row.request_id = http_req_id(req);
    m.row.client_ip = http_req_client_ip(req);
    if (store_client_update(http_req_pool(req), &m.row, on_updated, req) != 0)
        db_failed(req, STORE_EUNAVAIL);
}

static void on_deleted(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (db_failed(req, err))
        return;
    if (!store_client_disabled(res))
        invalid_token(req);
    else
        http_respond(req, 204, NULL, NULL, 0);
}

/* Unknown client, agent client, disabled client and wrong token all get
 * the same answer, so the endpoint does not reveal which clients exist. */
static void on_loaded(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    reg *g = http_req_ctx(req);
    (void)msg;
    if (db_failed(req, err))
        return;
    store_client_reg_row c;
    if (!store_client_reg_row_read(res, http_req_arena(req), &c) || strcmp(c.kind, "dcr") != 0 ||
        strcmp(c.status, "active") != 0 || c.token_hash == NULL ||
        !hash_ct_eq(g->token_hash, 64, c.token_hash, strlen(c.token_hash))) {
        invalid_token(req);
        return;
    }
    const char *method = http_req_method(req);
    if (strcmp(method, "GET") == 0)
        respond_client(req, 200, &c);
    else if (strcmp(method, "PUT") == 0)
        update_client(req, g, &c);
    else if (store_client_disable(http_req_pool(req), g->client_id, g->token_hash, http_req_id(req),
                                  http_req_client_ip(req), on_deleted, req) != 0)
        db_failed(req, STORE_EUNAVAIL);
}

static void manage_client(http_req *req)
{
    const char *id = http_req_param(req, "client_id");
    const char *token = bearer(req);
    if (id == NULL || token == NULL || strlen(id) > MAX_CLIENT_ID) {
        invalid_token(req);
        return;
    }
    reg *g = arena_calloc(http_req_arena(req), sizeof(*g));
    g->client_id = id;
    g->token = token;
    hash_sha256_hex(token, strlen(token), g->token_hash);
    http_req_set_ctx(req, g);
    if (store_client_registration(http_req_pool(req), id, on_loaded, req) != 0)
        db_failed(req, STORE_EUNAVAIL);
}

int oauth_register_routes(router *r)
{
    static const char *const manage_methods[] = {"GET", "PUT", "DELETE"};
    if (router_add(r, "POST", "/oauth/register", register_client, NULL) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(manage_methods) / sizeof(manage_methods[0]); i++)
        if (router_add(r, manage_methods[i], "/oauth/register/{client_id}", manage_client, NULL) !=
            0)
            return -1;
    return 0;
}
