/* Protocol start-up, per-loop upkeep, discovery, JWKS and key rotation. */
#include "oauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../admin/admin.h"
#include "../core/log.h"
#include "../store/oauth.h"
#include "authorize.h"
#include "device.h"
#include "keys.h"
#include "register.h"
#include "token.h"

#define TICK_MS 1000
#define KEY_REFRESH_EVERY 10 /* ticks */
#define MAINTAIN_EVERY 3600  /* ticks: an hour */
#define PURGE_CHUNK 10000    /* replay keys per purge statement */
#define RETIRE_EVERY 10      /* ticks between retention purges */
#define RETIRE_CHUNK 1000    /* rows of each kind per retention statement */

void oauth_url(const app *a, const char *path, char *out, size_t len)
{
    snprintf(out, len, "%s%s", a->cfg.issuer, path);
}

/* Stores a first key of purpose (another node may store its own first:
 * then that one is kept and this one dropped). */
static int add_key(app *a, const char *alg, const char *purpose, char *err, size_t errlen)
{
    char id[64];
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    char *pub = NULL;
    int rc = keyring_generate(a->master_key, alg, id, &sealed, &sealed_len, &pub);
    if (rc == 0)
        rc = store_key_insert(a->conninfo, id, alg, purpose, sealed, sealed_len, pub, err, errlen);
    else
        snprintf(err, errlen, "cannot generate a signing key");
    free(sealed);
    free(pub);
    return rc;
}

/* The keyring needs an active key (--signing-alg) and an RS256 key for
 * id_tokens: the active one if it is RS256, else one of purpose id_token. */
int oauth_startup(app *a, char *err, size_t errlen)
{
    store_key_row *rows = NULL;
    int n = 0;
    if (store_oauth_maintain_sync(a->conninfo, err, errlen) != 0)
        return -1;
    for (int pass = 0;; pass++) {
        if ((n = store_keys_load(a->conninfo, &rows, err, errlen)) < 0)
            return -1;
        const store_key_row *active = NULL;
        bool rs256 = false;
        for (int i = 0; i < n; i++) {
            if (rows[i].retired)
                continue;
            if (!rows[i].id_token_only && active == NULL)
                active = &rows[i];
            rs256 |= rows[i].id_token_only && strcmp(rows[i].alg, "RS256") == 0;
        }
        rs256 |= active != NULL && strcmp(active->alg, "RS256") == 0;
        const char *purpose = active == NULL ? "tokens" : !rs256 ? "id_token" : NULL;
        if (purpose == NULL || pass == 2)
            break;
        store_key_rows_free(rows, n);
        rows = NULL;
        if (add_key(a, active == NULL ? a->cfg.signing_alg : "RS256", purpose, err, errlen) != 0)
            return -1;
    }
    a->keys = keyring_new(a->master_key);
    int rc = keyring_load(a->keys, rows, n, err, errlen);
    store_key_rows_free(rows, n);
    if (rc == 0)
        log_msg(LOG_INFO, "signing key", "kid", keyring_current(a->keys)->active->kid, NULL);
    return rc;
}

/* ---- per-loop upkeep (loop 0 only) ---- */

struct upkeep {
    uv_timer_t timer;
    worker *w;
    int ticks;
    bool busy;    /* key refresh out */
    bool purging; /* replay purge out */
    bool retiring; /* retention purge out */
    bool auditing; /* audit partition upkeep out */
};

static void on_keys(void *ud, PGresult *res, int err, const char *msg)
{
    struct upkeep *u = ud;
    (void)msg;
    u->busy = false;
    if (err != STORE_OK)
        return;
    store_key_row *rows = NULL;
    int n = store_key_rows_parse(res, &rows);
    if (n < 0)
        return;
    char e[256];
    /* Another node rotated: publish its keys here too. */
    if (!keyring_same(u->w->app->keys, rows, n) && keyring_load(u->w->app->keys, rows, n, e, sizeof(e)) != 0)
        log_msg(LOG_WARN, "keyring refresh failed", "error", e, NULL);
    store_key_rows_free(rows, n);
}

static void on_maintained(void *ud, PGresult *res, int err, const char *msg)
{
    (void)ud;
    (void)res;
    if (err != STORE_OK)
        log_msg(LOG_WARN, "token table upkeep failed", "error", msg ? msg : "unavailable", NULL);
}

