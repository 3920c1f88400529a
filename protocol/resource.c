#include "resource.h"

#include <string.h>
#include <strings.h>

#include "../store/oauth.h"
#include "../store/rows_oauth.h"
#include "client.h"
#include "issuer.h"
#include "proof.h"

struct rauth {
    http_req *req;
    resource_cb cb;
    void *ud;
    oauth_access tok;
    bool dpop;
    dpop_result proof;
};

static void deny(http_req *req, bool dpop, const char *error, const char *desc)
{
    arena *a = http_req_arena(req);
    http_header(req, "WWW-Authenticate",
                arena_printf(a, "%s error=\"%s\", error_description=\"%s\"%s",
                             dpop ? "DPoP" : "Bearer", error, desc,
                             dpop ? ", algs=\"ES256 EdDSA Ed25519 RS256 PS256\"" : ""));
    http_error(req, 401, error, desc);
}

static void on_active(void *ud, enum oauth_token_state st)
{
    struct rauth *r = ud;
    if (st == OAUTH_TOKEN_UNAVAILABLE) {
        http_error(r->req, 503, "internal_error", "database unavailable; retry shortly");
        return;
    }
    if (st != OAUTH_TOKEN_ACTIVE) {
        deny(r->req, r->dpop, "invalid_token", "the access token is revoked");
        return;
    }
    r->cb(r->req, r->ud, &r->tok);
}

static void on_replay(void *ud, PGresult *res, int err, const char *msg)
{
    struct rauth *r = ud;
    (void)msg;
    if (err != STORE_OK) {
        http_error(r->req, 503, "internal_error", "database unavailable; retry shortly");
        return;
    }
    if (!store_replay_fresh(res)) {
        deny(r->req, true, "invalid_dpop_proof", "DPoP proof already used");
        return;
    }
    oauth_token_check(r->req, &r->tok, on_active, r);
}

void oauth_resource_auth(http_req *req, resource_cb cb, void *ud)
{
    struct rauth *r = arena_calloc(http_req_arena(req), sizeof(*r));
    r->req = req;
    r->cb = cb;
    r->ud = ud;
    app *a = http_req_app(req);
    const char *h = http_req_header(req, "Authorization");
    if (h == NULL || http_req_header_count(req, "Authorization") != 1) {
        deny(req, false, "invalid_request", "an access token is required");
        return;
    }
    const char *token;
    if (strncasecmp(h, "Bearer ", 7) == 0) {
        token = h + 7;
    } else if (strncasecmp(h, "DPoP ", 5) == 0) {
        token = h + 5;
        r->dpop = true;
    } else {
        deny(req, false, "invalid_request", "use the Bearer or DPoP scheme");
        return;
    }
    if (oauth_access_verify(req, token, &r->tok) != 0) {
        deny(req, r->dpop, "invalid_token", "the access token is invalid or expired");
        return;
    }
    /* RFC 9068 §4: a token meant for another resource is not ours to honour. */
    if (!oauth_access_aud_has(r->tok.claims, a->cfg.issuer)) {
        deny(req, r->dpop, "invalid_token", "the access token is not meant for this server");
        return;
    }
    /* RFC 9449 §7.1: a bound token is only accepted with its proof. */
    if (r->tok.jkt != NULL && !r->dpop) {
        deny(req, true, "invalid_token", "this token is DPoP-bound: use the DPoP scheme");
        return;
    }
    if (!r->dpop) {
        oauth_token_check(req, &r->tok, on_active, r);
        return;
    }
    if (r->tok.jkt == NULL || http_req_header_count(req, "DPoP") != 1) {
        deny(req, true, "invalid_dpop_proof", "a DPoP proof for a DPoP-bound token is required");
        return;
    }
    const char *why;
    enum oauth_proof rc = oauth_proof_check(req, http_req_path(req), token, r->tok.jkt, &r->proof,
                                            &why);
    if (rc == OAUTH_PROOF_NONCE) {
        deny(req, true, "use_dpop_nonce", why);
        return;
    }
    if (rc != OAUTH_PROOF_OK) {
        deny(req, true, "invalid_dpop_proof", why);
        return;
    }
    const char *key = arena_printf(http_req_arena(req), "dpop:%s:%s", r->proof.jkt, r->proof.jti);
    if (store_replay_record(http_req_pool(req), key, 2 * a->cfg.dpop_window_s + 5, on_replay, r) !=
        0)
        http_error(req, 503, "internal_error", "database unavailable; retry shortly");
}
