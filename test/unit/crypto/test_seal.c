#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/seal.h"

static const uint8_t MSG[] = "-----BEGIN PRIVATE KEY----- not really";
static const uint8_t AD[] = "signing_keys:key_01";

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static void fill_key(uint8_t key[SEAL_KEY_LEN], uint8_t b)
{
    memset(key, b, SEAL_KEY_LEN);
}

static void test_round_trip(void **state)
{
    uint8_t key[SEAL_KEY_LEN], box[128], out[128];
    long n, m;

    (void)state;
    fill_key(key, 7);
    n = seal_box(key, 3, MSG, sizeof MSG, AD, sizeof AD, box, sizeof box);
    assert_int_equal(n, sizeof MSG + SEAL_OVERHEAD);
    assert_int_equal(seal_key_version(box, (size_t)n), 3);
    m = seal_open(key, box, (size_t)n, AD, sizeof AD, out, sizeof out);
    assert_int_equal(m, sizeof MSG);
    assert_memory_equal(out, MSG, sizeof MSG);
}

static void test_nonce_is_fresh(void **state)
{
    uint8_t key[SEAL_KEY_LEN], a[128], b[128];
    long n;

    (void)state;
    fill_key(key, 7);
    n = seal_box(key, 1, MSG, sizeof MSG, NULL, 0, a, sizeof a);
    assert_int_equal(seal_box(key, 1, MSG, sizeof MSG, NULL, 0, b, sizeof b), n);
    assert_memory_not_equal(a, b, (size_t)n);
}

static void test_empty_message(void **state)
{
    uint8_t key[SEAL_KEY_LEN], box[SEAL_OVERHEAD], out[1];

    (void)state;
    fill_key(key, 1);
    assert_int_equal(seal_box(key, 0, NULL, 0, NULL, 0, box, sizeof box), SEAL_OVERHEAD);
    assert_int_equal(seal_open(key, box, sizeof box, NULL, 0, out, 0), 0);
}

static void test_rejections(void **state)
{
    uint8_t key[SEAL_KEY_LEN], other[SEAL_KEY_LEN], box[128], out[128];
    long n;

    (void)state;
    fill_key(key, 7);
    fill_key(other, 8);
    n = seal_box(key, 1, MSG, sizeof MSG, AD, sizeof AD, box, sizeof box);
    assert_true(n > 0);

    /* Wrong key, wrong or missing associated data. */
    assert_int_equal(seal_open(other, box, (size_t)n, AD, sizeof AD, out, sizeof out), -1);
    assert_int_equal(seal_open(key, box, (size_t)n, AD, sizeof AD - 2, out, sizeof out), -1);
    assert_int_equal(seal_open(key, box, (size_t)n, NULL, 0, out, sizeof out), -1);

    /* Any flipped byte of nonce, ciphertext or tag fails; the version byte
     * only selects the key. */
    for (long i = 1; i < n; i++) {
        box[i] ^= 0x01;
        assert_int_equal(seal_open(key, box, (size_t)n, AD, sizeof AD, out, sizeof out), -1);
        box[i] ^= 0x01;
    }
    /* Truncated boxes and small output buffers. */
    assert_int_equal(seal_open(key, box, (size_t)n - 1, AD, sizeof AD, out, sizeof out), -1);
    assert_int_equal(seal_open(key, box, SEAL_OVERHEAD - 1, AD, sizeof AD, out, sizeof out), -1);
    assert_int_equal(seal_open(key, box, (size_t)n, AD, sizeof AD, out, sizeof MSG - 1), -1);
    assert_int_equal(seal_open(key, box, (size_t)n, AD, sizeof AD, out, sizeof MSG), sizeof MSG);
    assert_int_equal(
        seal_box(key, 1, MSG, sizeof MSG, AD, sizeof AD, box, sizeof MSG + SEAL_OVERHEAD - 1), -1);
}

static void test_key_version(void **state)
{
    uint8_t key[SEAL_KEY_LEN], box[128];
    long n;

    (void)state;
    fill_key(key, 7);
    n = seal_box(key, 255, MSG, 4, NULL, 0, box, sizeof box);
    assert_int_equal(seal_key_version(box, (size_t)n), 255);
    n = seal_box(key, 0, MSG, 4, NULL, 0, box, sizeof box);
    assert_int_equal(seal_key_version(box, (size_t)n), 0);
    assert_int_equal(seal_key_version(box, SEAL_OVERHEAD - 1), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_nonce_is_fresh),
        cmocka_unit_test(test_empty_message), cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_key_version),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
