/* POST /oauth/token: the endpoint, client authentication and the issue
 * pipeline every grant ends in (see grant.h), with DPoP binding (RFC 9449).
 * One database round trip issues a token: the DPoP replay record, the token
 * record and its audit event go in one statement. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "../core/jsonw.h"
#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../crypto/jws.h"
#include "../store/auth.h"
#include "audience.h"
#include "errors.h"
#include "keys.h"
#include "proof.h"
#include "../store/rows.h"
#include "grant.h"
#include "token.h"

void token_release(void *p)
{
    json_decref(p);
}

/* In the body only: WWW-Authenticate is for 401s (RFC 9449 §7.1 is about
 * resource servers), and certified clients read a 400's error from the body. */
void token_dpop_error(struct treq *t, const char *desc)
{
    http_error_oauth(t->req, 400, "invalid_dpop_proof", desc);
}

void token_unavailable(http_req *req)
{
    http_error_oauth(req, 503, "temporarily_unavailable", "database unavailable; retry");
}

/* OpenID Connect at_hash: the left half of SHA-256 of the access token. */
static void at_hash(const char *token, char out[44])
{
    uint8_t h[HASH_SHA256_LEN];
    hash_sha256(token, strlen(token), h);
    enc_b64url(h, HASH_SHA256_LEN / 2, out, 44);
}

static char *id_token(struct treq *t, const keyring_snap *ks, const char *access_token)
{
    char ah[44];
    at_hash(access_token, ah);
    json_t *c = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s}", "iss", t->app->cfg.issuer, "sub", t->sub,
                          "aud", t->client->client_id, "iat", (json_int_t)t->iat, "exp",
                          (json_int_t)t->exp, "auth_time", (json_int_t)t->auth_time, "at_hash", ah);
    if (t->nonce != NULL)
        json_object_set_new(c, "nonce", json_string(t->nonce));
    /* people sign in with a password only */
    json_object_set_new(c, "amr", json_pack("[s]", "pwd"));
    /* RS256, OpenID Connect's default, unless the client registered the
     * active key's alg (protocol/register.c allows only those two). */
    const char *active_alg = jwk_alg_name(jwk_key_alg(ks->active->key));
    const keyring_key *k = t->client->id_token_alg != NULL &&
                                   strcmp(t->client->id_token_alg, active_alg) == 0
                               ? ks->active
                           : ks->rs256 != NULL ? ks->rs256
                                               : ks->active;
    char *jwt = jws_sign_json(k->key, k->kid, "JWT", c);
    json_decref(c);
    return jwt;
}

/* The claims and the response are written directly (core/jsonw): a fixed
 * member set on the hottest path, where building jansson trees cost ~12% of
 * the server's CPU per token. */
static void respond(struct treq *t)
{
    const keyring_snap *ks = keyring_current(t->app->keys);
    arena *ar = http_req_arena(t->req);
    jsonw *c = jsonw_new(ar);
    jsonw_str(c, "iss", t->app->cfg.issuer);
    jsonw_str(c, "sub", t->sub);
    jsonw_int(c, "iat", t->iat);
    jsonw_int(c, "exp", t->exp);
    jsonw_str(c, "jti", t->jti);
    jsonw_str(c, "client_id", t->client->client_id);
    jsonw_str(c, "aud", t->aud ? t->aud : t->app->cfg.issuer);
    if (t->scope != NULL)
        jsonw_str(c, "scope", t->scope);
    if (t->dpop) {
        jsonw_open(c, "cnf");
        jsonw_str(c, "jkt", t->proof.jkt);
        jsonw_close(c);
    }
    if (t->act_text != NULL)
        jsonw_raw(c, "act", t->act_text, strlen(t->act_text));
    if (t->auth_time > 0)
        jsonw_int(c, "auth_time", t->auth_time);
    size_t cl;
    const char *claims = jsonw_finish(c, &cl);
    char *jwt = claims ? jws_sign(ks->active->key, "at+jwt", ks->active->kid, 0, claims, cl) : NULL;
    char *idt = jwt != NULL && t->want_id_token ? id_token(t, ks, jwt) : NULL;
    if (jwt == NULL || (t->want_id_token && idt == NULL)) {
        free(jwt);
        http_error_oauth(t->req, 500, "server_error", "token signing failed");
        return;
    }
    arena_cleanup(ar, free, jwt);
    if (idt != NULL)
        arena_cleanup(ar, free, idt);
    jsonw *b = jsonw_new(ar);
    jsonw_str(b, "access_token", jwt);
    jsonw_str(b, "token_type", t->dpop ? "DPoP" : "Bearer");
    jsonw_int(b, "expires_in", t->exp - t->iat);
    if (t->scope != NULL)
        jsonw_str(b, "scope", t->scope);
    if (strcmp(t->grant, GRANT_EXCHANGE) == 0)
        jsonw_str(b, "issued_token_type", TT_ACCESS);
    if (t->refresh != NULL)
        jsonw_str(b, "refresh_token", t->refresh);
    if (idt != NULL)
        jsonw_str(b, "id_token", idt);
    size_t bl;
    const char *body = jsonw_finish(b, &bl);
    if (body == NULL) {
        http_error_oauth(t->req, 500, "server_error", "could not write the response");
        return;
    }
    http_header(t->req, "Pragma", "no-cache");
    http_respond(t->req, 200, "application/json", body, bl);
}

