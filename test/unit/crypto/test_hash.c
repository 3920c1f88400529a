#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/encoding.h"
#include "crypto/hash.h"

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static void test_sha256_abc(void **state)
{
    uint8_t d[HASH_SHA256_LEN];
    char hex[65];

    (void)state;
    hash_sha256("abc", 3, d);
    enc_hex(d, sizeof d, hex, sizeof hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* RFC 4231 §4.3, test case 2: a key shorter than the block size. */
static void test_hmac_rfc4231_case2(void **state)
{
    const char *data = "what do ya want for nothing?";
    uint8_t mac[HASH_SHA256_LEN];
    char hex[65];

    (void)state;
    hash_hmac_sha256((const uint8_t *)"Jefe", 4, data, strlen(data), mac);
    enc_hex(mac, sizeof mac, hex, sizeof hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* RFC 4231 §4.7, test case 6: a key longer than the block size is hashed. */
static void test_hmac_rfc4231_case6(void **state)
{
    const char *data = "Test Using Larger Than Block-Size Key - Hash Key First";
    uint8_t key[131], mac[HASH_SHA256_LEN];
    char hex[65];

    (void)state;
    memset(key, 0xaa, sizeof key);
    hash_hmac_sha256(key, sizeof key, data, strlen(data), mac);
    enc_hex(mac, sizeof mac, hex, sizeof hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_ct_eq(void **state)
{
    (void)state;
    assert_true(hash_ct_eq("abc", 3, "abc", 3));
    assert_false(hash_ct_eq("abc", 3, "abd", 3));
    assert_false(hash_ct_eq("abc", 3, "abcd", 4));
    assert_true(hash_ct_eq("", 0, "", 0));
}

static void test_random(void **state)
{
    uint8_t a[32] = {0}, b[32] = {0}, zero[32] = {0};

    (void)state;
    hash_random(a, sizeof a);
    hash_random(b, sizeof b);
    assert_memory_not_equal(a, b, sizeof a);
    assert_memory_not_equal(a, zero, sizeof a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_abc),
        cmocka_unit_test(test_hmac_rfc4231_case2),
        cmocka_unit_test(test_hmac_rfc4231_case6),
        cmocka_unit_test(test_ct_eq),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
