/*
 * keys: the process's keyring of signing keys. Readers take the current
 * snapshot without locking (an atomic pointer to an immutable snapshot);
 * rotation or a refresh from the database publishes a new snapshot. Old
 * snapshots live until exit, since a reader may still hold one — rotations
 * are rare, so this costs little.
 */
#ifndef SHARK_PROTOCOL_KEYS_H
#define SHARK_PROTOCOL_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../crypto/jwk.h"
#include "../store/oauth.h"

typedef struct keyring keyring;

typedef struct keyring_key {
    char kid[64];
    jwk_key *key;
    bool retired;
    bool id_token_only; /* never signs or verifies an access token */
} keyring_key;

typedef struct keyring_snap {
    int n;
    keyring_key *keys;         /* newest first */
    const keyring_key *active; /* signs new tokens */
    /* signs the id_tokens of clients registered with RS256 (OpenID Connect
     * requires the alg): the active key when it is RS256, else the newest
     * id_token key; NULL when there is none */
    const keyring_key *rs256;
    char *jwks; /* the JWKS document served as is */
    size_t jwks_len;
} keyring_snap;

keyring *keyring_new(const uint8_t master_key[32]);
void keyring_free(keyring *kr);
/* Current snapshot; valid for the life of the process. */
const keyring_snap *keyring_current(const keyring *kr);
/* Builds and publishes a snapshot from database rows (unsealing each key).
 * Returns 0, or -1 with a message. */
int keyring_load(keyring *kr, const store_key_row *rows, int n, char *err, size_t errlen);
/* True if rows name exactly the snapshot's keys in the same states. */
bool keyring_same(const keyring *kr, const store_key_row *rows, int n);
/* Key by kid in a snapshot, or NULL. */
const keyring_key *keyring_find(const keyring_snap *s, const char *kid);

/* A new private key sealed for storage: id (key_…), sealed bytes (malloc'd,
 * caller frees) and public JWK text (malloc'd). */
int keyring_generate(const uint8_t master_key[32], const char *alg, char id[64], uint8_t **sealed,
                     size_t *sealed_len, char **public_jwk);

#endif
