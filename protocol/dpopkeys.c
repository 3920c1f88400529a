#include "dpopkeys.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A power of two; at most this many keys per loop, evicted arbitrarily. */
#define SLOTS 256

/* Keyed by the whole jwk header as canonical JSON, not by its thumbprint:
 * members outside the thumbprint change the import (an "alg" pins the key,
 * a "d" refuses it), so only an identical header may reuse a key. Only keys
 * that imported are kept; a refused header is judged afresh each time. */
typedef struct slot {
    char *json;
    jwk_key *key;
} slot;

/* One per loop, in its loop_ctx (core/loop.h). */
typedef struct dpop_key_cache {
    dpop_keys source;
    slot slots[SLOTS];
} keycache;

void oauth_dpop_keys_free(loop_ctx *lc)
{
    keycache *kc = lc->dpop_keys;
    for (int i = 0; kc != NULL && i < SLOTS; i++) {
        free(kc->slots[i].json);
        jwk_free(kc->slots[i].key);
    }
    free(kc);
    lc->dpop_keys = NULL;
}

static int import(void *ud, const json_t *jwk, const jwk_key **out)
{
    keycache *kc = ud;
    jwk_key *key = NULL;
    char *json = json_is_object(jwk) ? json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (json == NULL) /* not an object (refused below) or out of memory */
        return json_is_object(jwk) ? JWK_ERR_INTERNAL : JWK_ERR_INVALID;
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)json; *p; p++)
        h = (h ^ *p) * 16777619u;
    slot *s = &kc->slots[h & (SLOTS - 1)];
    if (s->json != NULL && strcmp(s->json, json) == 0) {
        free(json);
        *out = s->key;
        return 0;
    }
    int rc = jwk_from_json(jwk, &key);
    if (rc != 0) {
        free(json);
        return rc;
    }
    free(s->json);
    jwk_free(s->key);
    *s = (slot){json, key};
    *out = key;
    return 0;
}

const dpop_keys *oauth_dpop_keys(loop_ctx *lc)
{
    keycache *kc = lc->dpop_keys;
    if (kc == NULL) {
        if ((kc = calloc(1, sizeof(*kc))) == NULL)
            return NULL;
        kc->source = (dpop_keys){import, kc};
        lc->dpop_keys = kc;
    }
    return &kc->source;
}
