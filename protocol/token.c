/* POST /oauth/token: client_credentials and token exchange (RFC 8693), with
 * DPoP binding (RFC 9449). One database round trip issues a token: the DPoP
 * replay record, the token record and its audit event go in one statement. */
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
#include "token.h"

#define GRANT_CC "client_credentials"
#define GRANT_CODE "authorization_code"
#define GRANT_REFRESH "refresh_token"
#define GRANT_DEVICE "urn:ietf:params:oauth:grant-type:device_code"
#define REFRESH_TTL_S (30 * 86400)
#define GRANT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TT_ACCESS "urn:ietf:params:oauth:token-type:access_token"
#define TT_JWT "urn:ietf:params:oauth:token-type:jwt"

struct treq {
    http_req *req;
    app *app;
    form f;
    const char *grant;
    bool dpop;
    dpop_result proof;
    const oauth_client *client;
    /* what will be issued */
    const char *sub, *user_id, *scope, *aud;
    json_t *act;
    const char *act_text; /* act serialised once, for the record and the claims */
    const char *event;
    oauth_access subject, actor;
    bool has_actor;
    char jti[40];
    int64_t iat, exp;
    /* authorization code and refresh grants */
    const char *code_hash, *family, *nonce, *refresh;
    const char *refresh_scope; /* the grant's scope: a narrowed refresh keeps it */
    const char *refresh_hash;
    const char *parent_jti; /* exchange: the subject token's jti */
    const char *session_id; /* the session a person's grant ends with, if any */
    int64_t auth_time;
    bool want_refresh, want_id_token;
};

static void release(void *p) { json_decref(p); }

/* In the body only: WWW-Authenticate is for 401s (RFC 9449 §7.1 is about
 * resource servers), and certified clients read a 400's error from the body. */
static void dpop_error(struct treq *t, const char *desc)
{
    http_error_oauth(t->req, 400, "invalid_dpop_proof", desc);
}

static void unavailable(http_req *req)
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
    json_t *c = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s}", "iss", t->app->cfg.issuer, "sub",
                          t->sub, "aud", t->client->client_id, "iat", (json_int_t)t->iat, "exp",
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
                               : ks->rs256 != NULL ? ks->rs256 : ks->active;
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
        unavailable(t->req);
        return;
    }
    /* A replay of the code arrived while these were issued: they are revoked. */
    if (PQgetvalue(res, 0, 0)[0] == 't') {
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
        unavailable(t->req);
        return;
    }
    if (t->code_hash != NULL) {
        if (store_code_confirm(http_req_pool(t->req), t->code_hash, on_confirmed, t) != 0)
            unavailable(t->req);
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
        unavailable(t->req);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
        dpop_error(t, "DPoP proof already used");
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
                       t->refresh_scope ? t->refresh_scope : t->scope ? t->scope : "",
                       t->dpop ? t->proof.jkt : NULL,
                       t->aud,
                       t->session_id,
                       t->auth_time,
                       REFRESH_TTL_S};
    if (store_refresh_create(http_req_pool(t->req), &r, on_refresh_stored, t) != 0)
        unavailable(t->req);
}

/* prefix + 128 random bits in base62, in the arena. */
static const char *new_id(arena *ar, const char *prefix)
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
static void new_jti(struct treq *t)
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

static void issue(struct treq *t)
{
    arena *ar = http_req_arena(t->req);
    if (t->jti[0] == '\0')
        new_jti(t);
    t->iat = (int64_t)time(NULL);
    t->exp = t->iat + t->app->cfg.token_ttl_s;
    /* A derived token never outlives what it came from. */
    if (t->parent_jti != NULL && t->exp > t->subject.exp)
        t->exp = t->subject.exp;
    /* The access tokens of a grant with refresh tokens carry its family, so
     * revoking the family (reuse, a layer) reaches them (migration 0020). */
    if (t->want_refresh && t->family == NULL)
        t->family = new_id(ar, "fam_");
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
        unavailable(t->req);
    return;
fail:
    /* Request text is UTF-8 by now (core/utf8), so only memory can run out. */
    http_error_oauth(t->req, 500, "server_error", "could not record the token");
}

static void on_audience(http_req *req, void *ud, enum oauth_audience verdict)
{
    struct treq *t = ud;
    if (verdict == OAUTH_AUDIENCE_UNAVAILABLE)
        unavailable(req);
    else if (verdict == OAUTH_AUDIENCE_REFUSED)
        http_error_oauth(req, 400, "invalid_target",
                         "this client may not ask for a token for that resource or audience");
    else
        issue(t);
}

