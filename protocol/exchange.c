/* The entitlement rules of token exchange (see exchange.h). */
#include "exchange.h"

#include <string.h>

/* Whether claim (a string or an array of strings) holds id. */
static bool claim_names(const json_t *claim, const char *id)
{
    if (json_is_string(claim))
        return strcmp(json_string_value(claim), id) == 0;
    size_t i;
    json_t *v;
    json_array_foreach (claim, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
            return true;
    return false;
}

static bool proven_by(const oauth_exchange_facts *f, const char *jkt)
{
    return f->proof_jkt != NULL && strcmp(f->proof_jkt, jkt) == 0;
}

/* NULL when the caller may exchange the subject token; else why not. */
const char *oauth_exchange_denial(const oauth_exchange_facts *f)
{
    const oauth_access *s = f->subject;
    const char *caller = f->caller;
    json_t *may_act = json_object_get(s->claims, "may_act");
    if (may_act != NULL && !claim_names(json_object_get(may_act, "sub"), caller))
        return "the subject token's may_act excludes this client";
    bool own = strcmp(s->client_id, caller) == 0;
    if (!own && may_act == NULL && !claim_names(json_object_get(s->claims, "aud"), caller))
        return "the subject token was not issued to this client and does not name it";
    if (f->actor != NULL) {
        if (strcmp(f->actor->client_id, caller) != 0 || strcmp(f->actor->sub, caller) != 0)
            return "actor_token is not the client's own token";
        if (f->actor->jkt != NULL && !proven_by(f, f->actor->jkt))
            return "actor_token is DPoP-bound: the proof must be signed by its key";
    }
    if (s->jkt != NULL) {
        if (f->proof_jkt == NULL)
            return "the subject token is DPoP-bound: a DPoP proof is required";
        if (own && !proven_by(f, s->jkt))
            return "the subject token is DPoP-bound: the proof must be signed by its key";
    }
    if (oauth_act_depth(s->act) + 1 > f->max_depth)
        return "delegation chain too deep";
    return NULL;
}
