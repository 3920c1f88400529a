#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/encoding.h"
#include "crypto/jws.h"

/* RFC 7515 A.2 and A.3 share this payload (with CRLFs inside). */
#define A_PAYLOAD                                                                              \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0" \
    "cnVlfQ"

/* RFC 7515 A.3: ES256. */
#define A3_JWK                                                                                 \
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\"," \
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"
#define A3_JWS                        \
    "eyJhbGciOiJFUzI1NiJ9." A_PAYLOAD \
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"

/* RFC 7515 A.2: RS256. */
#define A2_N                                                                                    \
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0" \
    "Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXnd" \
    "S5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5Ihl" \
    "JH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
#define A2_JWK "{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQAB\"}"
#define A2_JWS                                                                                   \
    "eyJhbGciOiJSUzI1NiJ9." A_PAYLOAD                                                            \
    ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2" \
    "Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQ" \
    "BMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6Ie" \
    "YI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"

/* RFC 7515 A.1: HS256, which we must refuse. */
#define A1_JWS                                            \
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." A_PAYLOAD \
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

/* RFC 8037 A.1/A.2 key and A.4 signature. */
#define ED_D "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define ED_JWK \
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"
#define ED_JWS                                                  \
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc." \
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static jwk_key *import(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    jwk_key *key = NULL;

    assert_non_null(j);
    assert_int_equal(jwk_from_json(j, &key), 0);
    json_decref(j);
    return key;
}

/* Parses and verifies in one go; the token's status code. */
static int check(const char *compact, const jwk_key *key)
{
    jws_token *t = NULL;
    int rc = jws_parse(compact, strlen(compact), &t);

    if (rc == 0)
        rc = jws_verify(t, key);
    jws_free(t);
    return rc;
}

/* Flips one character in the middle of part (0 header, 1 payload, 2 sig). */
static char *tamper(const char *compact, int part)
{
    char *s = strdup(compact), *p = s;

    for (int i = 0; i < part; i++)
        p = strchr(p, '.') + 1;
    p += 10;
    *p = *p == 'A' ? 'B' : 'A';
    return s;
}

static void test_rfc7515_a3_es256(void **state)
{
    jwk_key *key = import(A3_JWK);
    jws_token *t = NULL;
    const json_t *claims;
    char *bad;

    (void)state;
    assert_int_equal(jws_parse(A3_JWS, strlen(A3_JWS), &t), 0);
    assert_int_equal(jws_alg(t), JWK_ES256);
    assert_string_equal(json_string_value(json_object_get(jws_header(t), "alg")), "ES256");
    claims = jws_claims(t);
    assert_non_null(claims);
    assert_string_equal(json_string_value(json_object_get(claims, "iss")), "joe");
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")), 1300819380);
    assert_int_equal(jws_verify(t, key), 0);
    jws_free(t);

    for (int part = 1; part <= 2; part++) {
        bad = tamper(A3_JWS, part);
        assert_int_equal(check(bad, key), JWS_ERR_SIG);
        free(bad);
    }
    jwk_free(key);
}

static void test_rfc7515_a2_rs256(void **state)
{
    jwk_key *key = import(A2_JWK);
    char *bad;

    (void)state;
    assert_int_equal(check(A2_JWS, key), 0);
    for (int part = 1; part <= 2; part++) {
        bad = tamper(A2_JWS, part);
        assert_int_equal(check(bad, key), JWS_ERR_SIG);
        free(bad);
    }
    /* The right signature under another key type is a key error. */
    jwk_free(key);
    key = import(A3_JWK);
    assert_int_equal(check(A2_JWS, key), JWS_ERR_KEY);
    jwk_free(key);
}

