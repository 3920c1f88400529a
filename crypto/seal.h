/*
 * seal: authenticated encryption of secrets at rest (signing keys, vault
 * tokens) with XChaCha20-Poly1305 (libsodium) under a 32-byte key-encryption
 * key. The associated data binds a ciphertext to its row (a ciphertext moved
 * elsewhere fails to open). Layout: 1 byte key version | 24 byte nonce | ct.
 */
#ifndef SHARK_CRYPTO_SEAL_H
#define SHARK_CRYPTO_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define SEAL_KEY_LEN 32
#define SEAL_OVERHEAD (1 + 24 + 16)

/* Returns sealed length (n + SEAL_OVERHEAD) or -1 if out is too small. */
long seal_box(const uint8_t key[SEAL_KEY_LEN], uint8_t key_version, const uint8_t *msg, size_t n,
              const uint8_t *ad, size_t adlen, uint8_t *out, size_t outsz);
/* Returns plaintext length, or -1 on forgery, wrong key/AD, or size. */
long seal_open(const uint8_t key[SEAL_KEY_LEN], const uint8_t *box, size_t n, const uint8_t *ad,
               size_t adlen, uint8_t *out, size_t outsz);
/* Key version byte of a sealed box, or -1 if too short. */
int seal_key_version(const uint8_t *box, size_t n);

#endif
