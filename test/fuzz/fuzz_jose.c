/*
 * fuzz_jose: JWS, JWK and DPoP parsing (crypto/jws.c, jwk.c, dpop.c) with
 * fixed keys. The first byte picks what the rest is:
 *   0  a compact JWS: jws_parse, then jws_verify with each fixed key;
 *   1  a JWK (JSON): jwk_from_json and the thumbprints;
 *   2  a DPoP proof: dpop_verify against a fixed request;
 *   3  DPoP claims: signed here with the fixed Ed25519 key so the claim
 *      checks after the signature are reached, then dpop_verify;
 *   4  a URI: dpop_htu_normalize.
 *
 * Properties: only the listed error codes come back; an imported key is
 * public and its own public JWK imports again with the same thumbprint; a
 * proof that verifies names its key's thumbprint, a jti and a fresh iat, and
 * dropping the token, binding and nonce checks never turns a pass into a
 * failure; htu normalisation is idempotent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/dpop.h"
#include "crypto/jwk.h"
#include "crypto/jws.h"
#include "fuzz_app.h"

#define NOW 1700000000
#define WINDOW 60
#define HTU "https://as.example/oauth/token"
#define ACCESS_TOKEN "at-fuzz"
#define NONCE "n-fuzz"

/* Test keys made for this target and nothing else. */
static const char *const public_jwks[] = {
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"LAzMOLt-6v2zuvfQLTPSIo14e5Y626Y3ud_T0QBwPZ0\"}",
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"Jp-v7MqYJcJYUC1uUqEISGGxYaOeY6KLA2f4xYPkaCM\","
    "\"y\":\"E3tLEyeFAflDF6KKCL69JKauzaSVnY7sxTyyrV2GnXo\"}",
    "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"ssXGKJpMgvVgHxS9YVQSEKDmxlEV6Jdx-ANl9zh7miaecodO5G8wxX"
    "vOKFpB2NitkN5rOiX1gTf8qYG3IzGCs1SXbvxXMOmHmQVBzhwBmYwZ4AVlqDN2u5Mg3m8wpn34auof1EUZVNhbZTelSn"
    "-UZrYRshhlikfIJx26o77QLss1sfX4hkM8f19ngEsCxa_QY6mOR2uxnXmVp4az1IuB8KYPid0jdhX61obZM51OLHtrSb"
    "27KjFl6UxTgiWoANccMIPb88SjdEm16zwo8HVAksWb597j3g3A0YSYZRROqVq8Bi4EQrK72v2jVuDButmXelIVxhNRlK"
    "Kz6M2WECixHQ\"}",
};
static const uint8_t ed25519_der[48] = {
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    0xe2, 0x5c, 0x96, 0xc5, 0xd3, 0x37, 0x4b, 0x95, 0xc7, 0xc8, 0x9c, 0xea, 0xa4, 0xff, 0xae, 0xbc,
    0x77, 0x52, 0x7b, 0x2d, 0xba, 0x82, 0x0a, 0x00, 0xbf, 0x60, 0x86, 0x42, 0x99, 0xa4, 0x9c, 0xc2,
};

static jwk_key *pub[3], *signer;
static char signer_jkt[JWK_THUMBPRINT_LEN + 1];
static char *dpop_header; /* {"typ":"dpop+jwt","alg":"EdDSA","jwk":{...}} */

static void setup(void)
{
    for (int i = 0; i < 3; i++) {
        json_t *j = json_loads(public_jwks[i], 0, NULL);
        FUZZ_ASSERT(j != NULL && jwk_from_json(j, &pub[i]) == 0);
        json_decref(j);
    }
    FUZZ_ASSERT(jwk_from_private_der(ed25519_der, sizeof(ed25519_der), JWK_EDDSA, &signer) == 0);
    FUZZ_ASSERT(jwk_thumbprint(signer, signer_jkt) == 0);
    json_t *h = json_pack("{s:s,s:s,s:o}", "typ", "dpop+jwt", "alg", "EdDSA", "jwk",
                          jwk_public_json(signer));
    dpop_header = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    FUZZ_ASSERT(dpop_header != NULL);
}

static void fuzz_jws(const char *s, size_t n)
{
    jws_token *t;
    int rc = jws_parse(s, n, &t);
    FUZZ_ASSERT(rc == 0 || rc == JWS_ERR_FORMAT || rc == JWS_ERR_ALG || rc == JWS_ERR_INTERNAL);
    if (rc != 0)
        return;
    FUZZ_ASSERT(json_is_object(jws_header(t)));
    FUZZ_ASSERT(jws_claims(t) == NULL || json_is_object(jws_claims(t)));
    size_t pl;
    FUZZ_ASSERT(jws_payload(t, &pl) != NULL && pl <= n);
    for (int i = 0; i < 3; i++) {
        int v = jws_verify(t, pub[i]);
        FUZZ_ASSERT(v == 0 || v == JWS_ERR_SIG || v == JWS_ERR_KEY);
    }
    jws_free(t);
}

