#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/dpop.h"
#include "crypto/encoding.h"
#include "crypto/jws.h"

#define NOW 1700000000
#define WINDOW 60
#define HTU "https://example.com/token"
/* RFC 9449 §4.2 example access token and its ath. */
#define AT "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
#define AT_ATH "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"

struct fixture {
    jwk_key *key;
    char jkt[JWK_THUMBPRINT_LEN + 1];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    if (sodium_init() < 0 || f == NULL || jwk_generate(JWK_ES256, &f->key) != 0 ||
        jwk_thumbprint(f->key, f->jkt) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    jwk_free(f->key);
    free(f);
    return 0;
}

static json_t *claims(const char *htm, const char *htu, json_int_t iat)
{
    return json_pack("{s:s, s:s, s:s, s:I}", "jti", "e1j3V_bKic8-LAEB", "htm", htm, "htu", htu,
                     "iat", iat);
}

/* A proof with the standard header {typ: dpop+jwt, alg, jwk}; takes c. */
static char *proof(const jwk_key *key, json_t *c)
{
    char *body = json_dumps(c, JSON_COMPACT);
    char *out = jws_sign(key, "dpop+jwt", NULL, 1, body, strlen(body));

    free(body);
    json_decref(c);
    assert_non_null(out);
    return out;
}

/* A proof under a caller-built header (with the key's public JWK unless
 * jwk is given); takes hdr and c. */
static char *proof_hdr(const jwk_key *key, json_t *hdr, json_t *jwk, json_t *c)
{
    char *h, *body, *out;

    json_object_set_new(hdr, "jwk", jwk ? jwk : jwk_public_json(key));
    h = json_dumps(hdr, JSON_COMPACT);
    body = json_dumps(c, JSON_COMPACT);
    out = jws_sign_raw(key, h, body, strlen(body));
    free(h);
    free(body);
    json_decref(hdr);
    json_decref(c);
    assert_non_null(out);
    return out;
}

static int verify(const char *p, const char *at, const char *jkt, const char *nonce, dpop_result *r)
{
    return dpop_verify(p, "POST", HTU, NOW, WINDOW, at, jkt, nonce, r);
}

/* verify() on a proof string, freed afterwards. */
static int verify_free(char *p, const char *at, const char *jkt, const char *nonce)
{
    dpop_result r;
    int rc = verify(p, at, jkt, nonce, &r);

    assert_non_null(r.reason);
    if (rc != 0)
        assert_true(strlen(r.reason) > 0);
    free(p);
    return rc;
}

static void test_valid(void **state)
{
    struct fixture *f = *state;
    jwk_key *keys[3] = {NULL};
    jwk_alg algs[3] = {JWK_EDDSA, JWK_RS256, JWK_PS256};
    dpop_result r;
    char *p = proof(f->key, claims("POST", HTU, NOW));

    assert_int_equal(verify(p, NULL, f->jkt, NULL, &r), 0);
    assert_string_equal(r.jti, "e1j3V_bKic8-LAEB");
    assert_string_equal(r.jkt, f->jkt);
    assert_int_equal(r.iat, NOW);
    assert_string_equal(r.htu, HTU);
    assert_string_equal(r.reason, "");
    free(p);

    /* Edges of the iat window are inside it. */
    assert_int_equal(
        verify_free(proof(f->key, claims("POST", HTU, NOW - WINDOW)), NULL, NULL, NULL), 0);
    assert_int_equal(
        verify_free(proof(f->key, claims("POST", HTU, NOW + WINDOW)), NULL, NULL, NULL), 0);

    /* The other algorithms. */
    for (int i = 0; i < 3; i++) {
        char jkt[JWK_THUMBPRINT_LEN + 1];
        assert_int_equal(jwk_generate(algs[i], &keys[i]), 0);
        assert_int_equal(jwk_thumbprint(keys[i], jkt), 0);
        assert_int_equal(verify_free(proof(keys[i], claims("POST", HTU, NOW)), NULL, jkt, NULL), 0);
        jwk_free(keys[i]);
    }
}

static void test_htu_normalization(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(
        verify_free(proof(f->key, claims("POST", "HTTPS://Example.COM:443/token?x=1", NOW)), NULL,
                    NULL, NULL),
        0);
    assert_int_equal(
        verify_free(proof(f->key, claims("POST", "https://example.com/token#frag", NOW)), NULL,
                    NULL, NULL),
        0);
    assert_int_equal(verify_free(proof(f->key, claims("POST", "https://example.com/tok%65n", NOW)),
                                 NULL, NULL, NULL),
                     0);
    assert_int_equal(
        verify_free(proof(f->key, claims("POST", "https://example.com/a/../token", NOW)), NULL,
                    NULL, NULL),
        0);
    /* Different path, host, scheme or port. */
    assert_int_equal(verify_free(proof(f->key, claims("POST", "https://example.com/Token", NOW)),
                                 NULL, NULL, NULL),
                     DPOP_ERR_HTU);
    assert_int_equal(verify_free(proof(f->key, claims("POST", "https://example.org/token", NOW)),
                                 NULL, NULL, NULL),
                     DPOP_ERR_HTU);
    assert_int_equal(verify_free(proof(f->key, claims("POST", "http://example.com/token", NOW)),
                                 NULL, NULL, NULL),
                     DPOP_ERR_HTU);
    assert_int_equal(
        verify_free(proof(f->key, claims("POST", "https://example.com:8443/token", NOW)), NULL,
                    NULL, NULL),
        DPOP_ERR_HTU);
    assert_int_equal(verify_free(proof(f->key, claims("POST", "/token", NOW)), NULL, NULL, NULL),
                     DPOP_ERR_HTU);
}

static void test_htu_normalize_unit(void **state)
{
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"HTTPS://Example.COM:443/token?x=1", "https://example.com/token"},
        {"https://example.com", "https://example.com/"},
        {"https://example.com?q", "https://example.com/"},
        {"https://example.com:/x", "https://example.com/x"},
        {"http://example.com:80/x", "http://example.com/x"},
        {"http://example.com:443/x", "http://example.com:443/x"},
        {"https://example.com:08443/x", "https://example.com:8443/x"},
        {"https://example.com/a%2fb%7e%41", "https://example.com/a%2Fb~A"},
        {"https://example.com/a/b/c/./../../g", "https://example.com/a/g"},
        {"https://example.com/a/b/..", "https://example.com/a/"},
        {"https://example.com/../..", "https://example.com/"},
        {"https://example.com/a/%2E%2E/b", "https://example.com/b"},
        {"https://example.com//x", "https://example.com//x"},
        {"https://[::1]:443/x", "https://[::1]/x"},
        {"https://[FE80::1]:8080/", "https://[fe80::1]:8080/"},
        {"https://EXAMPLE.com%2ecom/", "https://example.com.com/"},
    };
    static const char *const bad[] = {
        "",
        "example.com/token",
        "https:/example.com/token",
        "https://user@example.com/token",
        "https:///token",
        "https://example.com:99999/",
        "https://example.com:4a3/",
        "https://example.com/to ken",
        "https://example.com/%zz",
        "https://example.com/%4",
        "https://exa mple.com/",
        "https://[::1/",
        "https://example.com/\xc3\xa9",
    };
    char out[128];

    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(dpop_htu_normalize(ok[i].in, out, sizeof out), strlen(ok[i].out));
        assert_string_equal(out, ok[i].out);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(dpop_htu_normalize(bad[i], out, sizeof out), -1);
    assert_int_equal(dpop_htu_normalize("https://example.com/token", out, 25), -1);
    assert_int_equal(dpop_htu_normalize("https://example.com/token", out, 26), 25);
}