/* resource (RFC 8707) and audience (RFC 8693) both name the audience; one
 * value, an absolute URI for resource, and one the client may address
 * (protocol/audience.h). Then issues the token. */
static void read_audience(struct treq *t)
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
        issue(t);
    else
        oauth_audience_check(t->req, t->client, t->aud, on_audience, t);
}

static int read_scope(struct treq *t, const char *allowed)
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
        http_error_oauth(t->req, 400, "unauthorized_client", "public clients cannot use this grant");
        return;
    }
    if (read_scope(t, c->scopes) != 0)
        return;
    t->sub = c->client_id;
    /* An agent acts for the user who created it, if any. */
    t->user_id = c->created_by;
    t->event = "oauth.token_issued";
    read_audience(t);
}

/* ---- token exchange (RFC 8693) ----
 *
 * The rules, all here: the caller is a confidential client that
 * authenticated; it is entitled to the subject token — issued to it (and then
 * proven with the token's key when bound), or naming it in `aud` or
 * `may_act`; an actor_token is the caller's own, proven with its key when
 * bound; a `may_act` in the subject token is always enforced. The new token's
 * scope is within the subject's and the caller's, it expires no later than
 * the subject, records the subject as its parent (and dies with it), and is
 * bound to the request's DPoP key; a bound subject token gets nothing
 * without a proof. A refusal writes only its audit event. */

struct refusal {
    http_req *req;
    const char *desc;
};

static void on_refusal_recorded(void *ud, PGresult *res, int err, const char *msg)
{
    struct refusal *r = ud;
    (void)res;
    (void)err;
    (void)msg;
    http_error_oauth(r->req, 400, "invalid_grant", r->desc);
}

static void exchange_refuse(struct treq *t, const char *desc)
{
    arena *ar = http_req_arena(t->req);
    struct refusal *r = arena_calloc(ar, sizeof(*r));
    r->req = t->req;
    r->desc = desc;
    jsonw *m = jsonw_new(ar);
    jsonw_str(m, "client_id", t->client->client_id);
    jsonw_str(m, "reason", desc);
    if (t->subject.jti != NULL)
        jsonw_str(m, "subject_jti", t->subject.jti);
    size_t ml;
    store_audit_event ev = {
        .event = "oauth.token_exchange_denied",
        .actor_id = t->client->client_id,
        .actor_type = strcmp(t->client->kind, "agent") == 0 ? "agent" : "client",
        .target_id = t->subject.sub,
        .metadata = jsonw_finish(m, &ml),
        .request_id = http_req_id(t->req),
        .client_ip = http_req_client_ip(t->req),
    };
    /* The answer waits for the record, but does not depend on it. */
    if (store_audit_record(http_req_pool(t->req), &ev, on_refusal_recorded, r) != 0)
        on_refusal_recorded(r, NULL, STORE_EUNAVAIL, NULL);
}

/* Whether claim (a string or an array of strings) holds id. */
static bool claim_names(const json_t *claim, const char *id)
{
    if (json_is_string(claim))
        return strcmp(json_string_value(claim), id) == 0;
    size_t i;
    json_t *v;
    json_array_foreach(claim, i, v) if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
        return true;
    return false;
}

static bool proven_by(const struct treq *t, const char *jkt)
{
    return t->dpop && strcmp(t->proof.jkt, jkt) == 0;
}

/* NULL when the caller may exchange the subject token; else why not. */
static const char *exchange_denial(const struct treq *t)
{
    const oauth_access *s = &t->subject;
    const char *caller = t->client->client_id;
    json_t *may_act = json_object_get(s->claims, "may_act");
    if (may_act != NULL && !claim_names(json_object_get(may_act, "sub"), caller))
        return "the subject token's may_act excludes this client";
    bool own = strcmp(s->client_id, caller) == 0;
    if (!own && may_act == NULL && !claim_names(json_object_get(s->claims, "aud"), caller))
        return "the subject token was not issued to this client and does not name it";
    if (t->has_actor) {
        if (strcmp(t->actor.client_id, caller) != 0 || strcmp(t->actor.sub, caller) != 0)
            return "actor_token is not the client's own token";
        if (t->actor.jkt != NULL && !proven_by(t, t->actor.jkt))
            return "actor_token is DPoP-bound: the proof must be signed by its key";
    }
    if (s->jkt != NULL) {
        if (!t->dpop)
            return "the subject token is DPoP-bound: a DPoP proof is required";
        if (own && !proven_by(t, s->jkt))
            return "the subject token is DPoP-bound: the proof must be signed by its key";
    }
    if (oauth_act_depth(s->act) + 1 > t->app->cfg.max_delegation_depth)
        return "delegation chain too deep";
    return NULL;
}