static void test_rfc8037_a4_ed25519(void **state)
{
    static const uint8_t prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                       0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
    const char *msg = "Example of Ed25519 signing";
    jwk_key *priv = NULL, *pub = import(ED_JWK);
    jws_token *t = NULL;
    uint8_t der[48];
    const uint8_t *payload;
    size_t n;
    char *out, *bad;

    (void)state;
    memcpy(der, prefix, sizeof prefix);
    assert_int_equal(enc_b64url_decode(ED_D, strlen(ED_D), der + 16, 32), 32);
    assert_int_equal(jwk_from_private_der(der, sizeof der, JWK_EDDSA, &priv), 0);

    /* Ed25519 is deterministic: the exact RFC signature, both ways. */
    out = jws_sign_raw(priv, "{\"alg\":\"EdDSA\"}", msg, strlen(msg));
    assert_non_null(out);
    assert_string_equal(out, ED_JWS);
    free(out);
    out = jws_sign(priv, NULL, NULL, 0, msg, strlen(msg));
    assert_string_equal(out, ED_JWS);
    free(out);

    assert_int_equal(jws_parse(ED_JWS, strlen(ED_JWS), &t), 0);
    assert_int_equal(jws_alg(t), JWK_EDDSA);
    assert_null(jws_claims(t)); /* the payload is text, not JSON */
    payload = jws_payload(t, &n);
    assert_int_equal(n, strlen(msg));
    assert_memory_equal(payload, msg, n);
    assert_int_equal(jws_verify(t, pub), 0);
    jws_free(t);

    for (int part = 0; part <= 2; part++) {
        bad = tamper(ED_JWS, part);
        assert_int_not_equal(check(bad, pub), 0);
        free(bad);
    }
    jwk_free(priv);
    jwk_free(pub);
}

static void test_refused_algs(void **state)
{
    jwk_key *key = import(A3_JWK);
    jws_token *t = NULL;

    (void)state;
    /* RFC 7515 A.1 (HS256) and A.5 (none). */
    assert_int_equal(jws_parse(A1_JWS, strlen(A1_JWS), &t), JWS_ERR_ALG);
    assert_null(t);
    assert_int_equal(check("eyJhbGciOiJub25lIn0." A_PAYLOAD ".", key), JWS_ERR_FORMAT);
    assert_int_equal(check("eyJhbGciOiJub25lIn0." A_PAYLOAD ".AAAA", key), JWS_ERR_ALG);
    /* {"alg":"ES384"}, {"typ":"JWT"} (no alg), {"alg":1} */
    assert_int_equal(check("eyJhbGciOiJFUzM4NCJ9." A_PAYLOAD ".AAAA", key), JWS_ERR_ALG);
    assert_int_equal(check("eyJ0eXAiOiJKV1QifQ." A_PAYLOAD ".AAAA", key), JWS_ERR_ALG);
    assert_int_equal(check("eyJhbGciOjF9." A_PAYLOAD ".AAAA", key), JWS_ERR_ALG);
    jwk_free(key);
}

static void test_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "a",
        "a.b",
        "..",
        "a.b.c",
        "a.b.c.d",
        "eyJhbGciOiJFUzI1NiJ9." A_PAYLOAD ".",
        "eyJhbGciOiJFUzI1NiJ9." A_PAYLOAD ".AAAA.AAAA",
        /* padding, whitespace, standard-alphabet characters */
        "eyJhbGciOiJFUzI1NiJ9." A_PAYLOAD ".AAAA==",
        "eyJhbGciOiJFUzI1NiJ9 ." A_PAYLOAD ".AAAA",
        "eyJhbGciOiJFUzI1NiJ9." A_PAYLOAD ".AA+/",
        /* header not an object: [] ; duplicate alg ; crit */
        "W10." A_PAYLOAD ".AAAA",
        "eyJhbGciOiJFUzI1NiIsImFsZyI6IkVTMjU2In0." A_PAYLOAD ".AAAA",
        "eyJhbGciOiJFUzI1NiIsImNyaXQiOlsiZXhwIl19." A_PAYLOAD ".AAAA",
    };
    jws_token *t = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(jws_parse(bad[i], strlen(bad[i]), &t), JWS_ERR_FORMAT);
        assert_null(t);
    }
}

