#include "seal.h"

#include <sodium.h>

#define SEAL_NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES

_Static_assert(SEAL_OVERHEAD == 1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                                    crypto_aead_xchacha20poly1305_ietf_ABYTES,
               "SEAL_OVERHEAD must match the libsodium AEAD");
_Static_assert(SEAL_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
               "SEAL_KEY_LEN must match the libsodium AEAD");

/*
 * The version byte is not authenticated on its own: it only picks the key,
 * and a box relabelled to another version is opened with another key and
 * fails.
 */
long seal_box(const uint8_t key[SEAL_KEY_LEN], uint8_t key_version, const uint8_t *msg, size_t n,
              const uint8_t *ad, size_t adlen, uint8_t *out, size_t outsz)
{
    unsigned long long clen = 0;

    if (n > outsz || outsz - n < SEAL_OVERHEAD ||
        n > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX)
        return -1;
    out[0] = key_version;
    randombytes_buf(out + 1, SEAL_NONCE_LEN);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 1 + SEAL_NONCE_LEN, &clen, msg, n, ad, adlen,
                                               NULL, out + 1, key);
    return (long)(1 + SEAL_NONCE_LEN + clen);
}

long seal_open(const uint8_t key[SEAL_KEY_LEN], const uint8_t *box, size_t n, const uint8_t *ad,
               size_t adlen, uint8_t *out, size_t outsz)
{
    unsigned long long mlen = 0;

    if (n < SEAL_OVERHEAD || n - SEAL_OVERHEAD > outsz)
        return -1;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, box + 1 + SEAL_NONCE_LEN,
                                                   n - 1 - SEAL_NONCE_LEN, ad, adlen, box + 1,
                                                   key) != 0)
        return -1;
    return (long)mlen;
}

int seal_key_version(const uint8_t *box, size_t n)
{
    return n < SEAL_OVERHEAD ? -1 : box[0];
}
