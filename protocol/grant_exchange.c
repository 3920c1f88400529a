/* grant_type=urn:ietf:params:oauth:grant-type:token-exchange (RFC 8693). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "../core/jsonw.h"
#include "../store/audit.h"
#include "errors.h"
#include "exchange.h"
#include "grant.h"

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

static void exchange_issue(struct treq *t)
{
    oauth_access *s = &t->subject;
    arena *ar = http_req_arena(t->req);
    const char *actor = t->client->client_id;
    const char *why = oauth_exchange_denial(&(oauth_exchange_facts){
        .caller = t->client->client_id,
        .subject = &t->subject,
        .actor = t->has_actor ? &t->actor : NULL,
        .proof_jkt = t->dpop ? t->proof.jkt : NULL,
        .max_depth = t->app->cfg.max_delegation_depth,
    });
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
    if (token_read_scope(t, allowed) != 0)
        return;
    json_t *hop = json_pack("{s:s,s:I}", "sub", actor, "iat", (json_int_t)time(NULL));
    if (t->scope != NULL)
        json_object_set_new(hop, "scope", json_string(t->scope));
    if (t->dpop)
        json_object_set_new(hop, "jkt", json_string(t->proof.jkt));
    if (s->act != NULL)
        json_object_set(hop, "act", s->act);
    t->act = hop;
    arena_cleanup(ar, token_release, hop);
    t->sub = s->sub;
    t->parent_jti = s->jti;
    const char *uid = json_string_value(json_object_get(s->claims, "sub"));
    t->user_id = uid != NULL && strncmp(uid, "usr_", 4) == 0 ? uid : NULL;
    t->event = "oauth.token_exchanged";
    token_read_audience(t);
}

static void on_actor_active(void *ud, enum oauth_token_state st)
{
    struct treq *t = ud;
    if (st == OAUTH_TOKEN_UNAVAILABLE) {
        token_unavailable(t->req);
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
        token_unavailable(t->req);
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

void grant_exchange(struct treq *t)
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
        http_error_oauth(t->req, 400, "invalid_request",
                         "subject_token and subject_token_type are required");
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
