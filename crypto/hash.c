#include "hash.h"

#include <sodium.h>

#include "encoding.h"

/*
 * libsodium's SHA-256 and HMAC cannot fail and need no context; inputs here
 * are short (tokens, secrets), so they are as quick as libcrypto's.
 * The caller (main) runs sodium_init() once before any of this.
 */
void hash_sha256(const void *in, size_t n, uint8_t out[HASH_SHA256_LEN])
{
    crypto_hash_sha256(out, in, n);
}

void hash_sha256_hex(const char *s, size_t n, char out[65])
{
    uint8_t d[HASH_SHA256_LEN];

    crypto_hash_sha256(d, (const unsigned char *)s, n);
    enc_hex(d, sizeof d, out, 65);
}

void hash_hmac_sha256(const uint8_t *key, size_t keylen, const void *in, size_t n,
                      uint8_t out[HASH_SHA256_LEN])
{
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, in, n);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

bool hash_ct_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    if (alen == 0)
        return true;
    return sodium_memcmp(a, b, alen) == 0;
}

void hash_random(void *buf, size_t n)
{
    randombytes_buf(buf, n);
}
