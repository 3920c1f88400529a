/*
 * dpop: the checks on a DPoP proof (RFC 9449 §4.3) that need no I/O. The
 * caller still owns what needs state: jti replay (record out->jti with the
 * proof's key until iat + window), choosing and rotating nonces, and
 * binding tokens to out->jkt.
 *
 * Pure: the clock is passed in as now (Unix seconds); nothing is allocated
 * into the result, so a dpop_result can live on the stack.
 */
#ifndef SHARK_CRYPTO_DPOP_H
#define SHARK_CRYPTO_DPOP_H

#include <stddef.h>
#include <stdint.h>

#include "jwk.h"

#define DPOP_JTI_MAX 256
#define DPOP_HTU_MAX 2048

typedef struct {
    char jti[DPOP_JTI_MAX + 1];
    char jkt[JWK_THUMBPRINT_LEN + 1]; /* RFC 7638 thumbprint of the proof key */
    int64_t iat;
    char htu[DPOP_HTU_MAX + 1]; /* normalized */
    const char *reason;         /* static text for error_description; "" on success */
} dpop_result;

/* Every error but DPOP_ERR_NONCE answers invalid_dpop_proof; DPOP_ERR_NONCE
 * answers use_dpop_nonce with a fresh DPoP-Nonce header. */
enum {
    DPOP_ERR_FORMAT = -1, /* not one compact JWS, or undecodable */
    DPOP_ERR_TYP = -2,    /* typ is not dpop+jwt */
    DPOP_ERR_ALG = -3,    /* alg none, HS*, unknown, or not the jwk's */
    DPOP_ERR_JWK = -4,    /* jwk header missing, private, symmetric or invalid */
    DPOP_ERR_SIG = -5,    /* signature does not verify with the jwk */
    DPOP_ERR_CLAIMS = -6, /* jti, htm, htu or iat missing or malformed */
    DPOP_ERR_HTM = -7,    /* htm differs from the request method */
    DPOP_ERR_HTU = -8,    /* htu differs from the request URI */
    DPOP_ERR_IAT = -9,    /* iat outside [now - window, now + window] */
    DPOP_ERR_ATH = -10,   /* ath missing or not the access token's hash */
    DPOP_ERR_JKT = -11,   /* key is not the one the token is bound to */
    DPOP_ERR_NONCE = -12, /* nonce missing or not the expected one */
    DPOP_ERR_INTERNAL = -13,
};

/* Verifies proof for a request with method htm to htu. access_token (for
 * ath), expected_jkt and expected_nonce are checked when not NULL. Returns 0
 * and fills out, or a DPOP_ERR_* code with out->reason set. */
int dpop_verify(const char *proof, const char *htm, const char *htu, int64_t now, int iat_window_s,
                const char *access_token, const char *expected_jkt, const char *expected_nonce,
                dpop_result *out);

/* Where dpop_verify_keys gets the proof's key from its jwk header: import
 * answers as jwk_from_json would (0, JWK_ERR_PRIVATE, ...), with a key it
 * keeps valid at least until dpop_verify_keys returns. Lets a caller with
 * state (a cache outside crypto/) skip rebuilding the same key per proof. */
typedef struct dpop_keys {
    int (*import)(void *ud, const json_t *jwk, const jwk_key **key);
    void *ud;
} dpop_keys;
/* dpop_verify with the key from keys (NULL: imported for this call only). */
int dpop_verify_keys(const dpop_keys *keys, const char *proof, const char *htm, const char *htu,
                     int64_t now, int iat_window_s, const char *access_token,
                     const char *expected_jkt, const char *expected_nonce, dpop_result *out);

/* RFC 3986 §6.2.2/§6.2.3 normalization for htu comparison (RFC 9449 §4.3):
 * lower-case scheme and host, default port and empty port dropped, empty
 * path as "/", percent-encoding normalized (unreserved decoded, the rest
 * upper-case hex), dot segments removed, query and fragment dropped.
 * Returns the length written, or -1 for an invalid URI or small buffer. */
long dpop_htu_normalize(const char *in, char *out, size_t outsz);

#endif
