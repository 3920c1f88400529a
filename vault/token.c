/* The agent's token fetch: a DPoP-bound token with vault:read gets the
 * provider's access token, refreshed single-flight when it has expired. */
#include "common.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/log.h"
#include "../protocol/client.h"
#include "../protocol/issuer.h"
#include "../protocol/resource.h"
#include "../store/rows.h"
#include "../store/vault.h"

/* ------------------------------------------ token fetch (agent path) */

typedef struct fetch_req {
    http_req *req;
    const char *provider, *agent, *conn_id;
    long long gen; /* refresh_gen when this fetch started waiting */
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
    if (!store_vault_fetch_recorded(res)) {
        http_error(req, 404, "not_found", "the connection was disconnected");
        return;
    }
    http_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200,
                      json_pack("{s:s,s:s,s:s?,s:s}", "access_token", f->access, "token_type",
                                "Bearer", "expires_at", f->expires_at, "provider", f->provider));
}

/* Records the fetch (agent, connection) for the cascade, then answers. */
static void fetch_serve(fetch_req *f, const char *access_sealed, const char *expires_at)
{
    http_req *req = f->req;
    f->access = vault_open_text(req, access_sealed, vault_conn_ad(req, f->conn_id, f->provider));
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
    store_vault_poll_row row;
    if (!store_vault_poll_row_read(res, http_req_arena(req), &row)) {
        http_error(req, 404, "not_found", "the connection was disconnected");
        return;
    }
    if (row.needs_reauth) {
        needs_reauth(req);
    } else if (!row.due) {
        fetch_serve(f, row.access_sealed, row.expires_at);
    } else if (row.refresh_gen != f->gen) {
        /* A refresh finished and the token is still stale: it failed. */
        http_error(req, 502, "provider_error",
                   "the provider could not refresh the token; the stored tokens are kept");
    } else if (!row.refreshing) {
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
    bool unopened; /* our own sealed secret failed to open: not the provider's fault */
} refresh_req;

static void on_refresh_stored(void *ud, PGresult *res, int err, const char *msg)
{
    fetch_req *f = ud;
    http_req *req = f->req;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    /* The new token is only in request memory: serve it without reopening. */
    if (!store_vault_stored_expiry(res, http_req_arena(req), &f->expires_at)) {
        http_error(req, 404, "not_found", "the connection was disconnected");
        return;
    }
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
    else if (r->unopened)
        http_error(req, 500, "internal_error", "a stored secret cannot be opened");
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
    r->outcome = vault_read_grant(req, res, &g);
    if (r->outcome == GRANT_OK) {
        const char *ad = vault_conn_ad(req, f->conn_id, f->provider);
        f->access = g.access;
        if (store_vault_refresh_store(http_req_pool(req), f->conn_id,
                                      vault_seal_text(req, g.access, ad), g.expires_in,
                                      g.refresh ? vault_seal_text(req, g.refresh, ad) : NULL,
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

/* The claim was taken: this fetch refreshes for everyone. */
static void refresh(fetch_req *f, const store_vault_claim_row *c)
{
    http_req *req = f->req;
    refresh_req *r = arena_calloc(http_req_arena(req), sizeof(*r));
    r->f = f;
    f->refreshed = true;
    const char *rt = vault_open_text(req, c->refresh_sealed,
                                     vault_conn_ad(req, f->conn_id, f->provider));
    provider_call pc;
    if (rt == NULL || vault_provider_call_init(req, &pc, f->provider, c->token_url, c->client_id,
                                               c->client_secret_sealed, c->auth_style) != 0) {
        fetch_response none = {.error = "a stored secret cannot be opened"};
        r->unopened = true;
        on_refreshed(r, &none);
        return;
    }
    const char *params = vault_secret_printf(req, "grant_type=refresh_token&refresh_token=%s",
                                             vault_pct(req, rt));
    if (vault_provider_post(req, &pc, pc.token_url, params, on_refreshed, r) != 0) {
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
    store_vault_claim_row claim;
    if (store_vault_claim_row_read(res, http_req_arena(req), &claim)) {
        refresh(f, &claim);
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
    store_vault_lookup_row row;
    if (!store_vault_lookup_row_read(res, http_req_arena(req), &row) || row.user_id == NULL) {
        http_error(req, 403, "forbidden",
                   "the token acts for no user whose connections it could use");
        return;
    }
    if (!row.authorized) {
        http_error(req, 403, "forbidden",
                   "the agent is not authorised by the user (not created by them, no consent)");
        return;
    }
    if (row.conn_id == NULL) {
        http_error(
            req, 404, "not_found",
            arena_printf(http_req_arena(req), "no %s connection for this user", f->provider));
        return;
    }
    f->conn_id = row.conn_id;
    f->gen = row.refresh_gen;
    if (row.needs_reauth)
        needs_reauth(req);
    else if (!row.due)
        fetch_serve(f, row.access_sealed, row.expires_at);
    else if (!row.can_refresh)
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

int vault_token_register(router *r)
{
    return router_add(r, "GET", "/api/v1/vault/{provider}/token", vault_token, NULL);
}
