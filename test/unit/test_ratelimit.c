#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <malloc.h>
#include <pthread.h>
#include <string.h>

#include <cmocka.h>

#include "core/ratelimit.h"

/* ::ffff:a.b.c.d, as the server stores client addresses. */
static void v4(uint8_t out[16], uint32_t ip)
{
    memset(out, 0, 16);
    out[10] = out[11] = 0xff;
    out[12] = (uint8_t)(ip >> 24);
    out[13] = (uint8_t)(ip >> 16);
    out[14] = (uint8_t)(ip >> 8);
    out[15] = (uint8_t)ip;
}

static void test_burst_then_refused(void **state)
{
    (void)state;
    ratelimit *rl = rl_new(1, 3);
    uint8_t a[16];
    v4(a, 0x0a000001);
    int ra = -7;
    for (int i = 0; i < 3; i++) {
        assert_true(rl_take(rl, a, 1000, &ra));
        assert_int_equal(ra, -7); /* untouched when allowed */
    }
    assert_false(rl_take(rl, a, 1000, &ra));
    assert_int_equal(ra, 1);
    assert_false(rl_take(rl, a, 1000, &ra));
    /* A NULL retry_after pointer is allowed. */
    assert_false(rl_take(rl, a, 1000, NULL));
    rl_free(rl);
}

static void test_refill_over_time(void **state)
{
    (void)state;
    ratelimit *rl = rl_new(10, 5); /* one token per 100 ms */
    uint8_t a[16];
    v4(a, 0xc0a80001);
    uint64_t t = 5000;
    for (int i = 0; i < 5; i++)
        assert_true(rl_take(rl, a, t, NULL));
    int ra = 0;
    assert_false(rl_take(rl, a, t, &ra));
    assert_int_equal(ra, 1);
    assert_false(rl_take(rl, a, t + 50, &ra)); /* half a token */
    assert_true(rl_take(rl, a, t + 100, NULL));
    assert_false(rl_take(rl, a, t + 100, NULL));
    assert_true(rl_take(rl, a, t + 300, NULL)); /* two tokens earned */
    assert_true(rl_take(rl, a, t + 300, NULL));
    assert_false(rl_take(rl, a, t + 300, NULL));
    /* A long pause refills up to the burst, not beyond. */
    t += 3600 * 1000;
    for (int i = 0; i < 5; i++)
        assert_true(rl_take(rl, a, t, NULL));
    assert_false(rl_take(rl, a, t, NULL));
    /* A clock going backwards earns nothing. */
    assert_false(rl_take(rl, a, t - 10000, NULL));
    assert_false(rl_take(rl, a, t, NULL));
    rl_free(rl);
}

static void test_retry_after_sensible(void **state)
{
    (void)state;
    uint8_t a[16];
    v4(a, 0x7f000001);
    int ra = 0;

    /* 0.5 rps: an empty bucket needs 2 s for one token. */
    ratelimit *rl = rl_new(0.5, 2);
    assert_true(rl_take(rl, a, 10000, NULL));
    assert_true(rl_take(rl, a, 10000, NULL));
    assert_false(rl_take(rl, a, 10000, &ra));
    assert_int_equal(ra, 2);
    assert_false(rl_take(rl, a, 11000, &ra)); /* half way: 1 s to go */
    assert_int_equal(ra, 1);
    assert_true(rl_take(rl, a, 12000, NULL)); /* the advice was right */
    rl_free(rl);

    /* 0.1 rps: 10 s. */
    rl = rl_new(0.1, 1);
    assert_true(rl_take(rl, a, 10000, NULL));
    assert_false(rl_take(rl, a, 10000, &ra));
    assert_int_equal(ra, 10);
    assert_false(rl_take(rl, a, 10000 + ra * 1000 - 1, NULL));
    assert_true(rl_take(rl, a, 10000 + ra * 1000, NULL));
    rl_free(rl);

    /* High rate: the wait is a fraction of a second, reported as 1. */
    rl = rl_new(1000, 1);
    assert_true(rl_take(rl, a, 10000, NULL));
    ra = 0;
    assert_false(rl_take(rl, a, 10000, &ra));
    assert_int_equal(ra, 1);
    rl_free(rl);

    /* A burst below 1 still lets one request through. */
    rl = rl_new(1, 0);
    assert_true(rl_take(rl, a, 10000, NULL));
    assert_false(rl_take(rl, a, 10000, &ra));
    assert_true(ra >= 1);
    rl_free(rl);
}

static void test_zero_rps_disables(void **state)
{
    (void)state;
    uint8_t a[16];
    v4(a, 0x01020304);
    double rates[] = {0, -1};
    for (int k = 0; k < 2; k++) {
        ratelimit *rl = rl_new(rates[k], 1);
        int ra = -1;
        for (int i = 0; i < 10000; i++)
            assert_true(rl_take(rl, a, 1000, &ra));
        assert_int_equal(ra, -1);
        rl_free(rl);
    }
    rl_free(NULL);
}