static void on_confirmed(void *ud, PGresult *res, int err, const char *msg)
{
    struct treq *t = ud;
    (void)msg;
    if (err != STORE_OK) {
        token_unavailable(t->req);
        return;
    }
    /* A replay of the code arrived while these were issued: they are revoked. */
    if (store_code_replayed(res)) {
        http_error_oauth(t->req, 400, "invalid_grant",
                         "authorization code already used; the tokens it produced are revoked");
        return;
    }
    respond(t);
}

static void on_refresh_stored(void *ud, PGresult *res, int err, const char *msg)
{
    struct treq *t = ud;
    (void)res;
    (void)msg;
    if (err != STORE_OK) {
        token_unavailable(t->req);
        return;
    }
    if (t->code_hash != NULL) {
        if (store_code_confirm(http_req_pool(t->req), t->code_hash, on_confirmed, t) != 0)
            token_unavailable(t->req);
        return;
    }
    respond(t);
}

static void on_issued(void *ud, PGresult *res, int err, const char *msg)
{
    struct treq *t = ud;
    (void)msg;
    if (err == STORE_EINVALID) {
        http_error_oauth(t->req, 400, "invalid_request", "a value of the request cannot be stored");
        return;
    }
    if (err != STORE_OK) {
        token_unavailable(t->req);
        return;
    }
    if (!store_token_issued(res)) {
        token_dpop_error(t, "DPoP proof already used");
        return;
    }
    if (!t->want_refresh) {
        if (t->code_hash != NULL)
            on_refresh_stored(t, NULL, STORE_OK, NULL);
        else
            respond(t);
        return;
    }
    arena *ar = http_req_arena(t->req);
    uint8_t raw[32];
    char text[64], hash[65];
    hash_random(raw, sizeof(raw));
    enc_base62(raw, sizeof(raw), text, sizeof(text));
    t->refresh = arena_printf(ar, "rt_%s", text);
    hash_sha256_hex(t->refresh, strlen(t->refresh), hash);
    store_refresh r = {hash,
                       t->family,
                       t->client->client_id,
                       t->user_id,
                       t->sub,
                       t->refresh_scope ? t->refresh_scope
                       : t->scope       ? t->scope
                                        : "",
                       t->dpop ? t->proof.jkt : NULL,
                       t->aud,
                       t->session_id,
                       t->auth_time,
                       REFRESH_TTL_S};
    if (store_refresh_create(http_req_pool(t->req), &r, on_refresh_stored, t) != 0)
        token_unavailable(t->req);
}

/* prefix + 128 random bits in base62, in the arena. */
const char *token_new_id(arena *ar, const char *prefix)
{
    uint8_t raw[16];
    char text[32];
    hash_random(raw, sizeof(raw));
    enc_base62(raw, sizeof(raw), text, sizeof(text));
    return arena_printf(ar, "%s%s", prefix, text);
}

/* 48 bits of milliseconds, then 80 random bits: fixed-width base62 keeps the
 * numeric order, so token records are appended at the right edge of their
 * indexes (see migration 0015) instead of scattered across them. */
