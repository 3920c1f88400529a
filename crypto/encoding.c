#include "encoding.h"

#include <limits.h>
#include <string.h>

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char B64STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

size_t enc_b64url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Shared encoder; pad selects '=' padding to a multiple of four. */
static long b64_encode(const char *alpha, int pad, const uint8_t *in, size_t n, char *out,
                       size_t outsz)
{
    size_t len = pad ? (n + 2) / 3 * 4 : enc_b64url_len(n);
    size_t i = 0, o = 0;

    if (len >= outsz || len > (size_t)LONG_MAX)
        return -1;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = alpha[v >> 6 & 63];
        out[o++] = alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = alpha[v >> 6 & 63];
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return (long)o;
}

long enc_b64url(const uint8_t *in, size_t n, char *out, size_t outsz)
{
    return b64_encode(B64URL, 0, in, n, out, outsz);
}

long enc_b64(const uint8_t *in, size_t n, char *out, size_t outsz)
{
    return b64_encode(B64STD, 1, in, n, out, outsz);
}

/* Value of one base64 character in the given variant, or -1. */
static int b64_val(char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/*
 * Decodes n characters without padding. Rejects a length of 4k+1 and
 * non-zero trailing bits, so every byte string has exactly one accepted
 * encoding.
 */
static long b64_decode(int url, const char *in, size_t n, uint8_t *out, size_t outsz)
{
    size_t len = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    size_t i = 0, o = 0;
    uint32_t v = 0;
    int bits = 0;

    if (n % 4 == 1 || len > outsz || len > (size_t)LONG_MAX)
        return -1;
    for (; i < n; i++) {
        int d = b64_val(in[i], url);
        if (d < 0)
            return -1;
        v = v << 6 | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(v >> bits);
            v &= (1u << bits) - 1;
        }
    }
    if (v != 0)
        return -1;
    return (long)o;
}

long enc_b64url_decode(const char *in, size_t n, uint8_t *out, size_t outsz)
{
    return b64_decode(1, in, n, out, outsz);
}

long enc_b64_decode(const char *in, size_t n, uint8_t *out, size_t outsz)
{
    size_t pad = 0;

    /* Canonical padded form only: a multiple of four, at most two '='. */
    if (n % 4 != 0)
        return -1;
    while (pad < 2 && pad < n && in[n - 1 - pad] == '=')
        pad++;
    if (pad > 0 && memchr(in, '=', n - pad) != NULL)
        return -1;
    return b64_decode(0, in, n - pad, out, outsz);
}

long enc_hex(const uint8_t *in, size_t n, char *out, size_t outsz)
{
    static const char hex[] = "0123456789abcdef";

    if (n > (size_t)LONG_MAX / 2 || 2 * n >= outsz)
        return -1;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
    return (long)(2 * n);
}

/* ceil(n * 8 / log2(62)); never an exact integer for n > 0. */
static size_t base62_width(size_t n)
{
    double w = (double)n * 8.0 / 5.954196310386876;
    size_t iw = (size_t)w;

    return iw + (w > (double)iw);
}

long enc_base62(const uint8_t *in, size_t n, char *out, size_t outsz)
{
    size_t w = base62_width(n);

    if (w >= outsz || w > (size_t)LONG_MAX)
        return -1;
    /*
     * out doubles as the little-endian digit array: multiply by 256 and
     * add each input byte. The fixed width holds any n-byte number, so
     * the carry is zero at the end.
     */
    memset(out, 0, w);
    for (size_t i = 0; i < n; i++) {
        unsigned carry = in[i];
        for (size_t d = 0; d < w; d++) {
            unsigned v = (unsigned)(uint8_t)out[d] * 256u + carry;
            out[d] = (char)(v % 62);
            carry = v / 62;
        }
    }
    for (size_t a = 0, b = w; a + 1 < b; a++, b--) {
        char t = out[a];
        out[a] = out[b - 1];
        out[b - 1] = t;
    }
    for (size_t d = 0; d < w; d++)
        out[d] = B62[(uint8_t)out[d]];
    out[w] = '\0';
    return (long)w;
}
