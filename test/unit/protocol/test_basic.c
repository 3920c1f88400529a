/* protocol/form.c: client credentials in Authorization: Basic, whose id and
 * secret are form-encoded before base64 (RFC 6749 §2.3.1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "crypto/encoding.h"
#include "protocol/form.h"

/* "Basic " + base64 of raw (which may hold any byte). */
static const char *basic(arena *a, const char *raw, size_t n)
{
    char b64[512];
    assert_true(enc_b64((const uint8_t *)raw, n, b64, sizeof(b64)) >= 0);
    return arena_printf(a, "Basic %s", b64);
}

static void test_id_and_secret(void **state)
{
    (void)state;
    arena *a = arena_new(1024);
    const char *id = NULL, *secret = NULL;
    assert_int_equal(form_basic_credentials(a, basic(a, "app:s3cret", 10), &id, &secret), 0);
    assert_string_equal(id, "app");
    assert_string_equal(secret, "s3cret");
    /* Only the first colon splits: the secret may hold more. */
    assert_int_equal(form_basic_credentials(a, basic(a, "app:a:b", 7), &id, &secret), 0);
    assert_string_equal(secret, "a:b");
    /* An empty secret is a (wrong) secret, not a missing id. */
    assert_int_equal(form_basic_credentials(a, basic(a, "app:", 4), &id, &secret), 0);
    assert_string_equal(secret, "");
    /* The scheme is case-insensitive; extra spaces before the token are skipped. */
    char hdr[64];
    snprintf(hdr, sizeof(hdr), "bAsIc   %s", basic(a, "x:y", 3) + 6);
    assert_int_equal(form_basic_credentials(a, hdr, &id, &secret), 0);
    assert_string_equal(id, "x");
    arena_free(a);
}

static void test_form_encoding_is_undone(void **state)
{
    (void)state;
    arena *a = arena_new(1024);
    const char *id = NULL, *secret = NULL;
    const char *raw = "https%3A%2F%2Fapp.example%2Fcimd:p%25+w%3Ad";
    assert_int_equal(form_basic_credentials(a, basic(a, raw, strlen(raw)), &id, &secret), 0);
    assert_string_equal(id, "https://app.example/cimd");
    assert_string_equal(secret, "p% w:d");
    arena_free(a);
}

static void test_malformed(void **state)
{
    (void)state;
    arena *a = arena_new(1024);
    const char *id = NULL, *secret = NULL;
    assert_int_equal(form_basic_credentials(a, NULL, &id, &secret), -1);
    assert_int_equal(form_basic_credentials(a, "Bearer abc", &id, &secret), -1);
    assert_int_equal(form_basic_credentials(a, "Basic", &id, &secret), -1);
    assert_int_equal(form_basic_credentials(a, "Basic ", &id, &secret), -1);
    assert_int_equal(form_basic_credentials(a, "Basic !!!not-base64", &id, &secret), -1);
    assert_int_equal(form_basic_credentials(a, basic(a, "nocolon", 7), &id, &secret), -1);
    assert_int_equal(form_basic_credentials(a, basic(a, ":secret", 7), &id, &secret), -1);
    assert_int_equal(form_basic_credentials(a, basic(a, "a\0b:c", 5), &id, &secret), -1);
    assert_int_equal(form_basic_credentials(a, basic(a, "app:%zz", 7), &id, &secret), -1);
    assert_int_equal(form_basic_credentials(a, basic(a, "%ff:x", 5), &id, &secret), -1);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_and_secret),
        cmocka_unit_test(test_form_encoding_is_undone),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