void token_new_jti(struct treq *t)
{
    uint8_t raw[16];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    for (int i = 0; i < 6; i++)
        raw[i] = (uint8_t)(ms >> (40 - 8 * i));
    hash_random(raw + 6, sizeof(raw) - 6);
    memcpy(t->jti, "tok_", 4);
    enc_base62(raw, sizeof(raw), t->jti + 4, sizeof(t->jti) - 4);
}

void token_issue(struct treq *t)
{
    arena *ar = http_req_arena(t->req);
    if (t->jti[0] == '\0')
        token_new_jti(t);
    t->iat = (int64_t)time(NULL);
    t->exp = t->iat + t->app->cfg.token_ttl_s;
    /* A derived token never outlives what it came from. */
    if (t->parent_jti != NULL && t->exp > t->subject.exp)
        t->exp = t->subject.exp;
    /* The access tokens of a grant with refresh tokens carry its family, so
     * revoking the family (reuse, a layer) reaches them (migration 0020). */
    if (t->want_refresh && t->family == NULL)
        t->family = token_new_id(ar, "fam_");
    if (t->act != NULL) {
        char *act_text = json_dumps(t->act, JSON_COMPACT);
        if (act_text == NULL)
            goto fail;
        arena_cleanup(ar, free, act_text);
        t->act_text = act_text;
    }
    jsonw *m = jsonw_new(ar);
    jsonw_str(m, "client_id", t->client->client_id);
    jsonw_str(m, "grant_type", t->grant);
    if (t->scope)
        jsonw_str(m, "scope", t->scope);
    if (t->dpop)
        jsonw_str(m, "jkt", t->proof.jkt);
    if (t->aud)
        jsonw_str(m, "audience", t->aud);
    if (t->act != NULL) {
        jsonw_str(m, "actor_id", t->client->client_id);
        jsonw_str(m, "subject_id", t->sub);
        jsonw_int(m, "chain_depth", oauth_act_depth(t->act));
    }
    size_t ml;
    const char *meta_text = jsonw_finish(m, &ml);
    if (meta_text == NULL)
        goto fail;
    store_token tok = {
        .jti = t->jti,
        .client_id = t->client->client_id,
        .subject = t->sub,
        .user_id = t->user_id,
        .scope = t->scope ? t->scope : "",
        .jkt = t->dpop ? t->proof.jkt : NULL,
        .audience = t->aud,
        .act = t->act_text,
        .parent_jti = t->parent_jti,
        .parent_exp = t->subject.exp,
        .family_id = t->family,
        .expires_at = t->exp,
        .replay_key = t->dpop ? arena_printf(ar, "dpop:%s:%s", t->proof.jkt, t->proof.jti) : NULL,
        .replay_ttl_s = 2 * t->app->cfg.dpop_window_s + 5,
        .event = t->event,
        .actor_id = t->client->client_id,
        .actor_type = strcmp(t->client->kind, "agent") == 0 ? "agent" : "client",
        .metadata = meta_text,
        .request_id = http_req_id(t->req),
        .client_ip = http_req_client_ip(t->req),
    };
    if (store_token_issue(http_req_pool(t->req), &tok, on_issued, t) != 0)
        token_unavailable(t->req);
    return;
fail:
    /* Request text is UTF-8 by now (core/utf8), so only memory can run out. */
    http_error_oauth(t->req, 500, "server_error", "could not record the token");
}

static void on_audience(http_req *req, void *ud, enum oauth_audience verdict)
{
    struct treq *t = ud;
    if (verdict == OAUTH_AUDIENCE_UNAVAILABLE)
        token_unavailable(req);
    else if (verdict == OAUTH_AUDIENCE_REFUSED)
        http_error_oauth(req, 400, "invalid_target",
                         "this client may not ask for a token for that resource or audience");
    else
        token_issue(t);
}

/* resource (RFC 8707) and audience (RFC 8693) both name the audience; one
 * value, an absolute URI for resource, and one the client may address
 * (protocol/audience.h). Then issues the token. */
void token_read_audience(struct treq *t)
{
    const char *res = form_get(&t->f, "resource"), *aud = form_get(&t->f, "audience");
    if (res != NULL && (strncmp(res, "https://", 8) != 0 && strncmp(res, "http://", 7) != 0)) {
        http_error_oauth(t->req, 400, "invalid_target", "resource must be an absolute URI");
        return;
    }
    if (res != NULL && aud != NULL && strcmp(res, aud) != 0) {
        http_error_oauth(t->req, 400, "invalid_target", "resource and audience differ");
        return;
    }
    t->aud = res ? res : aud;
    if (t->aud != NULL && (strlen(t->aud) > 1000 || strchr(t->aud, '#') != NULL)) {
        http_error_oauth(t->req, 400, "invalid_target", "unusable audience");
        return;
    }
    if (t->aud == NULL)
        token_issue(t);
    else
        oauth_audience_check(t->req, t->client, t->aud, on_audience, t);
}