static void free_upkeep(uv_handle_t *h)
{
    free(h->data);
}

static void purge(struct upkeep *u);

/* A full chunk means more are due: the next goes out at once. */
static void on_purged(void *ud, PGresult *res, int err, const char *msg)
{
    struct upkeep *u = ud;
    u->purging = false;
    if (err != STORE_OK) {
        /* Unavailable: the pool reports the outage itself, not once a second. */
        if (err != STORE_EUNAVAIL)
            log_msg(LOG_WARN, "replay purge failed", "error", msg ? msg : "", NULL);
        return;
    }
    if (PQntuples(res) == 1 && atoi(PQgetvalue(res, 0, 0)) >= PURGE_CHUNK && !u->w->draining)
        purge(u);
}

static void purge(struct upkeep *u)
{
    if (!u->purging && store_replay_purge(u->w->pool, PURGE_CHUNK, on_purged, u) == 0)
        u->purging = true;
}

static void retire(struct upkeep *u);

static void on_retired(void *ud, PGresult *res, int err, const char *msg)
{
    struct upkeep *u = ud;
    u->retiring = false;
    if (err != STORE_OK) {
        if (err != STORE_EUNAVAIL)
            log_msg(LOG_WARN, "retention purge failed", "error", msg ? msg : "", NULL);
        return;
    }
    if (PQntuples(res) == 1 && atoi(PQgetvalue(res, 0, 0)) >= RETIRE_CHUNK && !u->w->draining)
        retire(u);
}

/* Expired codes, sessions and old deliveries, a bounded chunk at a time. */
static void retire(struct upkeep *u)
{
    if (!u->retiring && store_retention_purge(u->w->pool, RETIRE_CHUNK,
                                              u->w->app->cfg.webhook_retention_days, on_retired,
                                              u) == 0)
        u->retiring = true;
}

static void on_audit_maintained(void *ud, PGresult *res, int err, const char *msg)
{
    struct upkeep *u = ud;
    u->auditing = false;
    if (err != STORE_OK)
        log_msg(LOG_WARN, "audit partition upkeep failed", "error", msg ? msg : "unavailable",
                NULL);
    else if (PQntuples(res) == 1 && atoi(PQgetvalue(res, 0, 0)) > 0)
        log_msg(LOG_INFO, "audit partitions past retention dropped", "count",
                PQgetvalue(res, 0, 0), NULL);
}

static void on_upkeep(uv_timer_t *t)
{
    struct upkeep *u = t->data;
    /* Stop with the loop; a query still out finishes against a closing pool
     * before the pool's own close completes, so u must outlive it. */
    if (u->w->draining) {
        if (!u->busy && !u->purging && !u->retiring && !u->auditing)
            uv_close((uv_handle_t *)t, free_upkeep);
        return;
    }
    int tick = u->ticks++;
    if (tick % MAINTAIN_EVERY == 0)
        store_oauth_maintain(u->w->pool, on_maintained, u);
    if (tick % MAINTAIN_EVERY == 0 && !u->auditing &&
        store_audit_maintain(u->w->pool, u->w->app->cfg.audit_retention_days, on_audit_maintained,
                             u) == 0)
        u->auditing = true;
    purge(u);
    if (tick % RETIRE_EVERY == 0)
        retire(u);
    if (tick % KEY_REFRESH_EVERY == 0 && !u->busy && store_keys_list(u->w->pool, on_keys, u) == 0)
        u->busy = true;
}

void oauth_loop_init(worker *w)
{
    if (w->index != 0)
        return;
    struct upkeep *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return;
    u->w = w;
    uv_timer_init(&w->loop, &u->timer);
    u->timer.data = u;
    uv_timer_start(&u->timer, on_upkeep, TICK_MS, TICK_MS);
}

/* ---- discovery and JWKS ---- */

static void jwks(http_req *req)
{
    const keyring_snap *s = keyring_current(http_req_app(req)->keys);
    http_header(req, "Cache-Control", "public, max-age=300");
    http_respond(req, 200, "application/jwk-set+json", s->jwks, s->jwks_len);
}

