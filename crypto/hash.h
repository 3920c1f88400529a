/*
 * hash: SHA-256, HMAC-SHA-256, constant-time comparison and the random bytes
 * every secret is made of. Pure apart from the CSPRNG (libsodium's
 * randombytes, which needs no state of ours).
 */
#ifndef SHARK_CRYPTO_HASH_H
#define SHARK_CRYPTO_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HASH_SHA256_LEN 32

void hash_sha256(const void *in, size_t n, uint8_t out[HASH_SHA256_LEN]);
/* Lower-case hex SHA-256 of a string: how secrets (admin key, client
 * secrets, refresh tokens) are stored. out must hold 65 bytes. */
void hash_sha256_hex(const char *s, size_t n, char out[65]);
void hash_hmac_sha256(const uint8_t *key, size_t keylen, const void *in, size_t n,
                      uint8_t out[HASH_SHA256_LEN]);
/* Constant-time equality of two byte strings; lengths are compared first
 * (length is not secret for our fixed-size digests). */
bool hash_ct_eq(const void *a, size_t alen, const void *b, size_t blen);
/* Fills buf with n cryptographically random bytes. */
void hash_random(void *buf, size_t n);

#endif
