#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/cidr.h"
#include "core/connlimit.h"

static void addr(const char *s, uint8_t out[16])
{
    assert_int_equal(cidr_addr_parse(s, out), 0);
}

static void test_per_address_and_total(void **state)
{
    (void)state;
    connlimit *cl = connlimit_new(5, 3);
    uint8_t a[16], b[16], c[16];
    addr("10.0.0.1", a);
    addr("10.0.0.2", b);
    addr("10.0.0.3", c);
    for (int i = 0; i < 3; i++)
        assert_int_equal(connlimit_acquire(cl, a, true), 0);
    assert_int_equal(connlimit_acquire(cl, a, true), CONNLIMIT_ADDR);
    assert_int_equal(connlimit_of(cl, a), 3); /* a refusal counts nothing */
    assert_int_equal(connlimit_acquire(cl, b, true), 0);
    assert_int_equal(connlimit_acquire(cl, b, true), 0);
    assert_int_equal(connlimit_total(cl), 5);
    assert_int_equal(connlimit_acquire(cl, c, true), CONNLIMIT_TOTAL);
    assert_int_equal(connlimit_acquire(cl, c, false), CONNLIMIT_TOTAL);
    assert_int_equal(connlimit_of(cl, c), 0);
    /* Closing one lets one in. */
    connlimit_release(cl, a);
    assert_int_equal(connlimit_acquire(cl, c, true), 0);
    assert_int_equal(connlimit_acquire(cl, a, true), CONNLIMIT_TOTAL);
    connlimit_release(cl, b);
    assert_int_equal(connlimit_acquire(cl, a, true), 0);
    assert_int_equal(connlimit_acquire(cl, a, true), CONNLIMIT_TOTAL);
    connlimit_free(cl);
}

static void test_unchecked_address_still_counts(void **state)
{
    (void)state;
    connlimit *cl = connlimit_new(10, 2);
    uint8_t p[16];
    addr("192.168.1.1", p);
    for (int i = 0; i < 6; i++)
        assert_int_equal(connlimit_acquire(cl, p, false), 0);
    assert_int_equal(connlimit_of(cl, p), 6);
    assert_int_equal(connlimit_acquire(cl, p, true), CONNLIMIT_ADDR);
    for (int i = 0; i < 6; i++)
        connlimit_release(cl, p);
    assert_int_equal(connlimit_total(cl), 0);
    assert_int_equal(connlimit_acquire(cl, p, true), 0);
    connlimit_free(cl);
}

static void test_ipv6_by_64(void **state)
{
    (void)state;
    connlimit *cl = connlimit_new(100, 2);
    uint8_t a1[16], a2[16], a3[16], other[16], v4[16], v4b[16];
    addr("2001:db8:1:2::1", a1);
    addr("2001:db8:1:2:ffff:ffff:ffff:fffe", a2);
    addr("2001:db8:1:2:1234::", a3);
    addr("2001:db8:1:3::1", other);
    addr("10.1.2.3", v4);
    addr("10.1.2.4", v4b);
    assert_int_equal(connlimit_acquire(cl, a1, true), 0);
    assert_int_equal(connlimit_acquire(cl, a2, true), 0);
    assert_int_equal(connlimit_acquire(cl, a3, true), CONNLIMIT_ADDR);
    assert_int_equal(connlimit_of(cl, a3), 2);
    assert_int_equal(connlimit_acquire(cl, other, true), 0);
    assert_int_equal(connlimit_of(cl, other), 1);
    /* IPv4 addresses are not grouped. */
    assert_int_equal(connlimit_acquire(cl, v4, true), 0);
    assert_int_equal(connlimit_acquire(cl, v4, true), 0);
    assert_int_equal(connlimit_acquire(cl, v4b, true), 0);
    assert_int_equal(connlimit_acquire(cl, v4, true), CONNLIMIT_ADDR);
    /* Any address of the /64 releases the /64's count. */
    connlimit_release(cl, a3);
    assert_int_equal(connlimit_acquire(cl, a1, true), 0);
    connlimit_free(cl);
}

/* Many addresses come and go in a scrambled order; the table must agree with
 * a plain array of counts throughout (this walks the deletion's shifts). */
static void test_churn_against_reference(void **state)
{
    (void)state;
    enum { N = 3000, ROUNDS = 40000 };
    connlimit *cl = connlimit_new(N, 4);
    static int ref[N];
    memset(ref, 0, sizeof(ref));
    int total = 0;
    uint64_t x = 88172645463325252ull;
    for (int r = 0; r < ROUNDS; r++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int i = (int)(x % N);
        uint8_t a[16] = {0x20,
                         0x01,
                         0x0d,
                         0xb8,
                         (uint8_t)(i >> 8),
                         (uint8_t)i,
                         0,
                         0,
                         (uint8_t)(x >> 40)}; /* the low 64 bits vary but do not count */
        bool up = (x >> 20) % 3 != 0 || ref[i] == 0;
        if (up) {
            int want = total >= N ? CONNLIMIT_TOTAL : ref[i] >= 4 ? CONNLIMIT_ADDR : 0;
            assert_int_equal(connlimit_acquire(cl, a, true), want);
            if (want == 0) {
                ref[i]++;
                total++;
            }
        } else {
            connlimit_release(cl, a);
            ref[i]--;
            total--;
        }
        if (r % 97 == 0) {
            for (int k = 0; k < N; k += 7) {
                uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, (uint8_t)(k >> 8), (uint8_t)k};
                assert_int_equal(connlimit_of(cl, b), ref[k]);
            }
        }
    }
    assert_int_equal(connlimit_total(cl), total);
    for (int k = 0; k < N; k++) {
        uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, (uint8_t)(k >> 8), (uint8_t)k};
        while (ref[k]-- > 0)
            connlimit_release(cl, b);
    }
    assert_int_equal(connlimit_total(cl), 0);
    connlimit_free(cl);
}

struct worker_arg {
    connlimit *cl;
    int admitted, refused, over;
};

/* Holds up to three connections at a time from one address. */
static void *hammer(void *p)
{
    struct worker_arg *w = p;
    uint8_t a[16];
    addr("127.0.0.1", a);
    for (int i = 0; i < 20000; i++) {
        int held = 0;
        for (int k = 0; k < 3; k++) {
            if (connlimit_acquire(w->cl, a, true) == 0) {
                held++;
                w->admitted++;
            } else {
                w->refused++;
            }
        }
        if (connlimit_of(w->cl, a) > 8)
            w->over++;
        while (held-- > 0)
            connlimit_release(w->cl, a);
    }
    return NULL;
}

/* Loop threads share one count: the limit holds with all of them at it. */
static void test_threads_share_the_count(void **state)
{
    (void)state;
    connlimit *cl = connlimit_new(1000, 8);
    struct worker_arg args[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct worker_arg){cl, 0, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(args[i].over, 0);
        assert_int_equal(args[i].admitted + args[i].refused, 3 * 20000);
    }
    assert_int_equal(connlimit_total(cl), 0);
    connlimit_free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_address_and_total),
        cmocka_unit_test(test_unchecked_address_still_counts),
        cmocka_unit_test(test_ipv6_by_64),
        cmocka_unit_test(test_churn_against_reference),
        cmocka_unit_test(test_threads_share_the_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
