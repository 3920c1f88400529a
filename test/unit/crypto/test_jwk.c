#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/encoding.h"
#include "crypto/jwk.h"

/* RFC 7638 §3.1. */
#define RFC7638_N                                                                              \
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"  \
    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_" \
    "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"        \
    "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
#define RFC7638_JWK                       \
    "{\"kty\":\"RSA\",\"n\":\"" RFC7638_N \
    "\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}"
#define RFC7638_THUMB "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

/* RFC 8037 A.1 (private), A.2 (public) and A.3 (thumbprint). */
#define RFC8037_D "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC8037_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define RFC8037_THUMB "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"

/* RFC 7515 A.3 public key. */
#define RFC7515_EC_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define RFC7515_EC_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static json_t *js(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);

    assert_non_null(j);
    return j;
}

static int import(const char *text, jwk_key **key)
{
    json_t *j = js(text);
    int rc = jwk_from_json(j, key);

    json_decref(j);
    return rc;
}

/* PKCS#8 DER of an Ed25519 seed (RFC 8410 §7 layout). */
static size_t ed25519_der(const char *seed_b64, uint8_t der[48])
{
    static const uint8_t prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                       0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};

    memcpy(der, prefix, sizeof prefix);
    assert_int_equal(enc_b64url_decode(seed_b64, strlen(seed_b64), der + 16, 32), 32);
    return 48;
}

static void test_alg_names(void **state)
{
    jwk_alg a;

    (void)state;
    assert_int_equal(jwk_alg_parse("ES256", &a), 0);
    assert_int_equal(a, JWK_ES256);
    assert_string_equal(jwk_alg_name(a), "ES256");
    assert_int_equal(jwk_alg_parse("EdDSA", &a), 0);
    assert_int_equal(a, JWK_EDDSA);
    assert_int_equal(jwk_alg_parse("RS256", &a), 0);
    assert_int_equal(jwk_alg_parse("PS256", &a), 0);
    assert_int_equal(a, JWK_PS256);
    assert_int_equal(jwk_alg_parse("none", &a), -1);
    assert_int_equal(jwk_alg_parse("HS256", &a), -1);
    assert_int_equal(jwk_alg_parse("es256", &a), -1);
    assert_int_equal(jwk_alg_parse("ES384", &a), -1);
    assert_int_equal(jwk_alg_parse("", &a), -1);
    assert_int_equal(jwk_alg_parse(NULL, &a), -1);
}

static void test_rfc7638_thumbprint(void **state)
{
    char tp[JWK_THUMBPRINT_LEN + 1];
    json_t *j = js(RFC7638_JWK);
    jwk_key *key = NULL;

    (void)state;
    assert_int_equal(jwk_thumbprint_json(j, tp), 0);
    assert_string_equal(tp, RFC7638_THUMB);
    assert_int_equal(jwk_from_json(j, &key), 0);
    assert_int_equal(jwk_thumbprint(key, tp), 0);
    assert_string_equal(tp, RFC7638_THUMB);
    assert_int_equal(jwk_key_alg(key), JWK_RS256);
    assert_false(jwk_is_private(key));
    jwk_free(key);
    json_decref(j);
}

static void test_rfc8037_ed25519(void **state)
{
    char tp[JWK_THUMBPRINT_LEN + 1];
    uint8_t der[48];
    jwk_key *priv = NULL, *pub = NULL;
    json_t *j;

    (void)state;
    /* A.1: the private JWK is refused at import... */
    assert_int_equal(import("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"" RFC8037_D
                            "\",\"x\":\"" RFC8037_X "\"}",
                            &priv),
                     JWK_ERR_PRIVATE);
    assert_null(priv);
    /* ...but the same key loads from PKCS#8 and derives A.2's public x. */
    assert_int_equal(jwk_from_private_der(der, ed25519_der(RFC8037_D, der), JWK_EDDSA, &priv), 0);
    assert_true(jwk_is_private(priv));
    j = jwk_public_json(priv);
    assert_string_equal(json_string_value(json_object_get(j, "x")), RFC8037_X);
    assert_string_equal(json_string_value(json_object_get(j, "crv")), "Ed25519");
    assert_string_equal(json_string_value(json_object_get(j, "kty")), "OKP");
    json_decref(j);
    /* A.2 imports; A.3 thumbprint from the key and from the JSON. */
    assert_int_equal(import("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X "\"}", &pub),
                     0);
    assert_int_equal(jwk_key_alg(pub), JWK_EDDSA);
    assert_int_equal(jwk_thumbprint(pub, tp), 0);
    assert_string_equal(tp, RFC8037_THUMB);
    assert_int_equal(jwk_thumbprint(priv, tp), 0);
    assert_string_equal(tp, RFC8037_THUMB);
    j = js("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X "\"}");
    assert_int_equal(jwk_thumbprint_json(j, tp), 0);
    assert_string_equal(tp, RFC8037_THUMB);
    json_decref(j);
    jwk_free(priv);
    jwk_free(pub);
}

