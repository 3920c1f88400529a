/* Connections: admin list, get, create, and the Layer 5 disconnect cascade. */
#include "common.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/log.h"
#include "../store/rows_vault.h"
#include "../store/vault.h"

/* -------------------------------------------------- connections (admin) */

static void on_conn_prepared(void *ud, PGresult *res, int err, const char *msg)
{
    conn_new *c = ud;
    (void)msg;
    if (admin_db_error(c->req, err))
        return;
    store_vault_prepare_row r;
    store_vault_prepare_row_read(res, http_req_arena(c->req), &r);
    if (!r.user_found || !r.provider_found) {
        http_error(c->req, 404, "not_found", r.user_found ? "no such provider" : "no such user");
        return;
    }
    vault_conn_store(c, r.existing);
}

/* expires_at: ISO-8601 text, or unix seconds as a number or digits. */
static int read_expiry(http_req *req, json_t *b, const char **out)
{
    json_t *v = json_object_get(b, "expires_at");
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) < 100000000000LL) {
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
                                      vault_scope_ok, &bad);
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

/* items repeats data (the SDK's list_connections reads it). */
static void conn_list(http_req *req)
{
    admin_listing *p = admin_listing_new(req);
    if (p == NULL)
        return;
    p->items = true;
    store_vault_conn_filter f = {.provider_id = http_req_query_get(req, "provider_id"),
                                 .user_id = http_req_query_get(req, "user_id"),
                                 .needs_reauth = http_req_query_get(req, "needs_reauth")};
    if (f.needs_reauth != NULL && strcmp(f.needs_reauth, "true") != 0 &&
        strcmp(f.needs_reauth, "false") != 0) {
        http_error(req, 400, "invalid_request", "needs_reauth must be true or false");
        return;
    }
    if (store_vault_conn_list(http_req_pool(req), &f, &p->q, admin_on_listing, p) != 0)
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
static void revoke_at_provider(http_req *req, const store_vault_disconnect_row *d)
{
    const char *url = d->revoke_url, *provider = d->provider_id;
    if (url == NULL)
        return;
    const char *ad = vault_conn_ad(req, d->id, provider);
    const char *refresh = vault_open_text(req, d->refresh_sealed, ad);
    const char *token = refresh ? refresh : vault_open_text(req, d->access_sealed, ad);
    provider_call pc;
    if (token == NULL || vault_provider_call_init(req, &pc, provider, url, d->client_id,
                                                  d->client_secret_sealed, d->auth_style) != 0)
        return;
    struct revoke_call *rc = calloc(1, sizeof(*rc));
    if (rc == NULL)
        return;
    snprintf(rc->provider, sizeof(rc->provider), "%s", provider);
    const char *params = vault_secret_printf(req, "token=%s&token_type_hint=%s",
                                             vault_pct(req, token),
                                             refresh ? "refresh_token" : "access_token");
    if (vault_provider_post(req, &pc, url, params, on_provider_revoked, rc) != 0)
        free(rc);
}

static void on_disconnected(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (!admin_found(req, res, err, "connection"))
        return;
    bool cascade = http_req_ctx(req) != NULL;
    store_vault_disconnect_row d;
    store_vault_disconnect_row_read(res, http_req_arena(req), &d);
    json_t *ids = json_loads(d.revoked_agent_ids ? d.revoked_agent_ids : "", 0, NULL);
    json_t *body = json_pack("{s:s,s:o,s:I,s:s?}", "connection_id", d.id, "revoked_agent_ids",
                             ids ? ids : json_array(), "revoked_token_count",
                             (json_int_t)d.revoked_token_count, "cascade_audit_event_id",
                             cascade ? d.audit_event_id : NULL);
    revoke_at_provider(req, &d);
    http_respond_json(req, 200, body);
}

static void on_disconnect_counted(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (!admin_found(req, res, err, "connection"))
        return;
    store_vault_disconnect_row d;
    store_vault_disconnect_count_row_read(res, http_req_arena(req), &d);
    json_t *ids = json_loads(d.revoked_agent_ids ? d.revoked_agent_ids : "", 0, NULL);
    http_respond_json(req, 200,
                      json_pack("{s:s,s:o,s:I,s:b}", "connection_id", d.id, "revoked_agent_ids",
                                ids ? ids : json_array(), "revoked_token_count",
                                (json_int_t)d.revoked_token_count, "dry_run", 1));
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

static const admin_route routes[] = {
    {"GET", "/api/v1/vault/connections", conn_list},
    {"POST", "/api/v1/vault/connections", conn_create},
    {"GET", "/api/v1/vault/connections/{id}", conn_get},
    {"DELETE", "/api/v1/vault/connections/{id}", conn_delete},
};

int vault_connections_register(router *r)
{
    return admin_routes_add(r, routes, sizeof(routes) / sizeof(routes[0]));
}