static void exchange_issue(struct treq *t)
{
    oauth_access *s = &t->subject;
    arena *ar = http_req_arena(t->req);
    const char *actor = t->client->client_id;
    const char *why = exchange_denial(t);
    if (why != NULL) {
        exchange_refuse(t, why);
        return;
    }
    /* Exchange only narrows: scope within the subject's and the caller's,
     * asked for or not. */
    const char *allowed = s->scope ? oauth_scope_clip(ar, s->scope, t->client->scopes) : NULL;
    if (allowed != NULL && *allowed == '\0') {
        http_error_oauth(t->req, 400, "invalid_scope",
                         "no scope of the subject token is this client's");
        return;
    }
    if (read_scope(t, allowed) != 0)
        return;
    json_t *hop = json_pack("{s:s,s:I}", "sub", actor, "iat", (json_int_t)time(NULL));
    if (t->scope != NULL)
        json_object_set_new(hop, "scope", json_string(t->scope));
    if (t->dpop)
        json_object_set_new(hop, "jkt", json_string(t->proof.jkt));
    if (s->act != NULL)
        json_object_set(hop, "act", s->act);
    t->act = hop;
    arena_cleanup(ar, release, hop);
    t->sub = s->sub;
    t->parent_jti = s->jti;
    const char *uid = json_string_value(json_object_get(s->claims, "sub"));
    t->user_id = uid != NULL && strncmp(uid, "usr_", 4) == 0 ? uid : NULL;
    t->event = "oauth.token_exchanged";
    read_audience(t);
}

static void on_actor_active(void *ud, enum oauth_token_state st)
{
    struct treq *t = ud;
    if (st == OAUTH_TOKEN_UNAVAILABLE) {
        unavailable(t->req);
        return;
    }
    if (st != OAUTH_TOKEN_ACTIVE) {
        exchange_refuse(t, "actor_token is revoked");
        return;
    }
    exchange_issue(t);
}

static void on_subject_active(void *ud, enum oauth_token_state st)
{
    struct treq *t = ud;
    if (st == OAUTH_TOKEN_UNAVAILABLE) {
        unavailable(t->req);
        return;
    }
    if (st != OAUTH_TOKEN_ACTIVE) {
        exchange_refuse(t, "subject_token is revoked");
        return;
    }
    if (!t->has_actor) {
        exchange_issue(t);
        return;
    }
    oauth_token_check(t->req, &t->actor, on_actor_active, t);
}

static bool token_type_ok(const char *tt)
{
    return tt != NULL && (strcmp(tt, TT_ACCESS) == 0 || strcmp(tt, TT_JWT) == 0);
}

static void token_exchange(struct treq *t)
{
    const char *st = form_get(&t->f, "subject_token");
    const char *stt = form_get(&t->f, "subject_token_type");
    const char *at = form_get(&t->f, "actor_token");
    const char *att = form_get(&t->f, "actor_token_type");
    const char *rtt = form_get(&t->f, "requested_token_type");
    if (strcmp(t->client->used_method, "none") == 0) {
        http_error_oauth(t->req, 400, "unauthorized_client",
                         "token exchange needs a confidential client that authenticates");
        return;
    }
    if (st == NULL || stt == NULL) {
        http_error_oauth(t->req, 400, "invalid_request", "subject_token and subject_token_type are required");
        return;
    }
    if (!token_type_ok(stt) || (at != NULL && !token_type_ok(att)) || (at == NULL && att != NULL)) {
        http_error_oauth(t->req, 400, "invalid_request", "unsupported token type");
        return;
    }
    if (rtt != NULL && !token_type_ok(rtt)) {
        http_error_oauth(t->req, 400, "invalid_request", "requested_token_type not supported");
        return;
    }
    if (oauth_access_verify(t->req, st, &t->subject) != 0) {
        exchange_refuse(t, "subject_token is invalid or expired");
        return;
    }
    if (at != NULL) {
        if (oauth_access_verify(t->req, at, &t->actor) != 0) {
            exchange_refuse(t, "actor_token is invalid or expired");
            return;
        }
        t->has_actor = true;
    }
    oauth_token_check(t->req, &t->subject, on_subject_active, t);
}

/* ---- authorization code (RFC 6749 §4.1 with PKCE, RFC 7636) ---- */