static void sign_verify(jwk_alg alg)
{
    const char *payload = "{\"sub\":\"agent\"}";
    jwk_key *key = NULL, *other = NULL, *pub = NULL;
    jws_token *t = NULL;
    const json_t *h;
    char *out, *bad;

    assert_int_equal(jwk_generate(alg, &key), 0);
    assert_int_equal(jwk_generate(alg, &other), 0);
    out = jws_sign(key, "JWT", "key_7", 0, payload, strlen(payload));
    assert_non_null(out);
    assert_int_equal(jws_parse(out, strlen(out), &t), 0);
    h = jws_header(t);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), jwk_alg_name(alg));
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(h, "kid")), "key_7");
    assert_null(json_object_get(h, "jwk"));
    assert_string_equal(json_string_value(json_object_get(jws_claims(t), "sub")), "agent");
    assert_int_equal(jws_verify(t, key), 0);
    assert_int_equal(jws_verify(t, other), JWS_ERR_SIG);
    jws_free(t);
    for (int part = 1; part <= 2; part++) {
        bad = tamper(out, part);
        assert_int_equal(check(bad, key), JWS_ERR_SIG);
        free(bad);
    }
    free(out);

    /* Embedded JWK: public members only, and it verifies the token. */
    out = jws_sign(key, "dpop+jwt", NULL, 1, payload, strlen(payload));
    assert_non_null(out);
    assert_int_equal(jws_parse(out, strlen(out), &t), 0);
    h = json_object_get(jws_header(t), "jwk");
    assert_non_null(h);
    assert_null(json_object_get(h, "d"));
    assert_null(json_object_get(jws_header(t), "kid"));
    assert_int_equal(jwk_from_json(h, &pub), 0);
    assert_int_equal(jws_verify(t, pub), 0);
    jws_free(t);
    free(out);

    jwk_free(pub);
    jwk_free(other);
    jwk_free(key);
}

static void test_sign_es256(void **state)
{
    (void)state;
    sign_verify(JWK_ES256);
}

static void test_sign_eddsa(void **state)
{
    (void)state;
    sign_verify(JWK_EDDSA);
}

static void test_sign_rs256(void **state)
{
    (void)state;
    sign_verify(JWK_RS256);
}

static void test_sign_ps256(void **state)
{
    (void)state;
    sign_verify(JWK_PS256);
}

static void test_sign_json(void **state)
{
    json_t *claims = json_pack("{s:s, s:s, s:I, s:{s:s}}", "iss", "https://auth.example", "sub",
                               "shark_agent_1", "exp", (json_int_t)1900000000, "cnf", "jkt",
                               "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    json_t *big = json_object();
    jwk_key *key = NULL;
    jws_token *t = NULL;
    char *out, pad[3000];

    (void)state;
    assert_int_equal(jwk_generate(JWK_ES256, &key), 0);
    out = jws_sign_json(key, "key_1", "at+jwt", claims);
    assert_non_null(out);
    assert_int_equal(jws_parse(out, strlen(out), &t), 0);
    assert_int_equal(jws_verify(t, key), 0);
    assert_true(json_equal((json_t *)jws_claims(t), claims));
    assert_string_equal(json_string_value(json_object_get(jws_header(t), "typ")), "at+jwt");
    assert_string_equal(json_string_value(json_object_get(jws_header(t), "kid")), "key_1");
    jws_free(t);
    free(out);

    /* Claims larger than the stack buffer take the heap path. */
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    json_object_set_new(big, "pad", json_string(pad));
    out = jws_sign_json(key, "key_1", "at+jwt", big);
    assert_non_null(out);
    assert_int_equal(check(out, key), 0);
    free(out);

    /* kid and typ are written verbatim, so quotes are refused. */
    assert_null(jws_sign_json(key, "a\"b", "at+jwt", claims));
    assert_null(jws_sign(key, "x\\", NULL, 0, "p", 1));
    json_decref(big);
    json_decref(claims);
    jwk_free(key);
}

static void test_ps256_key_pinning(void **state)
{
    jwk_key *key = NULL, *loose = NULL, *pinned = NULL;
    json_t *j;
    char *out;

    (void)state;
    assert_int_equal(jwk_generate(JWK_PS256, &key), 0);
    out = jws_sign(key, NULL, NULL, 0, "p", 1);
    j = jwk_public_json(key);
    assert_int_equal(jwk_from_json(j, &loose), 0);
    json_object_set_new(j, "alg", json_string("RS256"));
    assert_int_equal(jwk_from_json(j, &pinned), 0);
    assert_int_equal(check(out, loose), 0);
    assert_int_equal(check(out, pinned), JWS_ERR_KEY);
    json_decref(j);
    free(out);
    jwk_free(key);
    jwk_free(loose);
    jwk_free(pinned);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7515_a3_es256),   cmocka_unit_test(test_rfc7515_a2_rs256),
        cmocka_unit_test(test_rfc8037_a4_ed25519), cmocka_unit_test(test_refused_algs),
        cmocka_unit_test(test_malformed),          cmocka_unit_test(test_sign_es256),
        cmocka_unit_test(test_sign_eddsa),         cmocka_unit_test(test_sign_rs256),
        cmocka_unit_test(test_sign_ps256),         cmocka_unit_test(test_sign_json),
        cmocka_unit_test(test_ps256_key_pinning),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