static void metadata(http_req *req)
{
    app *a = http_req_app(req);
    char u[9][600];
    oauth_url(a, "/oauth/token", u[0], sizeof(u[0]));
    oauth_url(a, "/.well-known/jwks.json", u[1], sizeof(u[1]));
    oauth_url(a, "/oauth/register", u[2], sizeof(u[2]));
    oauth_url(a, "/oauth/introspect", u[3], sizeof(u[3]));
    oauth_url(a, "/oauth/revoke", u[4], sizeof(u[4]));
    oauth_url(a, "/oauth/authorize", u[5], sizeof(u[5]));
    oauth_url(a, "/oauth/userinfo", u[6], sizeof(u[6]));
    oauth_url(a, "/oauth/par", u[7], sizeof(u[7]));
    oauth_url(a, "/oauth/device_authorization", u[8], sizeof(u[8]));
    json_t *auth_methods = json_pack("[s,s,s,s]", "client_secret_basic", "client_secret_post",
                                     "private_key_jwt", "none");
    json_t *algs = json_pack("[s,s,s,s,s]", "ES256", "EdDSA", "Ed25519", "RS256", "PS256");
    json_t *m = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:[s,s],s:[s],s:[s],s:O,s:O,s:O,s:O,s:O,s:O,s:[s,s,s,s],"
        "s:b,s:b,s:b,s:s,s:s,s:s,s:[s],s:[s],s:[s,s,s],s:b}",
        "issuer", a->cfg.issuer, "token_endpoint", u[0], "jwks_uri", u[1],
        "registration_endpoint", u[2], "introspection_endpoint", u[3], "revocation_endpoint",
        u[4], "grant_types_supported", "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange", "response_types_supported", "code",
        "code_challenge_methods_supported", "S256", "token_endpoint_auth_methods_supported",
        auth_methods, "introspection_endpoint_auth_methods_supported", auth_methods,
        "revocation_endpoint_auth_methods_supported", auth_methods,
        "token_endpoint_auth_signing_alg_values_supported", algs,
        "dpop_signing_alg_values_supported", algs, "introspection_signing_alg_values_supported",
        algs, "scopes_supported", "openid", "profile", "email", "vault:read",
        "authorization_response_iss_parameter_supported", 1,
        "tls_client_certificate_bound_access_tokens", 0, "dpop_nonce_required",
        strcmp(a->cfg.dpop_nonce, "on") == 0, "authorization_endpoint", u[5], "userinfo_endpoint",
        u[6], "pushed_authorization_request_endpoint", u[7], "subject_types_supported", "public",
        "id_token_signing_alg_values_supported", a->cfg.signing_alg, "claims_supported", "sub",
        "email", "name", "require_pushed_authorization_requests", 0);
    json_t *grants = json_object_get(m, "grant_types_supported");
    json_array_append_new(grants, json_string("authorization_code"));
    json_array_append_new(grants, json_string("refresh_token"));
    json_array_append_new(grants, json_string("urn:ietf:params:oauth:grant-type:device_code"));
    json_object_set_new(m, "device_authorization_endpoint", json_string(u[8]));
    json_object_set_new(m, "response_modes_supported", json_pack("[s]", "query"));
    json_object_set_new(m, "client_id_metadata_document_supported", json_true());
    /* RS256 always (OpenID Connect Discovery §3): clients registered with
     * id_token_signed_response_alg RS256 get id_tokens signed so. */
    if (strcmp(a->cfg.signing_alg, "RS256") != 0)
        json_array_append_new(json_object_get(m, "id_token_signing_alg_values_supported"),
                              json_string("RS256"));
    json_decref(auth_methods);
    json_decref(algs);
    json_object_set_new(m, "token_types_supported",
                        json_pack("[s,s]", "urn:ietf:params:oauth:token-type:access_token",
                                  "urn:ietf:params:oauth:token-type:jwt"));
    json_object_set_new(m, "access_token_signing_alg_values_supported",
                        json_pack("[s]", a->cfg.signing_alg));
    http_header(req, "Cache-Control", "public, max-age=300");
    http_respond_json(req, 200, m);
}

/* ---- POST /api/v1/admin/keys/rotate ---- */

struct rotation {
    http_req *req;
    char id[64];
    const char *alg, *use;
};