int token_read_scope(struct treq *t, const char *allowed)
{
    const char *want = form_get(&t->f, "scope");
    if (want == NULL) {
        t->scope = allowed != NULL && *allowed != '\0' ? allowed : NULL;
        return 0;
    }
    if (!oauth_scope_valid(want)) {
        http_error_oauth(t->req, 400, "invalid_scope", "malformed scope");
        return -1;
    }
    if (!oauth_scope_subset(want, allowed)) {
        http_error_oauth(t->req, 400, "invalid_scope", "scope exceeds what is allowed");
        return -1;
    }
    t->scope = want;
    return 0;
}

static void client_credentials(struct treq *t)
{
    const oauth_client *c = t->client;
    if (strcmp(c->auth_method, "none") == 0) {
        http_error_oauth(t->req, 400, "unauthorized_client",
                         "public clients cannot use this grant");
        return;
    }
    if (token_read_scope(t, c->scopes) != 0)
        return;
    t->sub = c->client_id;
    /* An agent acts for the user who created it, if any. */
    t->user_id = c->created_by;
    t->event = "oauth.token_issued";
    token_read_audience(t);
}

bool token_same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* ---- dispatch ---- */

static void on_client(http_req *req, void *ud, const oauth_client *c)
{
    struct treq *t = ud;
    t->client = c;
    if (!oauth_client_has_grant(c, t->grant)) {
        http_error_oauth(req, 400, "unauthorized_client", "this client may not use this grant");
        return;
    }
    /* A client bound to a DPoP key gets tokens only for proofs by that key. */
    if (c->dpop_jkt != NULL && (!t->dpop || strcmp(c->dpop_jkt, t->proof.jkt) != 0)) {
        token_dpop_error(t, t->dpop ? "proof key is not the client's registered DPoP key"
                                    : "this client must present a DPoP proof");
        return;
    }
    if (strcmp(t->grant, GRANT_CC) == 0)
        client_credentials(t);
    else if (strcmp(t->grant, GRANT_CODE) == 0)
        grant_authorization_code(t);
    else if (strcmp(t->grant, GRANT_REFRESH) == 0)
        grant_refresh(t);
    else if (strcmp(t->grant, GRANT_DEVICE) == 0)
        grant_device(t);
    else
        grant_exchange(t);
}

/* Checks the DPoP header, if any. Returns 0 to go on; otherwise answered. */
static int check_dpop(struct treq *t)
{
    const char *why;
    switch (oauth_proof_check(t->req, "/oauth/token", NULL, NULL, &t->proof, &why)) {
    case OAUTH_PROOF_NONE:
        return 0;
    case OAUTH_PROOF_OK:
        t->dpop = true;
        return 0;
    case OAUTH_PROOF_NONCE:
        http_error_oauth(t->req, 400, "use_dpop_nonce", why);
        return -1;
    default:
        token_dpop_error(t, why);
        return -1;
    }
}

void oauth_token_endpoint(http_req *req)
{
    struct treq *t = arena_calloc(http_req_arena(req), sizeof(*t));
    t->req = req;
    t->app = http_req_app(req);
    if (oauth_read_form(req, &t->f) != 0)
        return;
    t->grant = form_get(&t->f, "grant_type");
    if (t->grant == NULL) {
        http_error_oauth(req, 400, "invalid_request", "grant_type is required");
        return;
    }
    if (strcmp(t->grant, GRANT_CC) != 0 && strcmp(t->grant, GRANT_EXCHANGE) != 0 &&
        strcmp(t->grant, GRANT_CODE) != 0 && strcmp(t->grant, GRANT_REFRESH) != 0 &&
        strcmp(t->grant, GRANT_DEVICE) != 0) {
        http_error_oauth(req, 400, "unsupported_grant_type", "grant_type not supported");
        return;
    }
    if (check_dpop(t) != 0)
        return;
    oauth_client_authenticate(req, &t->f, on_client, t);
}
