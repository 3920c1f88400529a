/* grant_type=authorization_code, PKCE S256 (RFC 6749 §4.1, RFC 7636). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "../core/jsonw.h"
#include "../crypto/dpop.h"
#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../crypto/jws.h"
#include "../store/audit.h"
#include "../store/auth.h"
#include "../store/device.h"
#include "../store/oauth.h"
#include "access.h"
#include "audience.h"
#include "client.h"
#include "errors.h"
#include "dpopkeys.h"
#include "form.h"
#include "keys.h"
#include "oauth.h"
#include "proof.h"
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
    if (PQntuples(res) != 1) {
        http_error_oauth(t->req, 400, "invalid_grant", "unknown authorization code");
        return;
    }
    if (PQgetvalue(res, 0, 0)[0] == 't') {
        http_error_oauth(t->req, 400, "invalid_grant",
                         "authorization code already used; the tokens it produced are revoked");
        return;
    }
    const char *redirect_uri = form_get(&t->f, "redirect_uri");
    if (PQgetvalue(res, 0, 1)[0] == 't' || strcmp(PQgetvalue(res, 0, 2), t->client->client_id) != 0 ||
        (redirect_uri != NULL && strcmp(redirect_uri, PQgetvalue(res, 0, 4)) != 0)) {
        http_error_oauth(t->req, 400, "invalid_grant",
                         "authorization code expired, or issued to another client or redirect URI");
        return;
    }
    if (!oauth_pkce_ok(form_get(&t->f, "code_verifier"), PQgetvalue(res, 0, 6))) {
        http_error_oauth(t->req, 400, "invalid_grant", "code_verifier does not match the code_challenge");
        return;
    }
    /* RFC 6749 §4.1.3: named in the request, so required here. */
    if (redirect_uri == NULL && PQgetvalue(res, 0, 13)[0] == 't') {
        http_error_oauth(t->req, 400, "invalid_request",
                         "redirect_uri is required: the authorization request named one");
        return;
    }
    /* RFC 9449 §10: a code bound to a DPoP key goes only to proofs by it. */
    const char *code_jkt = token_row(t, res, 12);
    if (code_jkt != NULL && (!t->dpop || strcmp(code_jkt, t->proof.jkt) != 0)) {
        http_error_oauth(t->req, 400, "invalid_grant",
                         "the authorization code is bound to another DPoP key");
        return;
    }
    t->user_id = t->sub = token_row(t, res, 3);
    t->scope = token_row(t, res, 5);
    if (t->scope != NULL && *t->scope == '\0')
        t->scope = NULL;
    t->nonce = token_row(t, res, 7);
    t->session_id = token_row(t, res, 11);
    /* The authorization request may have bound the audience (resource);
     * otherwise the token request may name one (a client to hand it to). */
    const char *bound = token_row(t, res, 8);
    t->auth_time = strtoll(PQgetvalue(res, 0, 9), NULL, 10);
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