static void on_rotated_keys(void *ud, PGresult *res, int err, const char *msg)
{
    struct rotation *r = ud;
    (void)msg;
    if (admin_db_error(r->req, err))
        return;
    store_key_row *rows = NULL;
    int n = store_key_rows_parse(res, &rows);
    char e[256];
    app *a = http_req_app(r->req);
    if (n < 0 || keyring_load(a->keys, rows, n, e, sizeof(e)) != 0) {
        if (n >= 0)
            store_key_rows_free(rows, n);
        http_error(r->req, 500, "internal_error", "the new key could not be loaded");
        return;
    }
    store_key_rows_free(rows, n);
    http_respond_json(r->req, 201, json_pack("{s:s,s:s,s:s,s:s}", "kid", r->id, "alg", r->alg,
                                             "use", r->use, "status", "active"));
}

static void on_rotated(void *ud, PGresult *res, int err, const char *msg)
{
    struct rotation *r = ud;
    (void)res;
    (void)msg;
    if (admin_db_error(r->req, err))
        return;
    if (store_keys_list(http_req_pool(r->req), on_rotated_keys, r) != 0)
        admin_db_error(r->req, STORE_EUNAVAIL);
}

static void rotate_keys(http_req *req)
{
    app *a = http_req_app(req);
    struct rotation *r = arena_calloc(http_req_arena(req), sizeof(*r));
    r->req = req;
    r->alg = a->cfg.signing_alg;
    r->use = "tokens";
    size_t len;
    http_req_body(req, &len);
    if (len > 0) {
        json_t *j = admin_body(req);
        if (j == NULL)
            return;
        const char *alg = json_string_value(json_object_get(j, "alg"));
        const char *use = json_string_value(json_object_get(j, "use"));
        if (json_object_get(j, "alg") != NULL &&
            (alg == NULL || (strcmp(alg, "ES256") != 0 && strcmp(alg, "EdDSA") != 0 &&
                             strcmp(alg, "RS256") != 0))) {
            http_error(req, 400, "invalid_request", "alg must be ES256, EdDSA or RS256");
            return;
        }
        /* "id_token": the RS256 key that signs id_tokens beside the active one */
        if (json_object_get(j, "use") != NULL &&
            (use == NULL || (strcmp(use, "tokens") != 0 && strcmp(use, "id_token") != 0) ||
             (strcmp(use, "id_token") == 0 && alg != NULL && strcmp(alg, "RS256") != 0))) {
            http_error(req, 400, "invalid_request",
                       "use must be tokens or id_token (whose key is RS256)");
            return;
        }
        if (alg != NULL)
            r->alg = arena_strdup(http_req_arena(req), alg);
        if (use != NULL && strcmp(use, "id_token") == 0) {
            r->use = "id_token";
            r->alg = "RS256";
        }
    }
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    char *pub = NULL;
    if (keyring_generate(a->master_key, r->alg, r->id, &sealed, &sealed_len, &pub) != 0) {
        http_error(req, 500, "internal_error", "key generation failed");
        return;
    }
    /* Old keys stay published until every token they signed has expired. */
    store_key_rotation k = {r->id,           r->alg,
                            pub,             sealed,
                            sealed_len,      a->cfg.token_ttl_s + 60,
                            http_req_id(req), http_req_client_ip(req),
                            r->use};
    int rc = store_key_rotate(http_req_pool(req), &k, on_rotated, r);
    free(sealed);
    free(pub);
    if (rc != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static const admin_route admin_routes[] = {
    {"POST", "/api/v1/admin/keys/rotate", rotate_keys},
};

int oauth_routes(router *r)
{
    if (router_add(r, "GET", "/.well-known/oauth-authorization-server", metadata, NULL) != 0 ||
        router_add(r, "GET", "/.well-known/openid-configuration", metadata, NULL) != 0 ||
        router_add(r, "GET", "/.well-known/jwks.json", jwks, NULL) != 0 ||
        router_add(r, "POST", "/oauth/token", oauth_token_endpoint, NULL) != 0 ||
        oauth_introspect_routes(r) != 0 || oauth_register_routes(r) != 0 ||
        oauth_authorize_routes(r) != 0 || oauth_userinfo_routes(r) != 0 ||
        oauth_device_routes(r) != 0)
        return -1;
    return admin_routes_add(r, admin_routes, sizeof(admin_routes) / sizeof(admin_routes[0]));
}
