/* The browser connect flow: a signed-in user sends to the provider and back. */
#include "common.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/log.h"
#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../protocol/issuer.h"
#include "../identity/pages.h"
#include "../identity/session.h"
#include "../store/rows_vault.h"
#include "../store/vault.h"

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
    store_vault_state_row r;
    store_vault_state_row_read(res, http_req_arena(req), &r);
    if (!r.created) {
        http_error(
            req, 409, "conflict",
            "the provider has no client_id yet: set it with PATCH /api/v1/vault/providers/{id}");
        return;
    }
    uint8_t digest[HASH_SHA256_LEN];
    char challenge[48], redirect[2200];
    hash_sha256(c->verifier, strlen(c->verifier), digest);
    enc_b64url(digest, sizeof(digest), challenge, sizeof(challenge));
    oauth_url(http_req_app(req), CALLBACK_PATH, redirect, sizeof(redirect));
    const char *url = r.authorize_url, *scope = r.scope, *extra = r.authorize_params;
    const char *loc = arena_printf(
        http_req_arena(req),
        "%s%sresponse_type=code&client_id=%s&redirect_uri=%s%s%s&state=%s&code_challenge=%s"
        "&code_challenge_method=S256%s%s",
        url, strchr(url, '?') ? "&" : "?", vault_pct(req, r.client_id), vault_pct(req, redirect),
        *scope ? "&scope=" : "", *scope ? vault_pct(req, scope) : "", c->state, challenge,
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
    if (store_vault_state_create(http_req_pool(req), hash, s->user_id,
                                 http_req_param(req, "provider"), c->verifier, on_state_created,
                                 c) != 0)
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
    enum outcome o = vault_read_grant(req, res, &g);
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
    vault_conn_store(&cb->conn, cb->existing);
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
    store_vault_consumed_row r;
    bool found = store_vault_consumed_row_read(res, http_req_arena(req), &r);
    if (!found || !r.live) {
        page_error(req, 400,
                   !found ? "This connection request is unknown or was already used."
                          : "This connection request expired; start again.");
        return;
    }
    const char *provider = r.provider_id, *error = http_req_query_get(req, "error"),
               *code = http_req_query_get(req, "code");
    cb->conn.provider_name = r.provider_name;
    if (error != NULL || code == NULL) {
        page_error(req, 400,
                   arena_printf(http_req_arena(req), "%s did not connect your account: %s.",
                                cb->conn.provider_name, error ? error : "no code was returned"));
        return;
    }
    cb->conn.in.provider_id = provider;
    cb->conn.in.scopes = r.scopes;
    cb->existing = r.existing;
    provider_call pc;
    if (vault_provider_call_init(req, &pc, provider, r.token_url, r.client_id,
                                 r.client_secret_sealed, r.auth_style) != 0) {
        page_error(req, 500, "The provider's client secret cannot be opened.");
        return;
    }
    char redirect[2200];
    oauth_url(http_req_app(req), CALLBACK_PATH, redirect, sizeof(redirect));
    const char *params = vault_secret_printf(req,
                                             "grant_type=authorization_code&code=%s&redirect_uri=%s"
                                             "&code_verifier=%s",
                                             vault_pct(req, code), vault_pct(req, redirect),
                                             r.code_verifier);
    if (vault_provider_post(req, &pc, pc.token_url, params, on_code_exchanged, cb) != 0)
        page_error(req, 503, "Outbound HTTP is unavailable; try again shortly.");
}

static void on_callback_session(http_req *req, void *ud, const session *s, bool expired)
{
    callback_req *cb = ud;
    const char *state = http_req_query_get(req, "state");
    if (s == NULL) {
        page_error(req, 401,
                   expired ? "Your session expired; sign in and connect again."
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

int vault_connect_register(router *r)
{
    if (router_add(r, "GET", "/api/v1/vault/connect/{provider}", vault_connect, NULL) != 0)
        return -1;
    return router_add(r, "GET", CALLBACK_PATH, vault_callback, NULL);
}