static void test_separate_addresses(void **state)
{
    (void)state;
    ratelimit *rl = rl_new(1, 2);
    uint8_t a[16], b[16], c[16];
    v4(a, 0x0a000001);
    v4(b, 0x0a000002);
    memset(c, 0, 16);
    c[15] = 1; /* ::1 */
    assert_true(rl_take(rl, a, 1000, NULL));
    assert_true(rl_take(rl, a, 1000, NULL));
    assert_false(rl_take(rl, a, 1000, NULL));
    assert_true(rl_take(rl, b, 1000, NULL));
    assert_true(rl_take(rl, b, 1000, NULL));
    assert_false(rl_take(rl, b, 1000, NULL));
    assert_true(rl_take(rl, c, 1000, NULL));
    assert_false(rl_take(rl, a, 1000, NULL));
    /* now_ms 0 is a valid time too. */
    uint8_t d[16];
    v4(d, 0x0a000003);
    assert_true(rl_take(rl, d, 0, NULL));
    assert_true(rl_take(rl, d, 0, NULL));
    assert_false(rl_take(rl, d, 0, NULL));
    rl_free(rl);
}

static void test_many_addresses_bounded(void **state)
{
    (void)state;
    ratelimit *rl = rl_new(0.001, 1); /* a token per 1000 s: no refill here */
    uint8_t a[16];
    v4(a, 0xcb007101);
    assert_true(rl_take(rl, a, 1, NULL));
    assert_false(rl_take(rl, a, 1, NULL));

    struct mallinfo2 before = mallinfo2();
    uint8_t x[16];
    uint64_t t = 2;
    for (uint32_t i = 0; i < 400000; i++) {
        v4(x, 0x0b000000u + i);
        assert_true(rl_take(rl, x, t, NULL));
        t += (i & 7) == 0;
    }
    /* IPv6 clients as well: a distinct /64 each (they are keyed by it). */
    for (uint32_t i = 0; i < 100000; i++) {
        memset(x, 0, 16);
        x[0] = 0x20;
        x[1] = 0x01;
        memcpy(x + 4, &i, sizeof(i));
        assert_true(rl_take(rl, x, t, NULL));
    }
    struct mallinfo2 after = mallinfo2();
    /* The table does not grow with the number of clients. */
    assert_true(after.uordblks <= before.uordblks + 4096);

    /* The long-idle, exhausted client was recycled: it starts afresh. */
    assert_true(t < 1000000 / 2); /* still well short of a refilled token */
    assert_true(rl_take(rl, a, t, NULL));
    rl_free(rl);
}

/* 2001:db8:<net>::<host> with net in bits 32..63 and host in the low half. */
static void v6(uint8_t out[16], uint32_t net, uint64_t host)
{
    memset(out, 0, 16);
    out[0] = 0x20;
    out[1] = 0x01;
    out[2] = 0x0d;
    out[3] = 0xb8;
    for (int i = 0; i < 4; i++)
        out[4 + i] = (uint8_t)(net >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        out[8 + i] = (uint8_t)(host >> (56 - 8 * i));
}

static void test_ipv6_keyed_by_64(void **state)
{
    (void)state;
    ratelimit *rl = rl_new(1, 2);
    uint8_t a[16], b[16], c[16], other[16];
    v6(a, 7, 1);
    v6(b, 7, 0xffffffffffffffffull); /* same /64, other end of it */
    v6(c, 7, 0x1234567890abcdefull);
    v6(other, 8, 1); /* the next /64 */
    assert_true(rl_take(rl, a, 1000, NULL));
    assert_true(rl_take(rl, b, 1000, NULL));
    /* The /64's two tokens are spent, whichever address asks. */
    int ra = 0;
    assert_false(rl_take(rl, c, 1000, &ra));
    assert_int_equal(ra, 1);
    assert_false(rl_take(rl, a, 1000, NULL));
    /* A neighbouring /64 is another client. */
    assert_true(rl_take(rl, other, 1000, NULL));
    assert_true(rl_take(rl, other, 1000, NULL));
    assert_false(rl_take(rl, other, 1000, NULL));
    rl_free(rl);
}

static void test_key_masks_only_ipv6(void **state)
{
    (void)state;
    uint8_t a[16], k[16], want[16];
    v6(a, 0xdeadbeef, 0x0102030405060708ull);
    rl_key(a, k);
    v6(want, 0xdeadbeef, 0);
    assert_memory_equal(k, want, 16);
    /* IPv4 (mapped) addresses are kept whole: the last octets differ per client. */
    v4(a, 0xc0a80117);
    rl_key(a, k);
    assert_memory_equal(k, a, 16);
    uint8_t b[16];
    v4(b, 0xc0a80118);
    ratelimit *rl = rl_new(1, 1);
    assert_true(rl_take(rl, a, 1000, NULL));
    assert_true(rl_take(rl, b, 1000, NULL));
    assert_false(rl_take(rl, a, 1000, NULL));
    rl_free(rl);
}

struct race {
    ratelimit *rl;
    int allowed;
};

static void *hammer(void *p)
{
    struct race *r = p;
    uint8_t a[16];
    v4(a, 0x0a0a0a0a);
    for (int i = 0; i < 20000; i++)
        r->allowed += rl_take(r->rl, a, 1000, NULL);
    return NULL;
}

static void test_threads_share_buckets(void **state)
{
    (void)state;
    ratelimit *rl = rl_new(1, 500);
    struct race r[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct race){rl, 0};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &r[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += r[i].allowed;
    }
    assert_int_equal(total, 500);
    rl_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refused),    cmocka_unit_test(test_refill_over_time),
        cmocka_unit_test(test_retry_after_sensible),  cmocka_unit_test(test_zero_rps_disables),
        cmocka_unit_test(test_separate_addresses),    cmocka_unit_test(test_ipv6_keyed_by_64),
        cmocka_unit_test(test_key_masks_only_ipv6),   cmocka_unit_test(test_many_addresses_bounded),
        cmocka_unit_test(test_threads_share_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