static bool pkce_ok(const char *verifier, const char *challenge)
{
    size_t n = verifier ? strlen(verifier) : 0;
    if (n < 43 || n > 128)
        return false;
    for (const char *p = verifier; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '_' || *p == '~'))
            return false;
    uint8_t h[HASH_SHA256_LEN];
    char b64[48];
    hash_sha256(verifier, n, h);
    enc_b64url(h, sizeof(h), b64, sizeof(b64));
    return hash_ct_eq(b64, strlen(b64), challenge, strlen(challenge));
}

static const char *row(struct treq *t, PGresult *res, int c)
{
    return PQgetisnull(res, 0, c) ? NULL : arena_strdup(http_req_arena(t->req), PQgetvalue(res, 0, c));
}

static void on_code(void *ud, PGresult *res, int err, const char *msg)
{
    struct treq *t = ud;
    (void)msg;
    if (err != STORE_OK) {
        unavailable(t->req);
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
    if (!pkce_ok(form_get(&t->f, "code_verifier"), PQgetvalue(res, 0, 6))) {
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
    const char *code_jkt = row(t, res, 12);
    if (code_jkt != NULL && (!t->dpop || strcmp(code_jkt, t->proof.jkt) != 0)) {
        http_error_oauth(t->req, 400, "invalid_grant",
                         "the authorization code is bound to another DPoP key");
        return;
    }
    t->user_id = t->sub = row(t, res, 3);
    t->scope = row(t, res, 5);
    if (t->scope != NULL && *t->scope == '\0')
        t->scope = NULL;
    t->nonce = row(t, res, 7);
    t->session_id = row(t, res, 11);
    /* The authorization request may have bound the audience (resource);
     * otherwise the token request may name one (a client to hand it to). */
    const char *bound = row(t, res, 8);
    t->auth_time = strtoll(PQgetvalue(res, 0, 9), NULL, 10);
    t->want_refresh = oauth_client_has_grant(t->client, GRANT_REFRESH);
    t->want_id_token = t->scope != NULL && oauth_scope_subset("openid", t->scope);
    t->event = "oauth.token_issued";
    if (bound == NULL) {
        read_audience(t);
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
    issue(t);
}

static void authorization_code(struct treq *t)
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
    new_jti(t);
    t->family = new_id(http_req_arena(t->req), "fam_");
    if (store_code_redeem(http_req_pool(t->req), hash, t->jti, t->family, on_code, t) != 0)
        unavailable(t->req);
}

/* ---- refresh (rotation with reuse detection) ---- */

static void on_refresh_used(void *ud, PGresult *res, int err, const char *msg)
{
    struct treq *t = ud;
    (void)msg;
    if (err != STORE_OK) {
        unavailable(t->req);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
        http_error_oauth(t->req, 400, "invalid_grant",
                         "refresh token already used; its whole family is revoked");
        return;
    }
    issue(t);
}

/* Every check runs before the token is spent, so a refused request (wrong
 * key, wider scope) cannot burn the holder's refresh token. */
static void on_refresh(void *ud, PGresult *res, int err, const char *msg)
{
    struct treq *t = ud;
    (void)msg;
    if (err != STORE_OK) {
        unavailable(t->req);
        return;
    }
    if (PQntuples(res) != 1) {
        http_error_oauth(t->req, 400, "invalid_grant", "unknown refresh token");
        return;
    }
    if (PQgetvalue(res, 0, 0)[0] == 't') {
        /* Spent: using it again revokes the family and is refused. */
        if (store_refresh_use(http_req_pool(t->req), t->refresh_hash, on_refresh_used, t) != 0)
            unavailable(t->req);
        return;
    }
    if (PQgetvalue(res, 0, 1)[0] == 't' || strcmp(PQgetvalue(res, 0, 3), t->client->client_id) != 0) {
        http_error_oauth(t->req, 400, "invalid_grant", "refresh token expired or not this client's");
        return;
    }
    if (PQgetvalue(res, 0, 10)[0] != 't') {
        http_error_oauth(t->req, 400, "invalid_grant",
                         "the grant behind this refresh token was revoked");
        return;
    }
    /* A DPoP-bound refresh token needs a proof by the same key. */
    const char *jkt = row(t, res, 7);
    if (jkt != NULL && (!t->dpop || strcmp(jkt, t->proof.jkt) != 0)) {
        dpop_error(t, "this refresh token is bound to another DPoP key");
        return;
    }
    const char *granted = row(t, res, 6);
    if (read_scope(t, granted) != 0)
        return;
    t->family = row(t, res, 2);
    t->user_id = row(t, res, 4);
    t->sub = row(t, res, 5);
    t->refresh_scope = granted;
    t->aud = row(t, res, 8);
    t->session_id = row(t, res, 11);
    t->auth_time = strtoll(PQgetvalue(res, 0, 9), NULL, 10);
    t->want_refresh = true;
    t->want_id_token = t->scope != NULL && oauth_scope_subset("openid", t->scope);
    t->event = "oauth.token_refreshed";
    /* A spent token presented again is the reuse signal (RFC 9700 §4.14). */
    if (store_refresh_use(http_req_pool(t->req), t->refresh_hash, on_refresh_used, t) != 0)
        unavailable(t->req);
}

static void refresh_grant(struct treq *t)
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
        unavailable(t->req);
}

/* ---- device code polling (RFC 8628 §3.4, §3.5) ---- */

static void on_device(void *ud, PGresult *res, int err, const char *msg)
{
    struct treq *t = ud;
    (void)msg;
    if (err != STORE_OK) {
        unavailable(t->req);
        return;
    }
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 3), t->client->client_id) != 0) {
        http_error_oauth(t->req, 400, "invalid_grant", "unknown device_code");
        return;
    }
    const char *status = PQgetvalue(res, 0, 0);
    if (PQgetvalue(res, 0, 1)[0] == 't') {
        http_error_oauth(t->req, 400, "expired_token", "the device code has expired");
        return;
    }
    if (strcmp(status, "denied") == 0) {
        http_error_oauth(t->req, 400, "access_denied", "the user denied the request");
        return;
    }
    if (strcmp(status, "used") == 0) {
        http_error_oauth(t->req, 400, "invalid_grant", "the device code was already used");
        return;
    }
    if (strcmp(status, "pending") == 0) {
        bool fast = PQgetvalue(res, 0, 2)[0] == 't';
        http_error_oauth(t->req, 400, fast ? "slow_down" : "authorization_pending",
                         fast ? "polling too often: wait 5 s longer between requests"
                              : "the user has not decided yet");
        return;
    }
    t->user_id = t->sub = row(t, res, 4);
    t->scope = row(t, res, 5);
    if (t->scope != NULL && *t->scope == '\0')
        t->scope = NULL;
    t->auth_time = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
    t->want_refresh = oauth_client_has_grant(t->client, GRANT_REFRESH);
    t->want_id_token = t->scope != NULL && oauth_scope_subset("openid", t->scope);
    t->event = "oauth.token_issued";
    issue(t);
}