static void test_htm_iat(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(verify_free(proof(f->key, claims("GET", HTU, NOW)), NULL, NULL, NULL),
                     DPOP_ERR_HTM);
    assert_int_equal(verify_free(proof(f->key, claims("post", HTU, NOW)), NULL, NULL, NULL),
                     DPOP_ERR_HTM);
    assert_int_equal(
        verify_free(proof(f->key, claims("POST", HTU, NOW - WINDOW - 1)), NULL, NULL, NULL),
        DPOP_ERR_IAT);
    assert_int_equal(
        verify_free(proof(f->key, claims("POST", HTU, NOW + WINDOW + 1)), NULL, NULL, NULL),
        DPOP_ERR_IAT);
}

static void test_missing_claims(void **state)
{
    static const char *const names[] = {"jti", "htm", "htu", "iat"};
    struct fixture *f = *state;
    char long_jti[DPOP_JTI_MAX + 2];
    json_t *c;

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        c = claims("POST", HTU, NOW);
        json_object_del(c, names[i]);
        assert_int_equal(verify_free(proof(f->key, c), NULL, NULL, NULL), DPOP_ERR_CLAIMS);
    }
    c = claims("POST", HTU, NOW);
    json_object_set_new(c, "jti", json_string(""));
    assert_int_equal(verify_free(proof(f->key, c), NULL, NULL, NULL), DPOP_ERR_CLAIMS);
    c = claims("POST", HTU, NOW);
    json_object_set_new(c, "iat", json_string("1700000000"));
    assert_int_equal(verify_free(proof(f->key, c), NULL, NULL, NULL), DPOP_ERR_CLAIMS);

    /* jti: 256 characters are fine, 257 are not. */
    memset(long_jti, 'j', sizeof long_jti - 1);
    long_jti[DPOP_JTI_MAX + 1] = '\0';
    c = claims("POST", HTU, NOW);
    json_object_set_new(c, "jti", json_string(long_jti));
    assert_int_equal(verify_free(proof(f->key, c), NULL, NULL, NULL), DPOP_ERR_CLAIMS);
    long_jti[DPOP_JTI_MAX] = '\0';
    c = claims("POST", HTU, NOW);
    json_object_set_new(c, "jti", json_string(long_jti));
    assert_int_equal(verify_free(proof(f->key, c), NULL, NULL, NULL), 0);

    /* A payload that is not a JSON object. */
    assert_int_equal(verify_free(jws_sign(f->key, "dpop+jwt", NULL, 1, "jti", 3), NULL, NULL, NULL),
                     DPOP_ERR_CLAIMS);
}