static void test_refuse_private_and_symmetric(void **state)
{
    static const char *const members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    char text[256];
    jwk_key *key = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        snprintf(text, sizeof text,
                 "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC7515_EC_X
                 "\",\"y\":\"" RFC7515_EC_Y "\",\"%s\":\"AQAB\"}",
                 members[i]);
        assert_int_equal(import(text, &key), JWK_ERR_PRIVATE);
        assert_null(key);
    }
    assert_int_equal(import("{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"}", &key),
                     JWK_ERR_SYMMETRIC);
    assert_int_equal(import("{\"kty\":\"oct\"}", &key), JWK_ERR_SYMMETRIC);
    assert_null(key);
}

static void test_refuse_invalid(void **state)
{
    static const char *const bad[] = {
        "[]",
        "{}",
        "{\"kty\":1}",
        "{\"kty\":\"XYZ\"}",
        /* wrong curve, missing or short coordinates, point off the curve */
        "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"" RFC7515_EC_X "\",\"y\":\"" RFC7515_EC_Y "\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC7515_EC_X "\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AQAB\",\"y\":\"" RFC7515_EC_Y "\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC7515_EC_X
        "\",\"y\":\"y_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC7515_EC_X "=\",\"y\":\"" RFC7515_EC_Y "\"}",
        /* use other than sig, unknown or mismatched alg */
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC7515_EC_X "\",\"y\":\"" RFC7515_EC_Y
        "\",\"use\":\"enc\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC7515_EC_X "\",\"y\":\"" RFC7515_EC_Y
        "\",\"alg\":\"HS256\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC7515_EC_X "\",\"y\":\"" RFC7515_EC_Y
        "\",\"alg\":\"EdDSA\"}",
        "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"" RFC8037_X "\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AQAB\"}",
        /* RSA: 1024-bit modulus, even exponent, exponent 1 */
        "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"" RFC7638_N "\",\"alg\":\"ES256\"}",
        "{\"kty\":\"RSA\",\"e\":\"AQAA\",\"n\":\"" RFC7638_N "\"}",
        "{\"kty\":\"RSA\",\"e\":\"AQ\",\"n\":\"" RFC7638_N "\"}",
        "{\"kty\":\"RSA\",\"e\":\"AQAB\"}",
    };
    char small[400], n1024[200];
    uint8_t modulus[128];
    jwk_key *key = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(import(bad[i], &key), JWK_ERR_INVALID);
        assert_null(key);
    }
    /* A well-formed 1024-bit modulus is too short. */
    memset(modulus, 0xc3, sizeof modulus);
    assert_true(enc_b64url(modulus, sizeof modulus, n1024, sizeof n1024) > 0);
    snprintf(small, sizeof small, "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"%s\"}", n1024);
    assert_int_equal(import(small, &key), JWK_ERR_INVALID);
    assert_int_equal(jwk_from_json(NULL, &key), JWK_ERR_INVALID);
}

static void round_trip(jwk_alg alg)
{
    const char msg[] = "signing input";
    char tp1[JWK_THUMBPRINT_LEN + 1], tp2[JWK_THUMBPRINT_LEN + 1];
    uint8_t sig[JWK_SIG_MAX], der[2048];
    jwk_key *key = NULL, *pub = NULL, *loaded = NULL;
    json_t *j;
    long n, dl;

    assert_int_equal(jwk_generate(alg, &key), 0);
    assert_true(jwk_is_private(key));
    assert_int_equal(jwk_key_alg(key), alg);

    /* Export, import, same thumbprint; the exported JWK is public only. */
    j = jwk_to_json(key, "key_1");
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "kid")), "key_1");
    assert_string_equal(json_string_value(json_object_get(j, "alg")), jwk_alg_name(alg));
    assert_string_equal(json_string_value(json_object_get(j, "use")), "sig");
    assert_null(json_object_get(j, "d"));
    assert_int_equal(jwk_from_json(j, &pub), 0);
    assert_int_equal(jwk_thumbprint(key, tp1), 0);
    assert_int_equal(jwk_thumbprint(pub, tp2), 0);
    assert_string_equal(tp1, tp2);
    assert_int_equal(jwk_thumbprint_json(j, tp2), 0);
    assert_string_equal(tp1, tp2);
    assert_int_equal(strlen(tp1), JWK_THUMBPRINT_LEN);
    json_decref(j);

    /* Sign with the key reloaded from DER, verify with the public one. */
    dl = jwk_private_der(key, NULL, 0);
    assert_true(dl > 0 && (size_t)dl <= sizeof der);
    assert_int_equal(jwk_private_der(key, der, (size_t)dl - 1), JWK_ERR_SPACE);
    assert_int_equal(jwk_private_der(key, der, sizeof der), dl);
    assert_int_equal(jwk_from_private_der(der, (size_t)dl, alg, &loaded), 0);
    n = jwk_sign(loaded, alg, msg, strlen(msg), sig, sizeof sig);
    assert_int_equal(n, jwk_sig_len(key));
    assert_int_equal(jwk_verify(pub, alg, msg, strlen(msg), sig, (size_t)n), 0);
    assert_int_equal(jwk_verify(key, alg, msg, strlen(msg), sig, (size_t)n), 0);
    assert_int_equal(jwk_verify(pub, alg, msg, strlen(msg) - 1, sig, (size_t)n), JWK_ERR_BADSIG);
    assert_int_equal(jwk_verify(pub, alg, msg, strlen(msg), sig, (size_t)n - 1), JWK_ERR_BADSIG);
    sig[n / 2] ^= 0x01;
    assert_int_equal(jwk_verify(pub, alg, msg, strlen(msg), sig, (size_t)n), JWK_ERR_BADSIG);

    /* Public keys cannot sign or be serialized as private keys. */
    assert_int_equal(jwk_sign(pub, alg, msg, 1, sig, sizeof sig), JWK_ERR_NOKEY);
    assert_int_equal(jwk_private_der(pub, NULL, 0), JWK_ERR_NOKEY);
    assert_int_equal(jwk_sign(key, alg, msg, 1, sig, jwk_sig_len(key) - 1), JWK_ERR_SPACE);
    /* Trailing bytes after the DER are refused. */
    jwk_free(loaded);
    der[dl] = 0;
    assert_int_equal(jwk_from_private_der(der, (size_t)dl + 1, alg, &loaded), JWK_ERR_INVALID);
    assert_null(loaded);
    jwk_free(pub);
    jwk_free(key);
}