static void device_grant(struct treq *t)
{
    const char *dc = form_get(&t->f, "device_code");
    if (dc == NULL || strlen(dc) > 200) {
        http_error_oauth(t->req, 400, "invalid_request", "device_code is required");
        return;
    }
    char hash[65];
    hash_sha256_hex(dc, strlen(dc), hash);
    if (store_device_poll(http_req_pool(t->req), hash, on_device, t) != 0)
        unavailable(t->req);
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
        dpop_error(t, t->dpop ? "proof key is not the client's registered DPoP key"
                              : "this client must present a DPoP proof");
        return;
    }
    if (strcmp(t->grant, GRANT_CC) == 0)
        client_credentials(t);
    else if (strcmp(t->grant, GRANT_CODE) == 0)
        authorization_code(t);
    else if (strcmp(t->grant, GRANT_REFRESH) == 0)
        refresh_grant(t);
    else if (strcmp(t->grant, GRANT_DEVICE) == 0)
        device_grant(t);
    else
        token_exchange(t);
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
        dpop_error(t, why);
        return -1;
    }
}

/* Shared by every form-posting endpoint: content type, parse, duplicates. */
int oauth_read_form(http_req *req, form *f)
{
    const char *ct = http_req_header(req, "Content-Type");
    size_t len;
    const char *body = http_req_body(req, &len);
    const char *dup = NULL;
    if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        http_error_oauth(req, 400, "invalid_request",
                         "Content-Type must be application/x-www-form-urlencoded");
        return -1;
    }
    int rc = form_parse(http_req_arena(req), body, len, f, &dup);
    if (rc == FORM_EDUPLICATE) {
        http_error_oauth(req, 400, "invalid_request",
                         arena_printf(http_req_arena(req), "parameter %s given more than once", dup));
        return -1;
    }
    if (rc != FORM_OK) {
        http_error_oauth(req, 400, "invalid_request", "malformed form body");
        return -1;
    }
    return 0;
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