static void test_ath(void **state)
{
    struct fixture *f = *state;
    json_t *c;

    c = claims("POST", HTU, NOW);
    json_object_set_new(c, "ath", json_string(AT_ATH));
    assert_int_equal(verify_free(proof(f->key, c), AT, NULL, NULL), 0);
    /* Missing ath when a token is presented. */
    assert_int_equal(verify_free(proof(f->key, claims("POST", HTU, NOW)), AT, NULL, NULL),
                     DPOP_ERR_ATH);
    /* ath of another token. */
    c = claims("POST", HTU, NOW);
    json_object_set_new(c, "ath", json_string(AT_ATH));
    assert_int_equal(verify_free(proof(f->key, c), "another-token", NULL, NULL), DPOP_ERR_ATH);
}

static void test_jkt_and_nonce(void **state)
{
    struct fixture *f = *state;
    json_t *c;

    assert_int_equal(verify_free(proof(f->key, claims("POST", HTU, NOW)), NULL,
                                 "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", NULL),
                     DPOP_ERR_JKT);
    /* Nonce required and missing, wrong, right. */
    assert_int_equal(verify_free(proof(f->key, claims("POST", HTU, NOW)), NULL, NULL, "n-1"),
                     DPOP_ERR_NONCE);
    c = claims("POST", HTU, NOW);
    json_object_set_new(c, "nonce", json_string("n-0"));
    assert_int_equal(verify_free(proof(f->key, c), NULL, NULL, "n-1"), DPOP_ERR_NONCE);
    c = claims("POST", HTU, NOW);
    json_object_set_new(c, "nonce", json_string("n-1"));
    assert_int_equal(verify_free(proof(f->key, c), NULL, f->jkt, "n-1"), 0);
    /* A nonce the server did not ask for is ignored. */
    c = claims("POST", HTU, NOW);
    json_object_set_new(c, "nonce", json_string("n-1"));
    assert_int_equal(verify_free(proof(f->key, c), NULL, NULL, NULL), 0);
}

