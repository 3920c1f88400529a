#include "keys.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fatal.h"
#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../crypto/seal.h"

struct old_snap {
    struct old_snap *next;
    keyring_snap *s;
};

struct keyring {
    uint8_t master[32];
    _Atomic(keyring_snap *) cur;
    pthread_mutex_t mu; /* serialises publishers */
    struct old_snap *old;
};

keyring *keyring_new(const uint8_t master_key[32])
{
    keyring *kr = calloc(1, sizeof(*kr));
    if (kr == NULL)
        shark_fatal("out of memory");
    memcpy(kr->master, master_key, 32);
    pthread_mutex_init(&kr->mu, NULL);
    return kr;
}

static void snap_free(keyring_snap *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->n; i++)
        jwk_free(s->keys[i].key);
    free(s->keys);
    free(s->jwks);
    free(s);
}

void keyring_free(keyring *kr)
{
    if (kr == NULL)
        return;
    snap_free(atomic_load(&kr->cur));
    while (kr->old != NULL) {
        struct old_snap *o = kr->old;
        kr->old = o->next;
        snap_free(o->s);
        free(o);
    }
    pthread_mutex_destroy(&kr->mu);
    memset(kr->master, 0, sizeof(kr->master));
    free(kr);
}

const keyring_snap *keyring_current(const keyring *kr)
{
    return atomic_load_explicit(&((keyring *)kr)->cur, memory_order_acquire);
}

const keyring_key *keyring_find(const keyring_snap *s, const char *kid)
{
    for (int i = 0; s != NULL && i < s->n; i++)
        if (strcmp(s->keys[i].kid, kid) == 0)
            return &s->keys[i];
    return NULL;
}

bool keyring_same(const keyring *kr, const store_key_row *rows, int n)
{
    const keyring_snap *s = keyring_current(kr);
    if (s == NULL || s->n != n)
        return false;
    for (int i = 0; i < n; i++)
        if (strcmp(s->keys[i].kid, rows[i].id) != 0 || s->keys[i].retired != rows[i].retired ||
            s->keys[i].id_token_only != rows[i].id_token_only)
            return false;
    return true;
}

static int unseal_key(const uint8_t master[32], const store_key_row *row, jwk_key **out)
{
    jwk_alg alg;
    if (jwk_alg_parse(row->alg, &alg) != 0 || row->sealed_len < SEAL_OVERHEAD)
        return -1;
    size_t cap = row->sealed_len;
    uint8_t *der = malloc(cap);
    if (der == NULL)
        return -1;
    long n = seal_open(master, row->sealed, row->sealed_len, (const uint8_t *)row->id,
                       strlen(row->id), der, cap);
    int rc = n > 0 ? jwk_from_private_der(der, (size_t)n, alg, out) : -1;
    memset(der, 0, cap);
    free(der);
    return rc == 0 ? 0 : -1;
}

int keyring_load(keyring *kr, const store_key_row *rows, int n, char *err, size_t errlen)
{
    keyring_snap *s = calloc(1, sizeof(*s));
    json_t *set = json_array();
    if (s == NULL || set == NULL ||
        (s->keys = calloc((size_t)(n ? n : 1), sizeof(keyring_key))) == NULL)
        shark_fatal("out of memory");
    for (int i = 0; i < n; i++) {
        keyring_key *k = &s->keys[s->n];
        snprintf(k->kid, sizeof(k->kid), "%s", rows[i].id);
        k->retired = rows[i].retired;
        k->id_token_only = rows[i].id_token_only;
        if (unseal_key(kr->master, &rows[i], &k->key) != 0) {
            snprintf(err, errlen,
                     "signing key %s does not open under this master key (wrong "
                     "SHARK_MASTER_KEY or master.key?)",
                     rows[i].id);
            goto fail;
        }
        s->n++;
        if (s->active == NULL && !k->retired && !k->id_token_only)
            s->active = k;
        if (s->rs256 == NULL && !k->retired && k->id_token_only && jwk_key_alg(k->key) == JWK_RS256)
            s->rs256 = k;
        json_array_append_new(set, jwk_to_json(k->key, k->kid));
    }
    if (s->active == NULL) {
        snprintf(err, errlen, "no active signing key");
        goto fail;
    }
    if (jwk_key_alg(s->active->key) == JWK_RS256)
        s->rs256 = s->active;
    json_t *doc = json_pack("{s:o}", "keys", set);
    set = NULL;
    s->jwks = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (s->jwks == NULL)
        shark_fatal("out of memory");
    s->jwks_len = strlen(s->jwks);
    pthread_mutex_lock(&kr->mu);
    keyring_snap *prev = atomic_exchange(&kr->cur, s);
    if (prev != NULL) {
        struct old_snap *o = malloc(sizeof(*o));
        if (o == NULL)
            shark_fatal("out of memory");
        o->s = prev;
        o->next = kr->old;
        kr->old = o;
    }
    pthread_mutex_unlock(&kr->mu);
    return 0;
fail:
    json_decref(set);
    snap_free(s);
    return -1;
}

int keyring_generate(const uint8_t master_key[32], const char *alg_name, char id[64],
                     uint8_t **sealed, size_t *sealed_len, char **public_jwk)
{
    jwk_alg alg;
    jwk_key *key = NULL;
    uint8_t *der = NULL, raw[16];
    long dlen = -1;
    int rc = -1;
    *sealed = NULL;
    *public_jwk = NULL;
    if (jwk_alg_parse(alg_name, &alg) != 0 || jwk_generate(alg, &key) != 0)
        goto done;
    hash_random(raw, sizeof(raw));
    memcpy(id, "key_", 4);
    if (enc_base62(raw, sizeof(raw), id + 4, 60) < 0)
        goto done;
    dlen = jwk_private_der(key, NULL, 0);
    if (dlen <= 0 || (der = malloc((size_t)dlen)) == NULL ||
        jwk_private_der(key, der, (size_t)dlen) != dlen)
        goto done;
    *sealed_len = (size_t)dlen + SEAL_OVERHEAD;
    if ((*sealed = malloc(*sealed_len)) == NULL ||
        seal_box(master_key, 1, der, (size_t)dlen, (const uint8_t *)id, strlen(id), *sealed,
                 *sealed_len) < 0)
        goto done;
    json_t *pub = jwk_to_json(key, id);
    *public_jwk = pub ? json_dumps(pub, JSON_COMPACT) : NULL;
    json_decref(pub);
    rc = *public_jwk != NULL ? 0 : -1;
done:
    if (der != NULL) {
        memset(der, 0, (size_t)dlen);
        free(der);
    }
    if (rc != 0) {
        free(*sealed);
        *sealed = NULL;
    }
    jwk_free(key);
    return rc;
}
