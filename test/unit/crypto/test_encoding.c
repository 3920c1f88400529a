#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/encoding.h"

#define U8(s) ((const uint8_t *)(s))

/* RFC 4648 §10: the same vectors serve base64 (padded) and base64url. */
static const struct {
    const char *in, *b64, *b64url;
} rfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static void test_b64_rfc4648(void **state)
{
    char out[32];
    uint8_t dec[32];

    (void)state;
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        size_t n = strlen(rfc4648[i].in);

        assert_int_equal(enc_b64(U8(rfc4648[i].in), n, out, sizeof out), strlen(rfc4648[i].b64));
        assert_string_equal(out, rfc4648[i].b64);
        assert_int_equal(enc_b64url(U8(rfc4648[i].in), n, out, sizeof out),
                         strlen(rfc4648[i].b64url));
        assert_string_equal(out, rfc4648[i].b64url);
        assert_int_equal(enc_b64url_len(n), strlen(rfc4648[i].b64url));

        assert_int_equal(enc_b64_decode(rfc4648[i].b64, strlen(rfc4648[i].b64), dec, sizeof dec),
                         n);
        assert_memory_equal(dec, rfc4648[i].in, n);
        assert_int_equal(
            enc_b64url_decode(rfc4648[i].b64url, strlen(rfc4648[i].b64url), dec, sizeof dec), n);
        assert_memory_equal(dec, rfc4648[i].in, n);
    }
}

static void test_b64url_alphabet(void **state)
{
    const uint8_t in[] = {0xfb, 0xff, 0xfe};
    char out[8];
    uint8_t dec[8];

    (void)state;
    assert_int_equal(enc_b64url(in, 3, out, sizeof out), 4);
    assert_string_equal(out, "-__-");
    assert_int_equal(enc_b64(in, 3, out, sizeof out), 4);
    assert_string_equal(out, "+//+");
    assert_int_equal(enc_b64url_decode("-__-", 4, dec, sizeof dec), 3);
    assert_memory_equal(dec, in, 3);
    assert_int_equal(enc_b64_decode("+//+", 4, dec, sizeof dec), 3);
    /* Each alphabet refuses the other's characters. */
    assert_int_equal(enc_b64url_decode("+//+", 4, dec, sizeof dec), -1);
    assert_int_equal(enc_b64_decode("-__-", 4, dec, sizeof dec), -1);
}

static void test_b64_decode_rejects(void **state)
{
    uint8_t dec[16];

    (void)state;
    assert_int_equal(enc_b64url_decode("Zg==", 4, dec, sizeof dec), -1); /* padding */
    assert_int_equal(enc_b64url_decode("Zm9v YmFy", 9, dec, sizeof dec), -1);
    assert_int_equal(enc_b64url_decode("Zm9v\n", 5, dec, sizeof dec), -1);
    assert_int_equal(enc_b64url_decode("Z", 1, dec, sizeof dec), -1);  /* 4k+1 */
    assert_int_equal(enc_b64url_decode("Zh", 2, dec, sizeof dec), -1); /* trailing bits */
    assert_int_equal(enc_b64url_decode("Zm9v!", 5, dec, sizeof dec), -1);
    assert_int_equal(enc_b64url_decode("Zm9vYmFy", 8, dec, 5), -1); /* too small */
    assert_int_equal(enc_b64url_decode("Zm9vYmFy", 8, dec, 6), 6);

    assert_int_equal(enc_b64_decode("Zg", 2, dec, sizeof dec), -1); /* no padding */
    assert_int_equal(enc_b64_decode("Zg=", 3, dec, sizeof dec), -1);
    assert_int_equal(enc_b64_decode("Z===", 4, dec, sizeof dec), -1);
    assert_int_equal(enc_b64_decode("====", 4, dec, sizeof dec), -1);
    assert_int_equal(enc_b64_decode("Zg=A", 4, dec, sizeof dec), -1);
    assert_int_equal(enc_b64_decode("Zh==", 4, dec, sizeof dec), -1);
    assert_int_equal(enc_b64_decode("Zm9vYmFy", 8, dec, 5), -1);
    /* A NUL inside the counted input is a bad character, not an end. */
    assert_int_equal(enc_b64url_decode("Zm\0v", 4, dec, sizeof dec), -1);
}

static void test_encode_too_small(void **state)
{
    char out[9];

    (void)state;
    /* Room for the text and its NUL is required. */
    assert_int_equal(enc_b64url(U8("foobar"), 6, out, 8), -1);
    assert_int_equal(enc_b64url(U8("foobar"), 6, out, 9), 8);
    assert_int_equal(enc_b64(U8("f"), 1, out, 4), -1);
    assert_int_equal(enc_b64(U8("f"), 1, out, 5), 4);
}

static void test_hex(void **state)
{
    const uint8_t in[] = {0x00, 0x01, 0xab, 0xff};
    char out[9];

    (void)state;
    assert_int_equal(enc_hex(in, 4, out, sizeof out), 8);
    assert_string_equal(out, "0001abff");
    assert_int_equal(enc_hex(in, 4, out, 8), -1);
    assert_int_equal(enc_hex(in, 0, out, 1), 0);
    assert_string_equal(out, "");
}

static void test_base62(void **state)
{
    uint8_t zero[32] = {0}, ones[32], one[32] = {0};
    char out[64];

    (void)state;
    memset(ones, 0xff, sizeof ones);
    one[31] = 61;

    /* 32 bytes always give 43 characters, whatever the value. */
    assert_int_equal(enc_base62(zero, 32, out, sizeof out), 43);
    assert_string_equal(out, "0000000000000000000000000000000000000000000");
    assert_int_equal(enc_base62(one, 32, out, sizeof out), 43);
    assert_string_equal(out, "000000000000000000000000000000000000000000z");
    assert_int_equal(enc_base62(ones, 32, out, sizeof out), 43);
    /* 2^256 - 1 in base 62, computed with Python big integers. */
    assert_string_equal(out, "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1");
    one[31] = 62;
    assert_int_equal(enc_base62(one, 32, out, sizeof out), 43);
    assert_string_equal(out, "0000000000000000000000000000000000000000010");
    /* Small widths: 1 byte -> 2 chars (255 = "47"), 2 bytes -> 3 chars. */
    assert_int_equal(enc_base62(ones, 1, out, sizeof out), 2);
    assert_string_equal(out, "47");
    assert_int_equal(enc_base62(ones, 2, out, sizeof out), 3);
    assert_string_equal(out, "H31");
    assert_int_equal(enc_base62(zero, 32, out, 43), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64_rfc4648),
        cmocka_unit_test(test_b64url_alphabet),
        cmocka_unit_test(test_b64_decode_rejects),
        cmocka_unit_test(test_encode_too_small),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_base62),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