static void test_header_rejections(void **state)
{
    struct fixture *f = *state;
    char hdr_b64[256], body_b64[256], *p, *s;
    json_t *jwk;
    dpop_result r;

    /* typ wrong, missing */
    p = jws_sign(f->key, "JWT", NULL, 1, "{}", 2);
    assert_int_equal(verify_free(p, NULL, NULL, NULL), DPOP_ERR_TYP);
    p = proof_hdr(f->key, json_pack("{s:s}", "alg", "ES256"), NULL, claims("POST", HTU, NOW));
    assert_int_equal(verify_free(p, NULL, NULL, NULL), DPOP_ERR_TYP);

    /* jwk missing */
    p = jws_sign(f->key, "dpop+jwt", NULL, 0, "{}", 2);
    assert_int_equal(verify_free(p, NULL, NULL, NULL), DPOP_ERR_JWK);

    /* jwk with a private member (RFC 7515 A.3's d; its value is not read). */
    jwk = jwk_public_json(f->key);
    json_object_set_new(jwk, "d", json_string("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"));
    p = proof_hdr(f->key, json_pack("{s:s, s:s}", "typ", "dpop+jwt", "alg", "ES256"), jwk,
                  claims("POST", HTU, NOW));
    assert_int_equal(verify(p, NULL, NULL, NULL, &r), DPOP_ERR_JWK);
    assert_non_null(strstr(r.reason, "private"));
    free(p);

    /* Symmetric jwk */
    p = proof_hdr(f->key, json_pack("{s:s, s:s}", "typ", "dpop+jwt", "alg", "ES256"),
                  json_pack("{s:s, s:s}", "kty", "oct", "k", "GawgguFyGrWKav7AX4VKUg"),
                  claims("POST", HTU, NOW));
    assert_int_equal(verify_free(p, NULL, NULL, NULL), DPOP_ERR_JWK);

    /* Signed by another key than the embedded one. */
    {
        jwk_key *other = NULL;
        assert_int_equal(jwk_generate(JWK_ES256, &other), 0);
        p = proof_hdr(other, json_pack("{s:s, s:s}", "typ", "dpop+jwt", "alg", "ES256"),
                      jwk_public_json(f->key), claims("POST", HTU, NOW));
        jwk_free(other);
        assert_int_equal(verify_free(p, NULL, NULL, NULL), DPOP_ERR_SIG);
    }

    /* Tampered signature. */
    p = proof(f->key, claims("POST", HTU, NOW));
    s = strrchr(p, '.') + 5;
    *s = *s == 'A' ? 'B' : 'A';
    assert_int_equal(verify_free(p, NULL, NULL, NULL), DPOP_ERR_SIG);

    /* alg none and HS256, hand-built; and alg not fitting the jwk. */
    jwk = jwk_public_json(f->key);
    {
        json_t *h = json_pack("{s:s, s:s, s:O}", "typ", "dpop+jwt", "alg", "none", "jwk", jwk);
        const char *body = "{\"jti\":\"x\"}";
        char *hj = json_dumps(h, JSON_COMPACT), buf[600];

        enc_b64url((const uint8_t *)hj, strlen(hj), hdr_b64, sizeof hdr_b64);
        enc_b64url((const uint8_t *)body, strlen(body), body_b64, sizeof body_b64);
        snprintf(buf, sizeof buf, "%s.%s.", hdr_b64, body_b64);
        assert_int_equal(verify(buf, NULL, NULL, NULL, &r), DPOP_ERR_FORMAT);
        snprintf(buf, sizeof buf, "%s.%s.AAAA", hdr_b64, body_b64);
        assert_int_equal(verify(buf, NULL, NULL, NULL, &r), DPOP_ERR_ALG);
        free(hj);
        json_object_set_new(h, "alg", json_string("HS256"));
        hj = json_dumps(h, JSON_COMPACT);
        enc_b64url((const uint8_t *)hj, strlen(hj), hdr_b64, sizeof hdr_b64);
        snprintf(buf, sizeof buf, "%s.%s.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", hdr_b64,
                 body_b64);
        assert_int_equal(verify(buf, NULL, NULL, NULL, &r), DPOP_ERR_ALG);
        free(hj);
        json_decref(h);
    }
    json_decref(jwk);
    p = proof_hdr(f->key, json_pack("{s:s, s:s}", "typ", "dpop+jwt", "alg", "EdDSA"), NULL,
                  claims("POST", HTU, NOW));
    assert_int_equal(verify_free(p, NULL, NULL, NULL), DPOP_ERR_ALG);

    /* Not one JWS: two proofs joined, garbage, NULL. */
    p = proof(f->key, claims("POST", HTU, NOW));
    s = malloc(2 * strlen(p) + 2);
    sprintf(s, "%s,%s", p, p);
    assert_int_equal(verify_free(s, NULL, NULL, NULL), DPOP_ERR_FORMAT);
    free(p);
    assert_int_equal(verify("not-a-jwt", NULL, NULL, NULL, &r), DPOP_ERR_FORMAT);
    assert_int_equal(verify(NULL, NULL, NULL, NULL, &r), DPOP_ERR_FORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_htu_normalization),
        cmocka_unit_test(test_htu_normalize_unit),
        cmocka_unit_test(test_htm_iat),
        cmocka_unit_test(test_missing_claims),
        cmocka_unit_test(test_ath),
        cmocka_unit_test(test_jkt_and_nonce),
        cmocka_unit_test(test_header_rejections),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
