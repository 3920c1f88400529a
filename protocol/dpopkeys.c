#include "dpopkeys.h"

#include <pthread.h>
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

typedef struct keycache {
    dpop_keys source;
    slot slots[SLOTS];
} keycache;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void cache_free(void *p)
{
    keycache *kc = p;
    for (int i = 0; i < SLOTS; i++) {
        free(kc->slots[i].json);
        jwk_free(kc->slots[i].key);
    }
    free(kc);
}

static void tls_init(void)
{
    pthread_key_create(&tls_key, cache_free);
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

const dpop_keys *oauth_dpop_keys(void)
{
    pthread_once(&tls_once, tls_init);
    keycache *kc = pthread_getspecific(tls_key);
    if (kc == NULL) {
        if ((kc = calloc(1, sizeof(*kc))) == NULL)
            return NULL;
        if (pthread_setspecific(tls_key, kc) != 0) {
            free(kc);
            return NULL;
        }
        kc->source = (dpop_keys){import, kc};
    }
    return &kc->source;
}