static void fuzz_jwk(const char *s, size_t n)
{
    json_t *j = json_loadb(s, n, 0, NULL);
    if (j == NULL)
        return;
    char tp[JWK_THUMBPRINT_LEN + 1], tp2[JWK_THUMBPRINT_LEN + 1];
    if (jwk_thumbprint_json(j, tp) == 0)
        FUZZ_ASSERT(strlen(tp) == JWK_THUMBPRINT_LEN);
    jwk_key *k;
    int rc = jwk_from_json(j, &k);
    FUZZ_ASSERT(rc == 0 || rc == JWK_ERR_INVALID || rc == JWK_ERR_PRIVATE ||
                rc == JWK_ERR_SYMMETRIC || rc == JWK_ERR_INTERNAL);
    json_decref(j);
    if (rc != 0)
        return;
    FUZZ_ASSERT(!jwk_is_private(k));
    FUZZ_ASSERT(jwk_thumbprint(k, tp) == 0);
    json_t *again = jwk_public_json(k);
    jwk_key *k2;
    FUZZ_ASSERT(again != NULL && jwk_from_json(again, &k2) == 0);
    FUZZ_ASSERT(jwk_thumbprint(k2, tp2) == 0 && strcmp(tp, tp2) == 0);
    FUZZ_ASSERT(jwk_thumbprint_json(again, tp2) == 0 && strcmp(tp, tp2) == 0);
    json_decref(again);
    jwk_free(k2);
    jwk_free(k);
}

/* jkt: the thumbprint a verified proof must name, or NULL for any. */
static void check_dpop(int rc, const dpop_result *r, const char *jkt)
{
    FUZZ_ASSERT(rc <= 0 && rc >= DPOP_ERR_INTERNAL);
    FUZZ_ASSERT(r->reason != NULL && (rc == 0) == (r->reason[0] == '\0'));
    if (rc != 0)
        return;
    FUZZ_ASSERT(strlen(r->jkt) == JWK_THUMBPRINT_LEN && (jkt == NULL || strcmp(r->jkt, jkt) == 0));
    FUZZ_ASSERT(r->jti[0] != '\0' && r->iat >= NOW - WINDOW && r->iat <= NOW + WINDOW);
}

static void fuzz_dpop(const char *s)
{
    dpop_result r;
    int rc = dpop_verify(s, "POST", HTU, NOW, WINDOW, ACCESS_TOKEN, NULL, NONCE, &r);
    check_dpop(rc, &r, NULL);
}

static void fuzz_dpop_claims(const char *claims, size_t n)
{
    char *proof = jws_sign_raw(signer, dpop_header, claims, n);
    FUZZ_ASSERT(proof != NULL);
    dpop_result r;
    int rc = dpop_verify(proof, "POST", HTU, NOW, WINDOW, ACCESS_TOKEN, signer_jkt, NONCE, &r);
    FUZZ_ASSERT(rc == 0 || rc == DPOP_ERR_CLAIMS || rc == DPOP_ERR_HTM || rc == DPOP_ERR_HTU ||
                rc == DPOP_ERR_IAT || rc == DPOP_ERR_ATH || rc == DPOP_ERR_NONCE);
    check_dpop(rc, &r, signer_jkt);
    /* Without the binding, nonce and token checks the same proof may pass,
     * never the other way round. */
    dpop_result r2;
    int rc2 = dpop_verify(proof, "POST", HTU, NOW, WINDOW, NULL, NULL, NULL, &r2);
    FUZZ_ASSERT(rc != 0 || rc2 == 0);
    check_dpop(rc2, &r2, signer_jkt);
    free(proof);
}

static void fuzz_htu(const char *s)
{
    char a[DPOP_HTU_MAX + 1], b[DPOP_HTU_MAX + 1];
    long n = dpop_htu_normalize(s, a, sizeof(a));
    if (n < 0)
        return;
    FUZZ_ASSERT((size_t)n == strlen(a));
    long m = dpop_htu_normalize(a, b, sizeof(b));
    FUZZ_ASSERT(m == n && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (signer == NULL)
        setup();
    if (size < 1)
        return 0;
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    switch (data[0] % 5) {
    case 0:
        fuzz_jws(s, size - 1);
        break;
    case 1:
        fuzz_jwk(s, size - 1);
        break;
    case 2:
        fuzz_dpop(s);
        break;
    case 3:
        fuzz_dpop_claims(s, size - 1);
        break;
    case 4:
        fuzz_htu(s);
        break;
    }
    free(s);
    return 0;
}
