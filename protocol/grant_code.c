/* grant_type=authorization_code, PKCE S256 (RFC 6749 §4.1, RFC 7636). */
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
#include "pkce.h"

/* ---- authorization code (RFC 6749 §4.1 with PKCE, RFC 7636) ---- */

static void on_code(void *ud, PGresult *res, int err, const char *msg)
{
    struct treq *t = ud;
    (void)msg;
    if (err != STORE_OK) {
        token_unavailable(t->req);
        return;
    }
    store_code_row c;
    if (!store_code_row_read(res, http_req_arena(t->req), &c)) {
        http_error_oauth(t->req, 400, "invalid_grant", "unknown authorization code");
        return;
    }
    if (c.reused) {
        http_error_oauth(t->req, 400, "invalid_grant",
                         "authorization code already used; the tokens it produced are revoked");
        return;
    }
    const char *redirect_uri = form_get(&t->f, "redirect_uri");
    if (c.expired || !token_same(c.client_id, t->client->client_id) ||
        (redirect_uri != NULL && !token_same(redirect_uri, c.redirect_uri))) {
        http_error_oauth(t->req, 400, "invalid_grant",
                         "authorization code expired, or issued to another client or redirect URI");
        return;
    }
    if (!oauth_pkce_ok(form_get(&t->f, "code_verifier"),
                       c.code_challenge ? c.code_challenge : "")) {
        http_error_oauth(t->req, 400, "invalid_grant",
                         "code_verifier does not match the code_challenge");
        return;
    }
    /* RFC 6749 §4.1.3: named in the request, so required here. */
    if (redirect_uri == NULL && c.redirect_uri_sent) {
        http_error_oauth(t->req, 400, "invalid_request",
                         "redirect_uri is required: the authorization request named one");
        return;
    }
    /* RFC 9449 §10: a code bound to a DPoP key goes only to proofs by it. */
    const char *code_jkt = c.dpop_jkt;
    if (code_jkt != NULL && (!t->dpop || strcmp(code_jkt, t->proof.jkt) != 0)) {
        http_error_oauth(t->req, 400, "invalid_grant",
                         "the authorization code is bound to another DPoP key");
        return;
    }
    t->user_id = t->sub = c.user_id;
    t->scope = c.scope;
    if (t->scope != NULL && *t->scope == '\0')
        t->scope = NULL;
    t->nonce = c.nonce;
    t->session_id = c.session_id;
    /* The authorization request may have bound the audience (resource);
     * otherwise the token request may name one (a client to hand it to). */
    const char *bound = c.resource;
    t->auth_time = c.auth_time;
    t->want_refresh = oauth_client_has_grant(t->client, GRANT_REFRESH);
    t->want_id_token = t->scope != NULL && oauth_scope_subset("openid", t->scope);
    t->event = "oauth.token_issued";
    if (bound == NULL) {
        token_read_audience(t);
        return;
    }
    const char *asked = form_get(&t->f, "resource");
    if (asked == NULL)
        asked = form_get(&t->f, "audience");
    if (asked != NULL && strcmp(asked, bound) != 0) {
        http_error_oauth(t->req, 400, "invalid_target", "the code was issued for another resource");
        return;
    }
    t->aud = bound;
    token_issue(t);
}

void grant_authorization_code(struct treq *t)
{
    const char *code = form_get(&t->f, "code");
    if (code == NULL || strlen(code) > 200) {
        http_error_oauth(t->req, 400, "invalid_request", "code is required");
        return;
    }
    char *hash = arena_alloc(http_req_arena(t->req), 65);
    hash_sha256_hex(code, strlen(code), hash);
    t->code_hash = hash;
    /* Named before they exist, so a replay of the code can revoke them. */
    token_new_jti(t);
    t->family = token_new_id(http_req_arena(t->req), "fam_");
    if (store_code_redeem(http_req_pool(t->req), hash, t->jti, t->family, on_code, t) != 0)
        token_unavailable(t->req);
}
