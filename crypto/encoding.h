/*
 * encoding: base64url (RFC 4648 §5, no padding), standard base64, base62 and
 * hex. Pure: bytes in, bytes out. Output buffers are caller-owned; sizes are
 * checked and a too-small buffer is an error (-1), never an overflow.
 */
#ifndef SHARK_CRYPTO_ENCODING_H
#define SHARK_CRYPTO_ENCODING_H

#include <stddef.h>
#include <stdint.h>

/* Encoded length for n input bytes (without NUL). */
size_t enc_b64url_len(size_t n);
/* Writes NUL-terminated text; returns its length or -1 if out is too small. */
long enc_b64url(const uint8_t *in, size_t n, char *out, size_t outsz);
/* Decodes unpadded base64url (rejects padding, whitespace, bad characters);
 * returns the byte count or -1. */
long enc_b64url_decode(const char *in, size_t n, uint8_t *out, size_t outsz);

/* Standard base64 with padding (webhook secrets, Basic auth). */
long enc_b64(const uint8_t *in, size_t n, char *out, size_t outsz);
long enc_b64_decode(const char *in, size_t n, uint8_t *out, size_t outsz);

/* Lower-case hex; returns length written (2n) or -1. */
long enc_hex(const uint8_t *in, size_t n, char *out, size_t outsz);

/* Base62 text of a big-endian number (0-9A-Za-z alphabet), left-padded with
 * '0' to the fixed width ceil(n*8/log2(62)) so every key has one length. */
long enc_base62(const uint8_t *in, size_t n, char *out, size_t outsz);

#endif
