/* grant_type=refresh_token: rotation with reuse detection (RFC 9700 §4.14). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "../crypto/hash.h"
#include "../store/auth.h"
#include "errors.h"
#include "../store/rows.h"
#include "grant.h"

/* ---- refresh (rotation with reuse detection) ---- */

static void on_refresh_used(void *ud, PGresult *res, int err, const char *msg)
{
    struct treq *t = ud;
    (void)msg;
    if (err != STORE_OK) {
        token_unavailable(t->req);
        return;
    }
    if (!store_refresh_used(res)) {
        http_error_oauth(t->req, 400, "invalid_grant",
                         "refresh token already used; its whole family is revoked");
        return;
    }
    token_issue(t);
}

/* Every check runs before the token is spent, so a refused request (wrong
 * key, wider scope) cannot burn the holder's refresh token. */
static void on_refresh(void *ud, PGresult *res, int err, const char *msg)
{
    struct treq *t = ud;
    (void)msg;
    if (err != STORE_OK) {
        token_unavailable(t->req);
        return;
    }
    store_refresh_row r;
    if (!store_refresh_row_read(res, http_req_arena(t->req), &r)) {
        http_error_oauth(t->req, 400, "invalid_grant", "unknown refresh token");
        return;
    }
    if (r.spent) {
        /* Spent: using it again revokes the family and is refused. */
        if (store_refresh_use(http_req_pool(t->req), t->refresh_hash, on_refresh_used, t) != 0)
            token_unavailable(t->req);
        return;
    }
    if (r.expired || !token_same(r.client_id, t->client->client_id)) {
        http_error_oauth(t->req, 400, "invalid_grant",
                         "refresh token expired or not this client's");
        return;
    }
    if (!r.live) {
        http_error_oauth(t->req, 400, "invalid_grant",
                         "the grant behind this refresh token was revoked");
        return;
    }
    /* A DPoP-bound refresh token needs a proof by the same key. */
    const char *jkt = r.jkt;
    if (jkt != NULL && (!t->dpop || strcmp(jkt, t->proof.jkt) != 0)) {
        token_dpop_error(t, "this refresh token is bound to another DPoP key");
        return;
    }
    const char *granted = r.scope;
    if (token_read_scope(t, granted) != 0)
        return;
    t->family = r.family_id;
    t->user_id = r.user_id;
    t->sub = r.subject;
    t->refresh_scope = granted;
    t->aud = r.audience;
    t->session_id = r.session_id;
    t->auth_time = r.auth_time;
    t->want_refresh = true;
    t->want_id_token = t->scope != NULL && oauth_scope_subset("openid", t->scope);
    t->event = "oauth.token_refreshed";
    /* A spent token presented again is the reuse signal (RFC 9700 §4.14). */
    if (store_refresh_use(http_req_pool(t->req), t->refresh_hash, on_refresh_used, t) != 0)
        token_unavailable(t->req);
}

void grant_refresh(struct treq *t)
{
    const char *rt = form_get(&t->f, "refresh_token");
    if (rt == NULL || strlen(rt) > 200) {
        http_error_oauth(t->req, 400, "invalid_request", "refresh_token is required");
        return;
    }
    char *hash = arena_alloc(http_req_arena(t->req), 65);
    hash_sha256_hex(rt, strlen(rt), hash);
    t->refresh_hash = hash;
    if (store_refresh_peek(http_req_pool(t->req), hash, on_refresh, t) != 0)
        token_unavailable(t->req);
}