static void test_es256(void **state)
{
    (void)state;
    round_trip(JWK_ES256);
}

static void test_eddsa(void **state)
{
    (void)state;
    round_trip(JWK_EDDSA);
}

static void test_rs256(void **state)
{
    (void)state;
    round_trip(JWK_RS256);
}

static void test_ps256(void **state)
{
    (void)state;
    round_trip(JWK_PS256);
}

static void test_alg_key_mismatch(void **state)
{
    uint8_t sig[JWK_SIG_MAX], der[2048];
    jwk_key *ec = NULL, *rsa = NULL, *loose = NULL, *bad = NULL;
    json_t *j;
    long n;

    (void)state;
    assert_int_equal(jwk_generate(JWK_ES256, &ec), 0);
    assert_int_equal(jwk_sign(ec, JWK_EDDSA, "m", 1, sig, sizeof sig), JWK_ERR_INVALID);
    assert_int_equal(jwk_verify(ec, JWK_RS256, "m", 1, sig, 64), JWK_ERR_INVALID);

    /* An RSA key without "alg" serves RS256 and PS256; a pinned one only its
     * own alg. */
    assert_int_equal(jwk_generate(JWK_RS256, &rsa), 0);
    j = jwk_public_json(rsa);
    assert_int_equal(jwk_from_json(j, &loose), 0);
    json_decref(j);
    n = jwk_sign(rsa, JWK_RS256, "m", 1, sig, sizeof sig);
    assert_int_equal(jwk_verify(loose, JWK_RS256, "m", 1, sig, (size_t)n), 0);
    assert_int_equal(jwk_verify(loose, JWK_PS256, "m", 1, sig, (size_t)n), JWK_ERR_BADSIG);
    assert_int_equal(jwk_sign(rsa, JWK_PS256, "m", 1, sig, sizeof sig), JWK_ERR_INVALID);
    assert_int_equal(jwk_verify(rsa, JWK_PS256, "m", 1, sig, (size_t)n), JWK_ERR_INVALID);

    /* DER loading checks the alg against the key type. */
    n = jwk_private_der(ec, der, sizeof der);
    assert_int_equal(jwk_from_private_der(der, (size_t)n, JWK_EDDSA, &bad), JWK_ERR_INVALID);
    assert_int_equal(jwk_from_private_der(der, (size_t)n / 2, JWK_ES256, &bad), JWK_ERR_INVALID);
    assert_null(bad);
    jwk_free(ec);
    jwk_free(rsa);
    jwk_free(loose);
}

static void test_thumbprint_json_rejects(void **state)
{
    char tp[JWK_THUMBPRINT_LEN + 1];
    json_t *j;

    (void)state;
    j = js("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"a\\\"b\",\"y\":\"c\"}");
    assert_int_equal(jwk_thumbprint_json(j, tp), JWK_ERR_INVALID);
    json_decref(j);
    j = js("{\"kty\":\"RSA\",\"n\":\"abc\"}");
    assert_int_equal(jwk_thumbprint_json(j, tp), JWK_ERR_INVALID);
    json_decref(j);
    j = js("{\"kty\":\"oct\",\"k\":\"abc\"}");
    assert_int_equal(jwk_thumbprint_json(j, tp), JWK_ERR_INVALID);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alg_names),
        cmocka_unit_test(test_rfc7638_thumbprint),
        cmocka_unit_test(test_rfc8037_ed25519),
        cmocka_unit_test(test_refuse_private_and_symmetric),
        cmocka_unit_test(test_refuse_invalid),
        cmocka_unit_test(test_es256),
        cmocka_unit_test(test_eddsa),
        cmocka_unit_test(test_rs256),
        cmocka_unit_test(test_ps256),
        cmocka_unit_test(test_alg_key_mismatch),
        cmocka_unit_test(test_thumbprint_json_rejects),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
