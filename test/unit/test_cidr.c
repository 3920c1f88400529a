#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/cidr.h"

static bool in(const char *range, const char *addr)
{
    cidr c;
    uint8_t a[16];
    if (cidr_parse(range, &c) != 0)
        fail_msg("range '%s' did not parse", range);
    if (cidr_addr_parse(addr, a) != 0)
        fail_msg("address '%s' did not parse", addr);
    return cidr_match(&c, a);
}

static void test_addr_parse(void **state)
{
    (void)state;
    uint8_t a[16];
    static const uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 20};
    assert_int_equal(cidr_addr_parse("192.168.1.20", a), 0);
    assert_memory_equal(a, v4, 16);
    /* The mapped IPv6 spelling gives the same bytes. */
    assert_int_equal(cidr_addr_parse("::ffff:192.168.1.20", a), 0);
    assert_memory_equal(a, v4, 16);
    static const uint8_t lo6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    assert_int_equal(cidr_addr_parse("::1", a), 0);
    assert_memory_equal(a, lo6, 16);
    assert_int_equal(cidr_addr_parse("2001:db8::ff", a), 0);
    assert_int_equal(a[0], 0x20);
    assert_int_equal(a[1], 0x01);
    assert_int_equal(a[2], 0x0d);
    assert_int_equal(a[3], 0xb8);
    assert_int_equal(a[15], 0xff);
    const char *bad[] = {"",    "1.2.3",     "1.2.3.256", "1.2.3.4.5",         "abc",
                         "::g", "1.2.3.4/8", " 1.2.3.4",  "1:2:3:4:5:6:7:8:9", "localhost"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cidr_addr_parse(bad[i], a) != -1)
            fail_msg("address '%s' was accepted", bad[i]);
}

static void test_ipv4(void **state)
{
    (void)state;
    assert_true(in("10.0.0.0/8", "10.0.0.1"));
    assert_true(in("10.0.0.0/8", "10.255.255.255"));
    assert_false(in("10.0.0.0/8", "11.0.0.0"));
    assert_false(in("10.0.0.0/8", "9.255.255.255"));
    assert_true(in("192.168.1.0/24", "192.168.1.77"));
    assert_false(in("192.168.1.0/24", "192.168.2.77"));
    /* Non-byte-aligned prefix: 172.16.0.0/12 is 172.16.0.0 - 172.31.255.255. */
    assert_true(in("172.16.0.0/12", "172.16.0.0"));
    assert_true(in("172.16.0.0/12", "172.31.255.255"));
    assert_false(in("172.16.0.0/12", "172.32.0.0"));
    assert_false(in("172.16.0.0/12", "172.15.255.255"));
    assert_true(in("10.0.0.128/25", "10.0.0.200"));
    assert_false(in("10.0.0.128/25", "10.0.0.127"));
    /* /32 and a bare address are one host. */
    assert_true(in("127.0.0.1/32", "127.0.0.1"));
    assert_false(in("127.0.0.1/32", "127.0.0.2"));
    assert_true(in("127.0.0.1", "127.0.0.1"));
    assert_false(in("127.0.0.1", "127.0.0.2"));
    /* /0 is every IPv4 address... */
    assert_true(in("0.0.0.0/0", "1.2.3.4"));
    assert_true(in("0.0.0.0/0", "255.255.255.255"));
    /* ...but not IPv6 ones. */
    assert_false(in("0.0.0.0/0", "2001:db8::1"));
    assert_false(in("0.0.0.0/0", "::1"));
    /* Host bits in the range are ignored. */
    assert_true(in("10.1.2.3/8", "10.200.0.1"));
    cidr c;
    assert_int_equal(cidr_parse("10.0.0.0/8", &c), 0);
    assert_int_equal(c.prefix, 96 + 8);
    assert_int_equal(cidr_parse("1.2.3.4", &c), 0);
    assert_int_equal(c.prefix, 128);
}

static void test_ipv6(void **state)
{
    (void)state;
    assert_true(in("::1", "::1"));
    assert_false(in("::1", "::2"));
    assert_true(in("::1/128", "::1"));
    assert_false(in("::1/128", "::"));
    assert_true(in("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(in("2001:db8::/32", "2001:db9::1"));
    assert_true(in("fd00::/8", "fdff:1::1"));
    assert_false(in("fd00::/8", "fe80::1"));
    assert_true(in("fe80::/10", "febf::1"));
    assert_false(in("fe80::/10", "fec0::1"));
    assert_true(in("2000::/12", "200f:ffff::"));
    assert_false(in("2000::/12", "2010::"));
    /* ::/0 is everything, IPv4 included (as mapped addresses). */
    assert_true(in("::/0", "2001:db8::1"));
    assert_true(in("::/0", "10.0.0.1"));
    cidr c;
    assert_int_equal(cidr_parse("2001:db8::/32", &c), 0);
    assert_int_equal(c.prefix, 32);
    assert_int_equal(cidr_parse("::1", &c), 0);
    assert_int_equal(c.prefix, 128);
}

static void test_v4_mapped(void **state)
{
    (void)state;
    /* A v4-mapped client address matches an IPv4 range and vice versa. */
    assert_true(in("10.0.0.0/8", "::ffff:10.9.8.7"));
    assert_false(in("10.0.0.0/8", "::ffff:11.9.8.7"));
    assert_true(in("::ffff:10.0.0.0/104", "10.9.8.7"));
    assert_false(in("::ffff:10.0.0.0/104", "11.9.8.7"));
    assert_true(in("::ffff:0:0/96", "8.8.8.8"));
    assert_false(in("::ffff:0:0/96", "::8.8.8.8")); /* the old "compatible" form differs */
    assert_true(in("127.0.0.1", "::ffff:127.0.0.1"));
    assert_false(in("127.0.0.1", "::1"));
}

static void test_bad_ranges(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "/8",
        "10.0.0.0/",
        "10.0.0.0/33",
        "10.0.0.0/-1",
        "10.0.0.0/8x",
        "10.0.0.0/8/8",
        "::1/129",
        "::/",
        "10.0.0/8",
        "bogus",
        "bogus/8",
        "10.0.0.0/ 8",
        "10.0.0.0/+8",
        "10.0.0.0 /8",
        "10.0.0.0/99999999999999999999",
        "aaaa:bbbb:cccc:dddd:eeee:ffff:0000:1111:2222:3333:4444:5555/64", /* too long */
    };
    cidr c;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cidr_parse(bad[i], &c) != -1)
            fail_msg("range '%s' was accepted", bad[i]);
    assert_int_equal(cidr_parse("10.0.0.0/0", &c), 0);
    assert_int_equal(cidr_parse("10.0.0.0/32", &c), 0);
    assert_int_equal(cidr_parse("::/128", &c), 0);
}

static void test_list(void **state)
{
    (void)state;
    cidr l[4];
    assert_int_equal(cidr_parse_list("", l, 4), 0);
    assert_int_equal(cidr_parse_list(" , ", l, 4), 0);
    assert_int_equal(cidr_parse_list("10.0.0.0/8", l, 4), 1);
    assert_int_equal(cidr_parse_list("10.0.0.0/8, ::1 ,192.168.0.0/16,,", l, 4), 3);
    uint8_t a[16];
    assert_int_equal(cidr_addr_parse("192.168.4.4", a), 0);
    assert_true(cidr_match_any(l, 3, a));
    assert_false(cidr_match_any(l, 1, a)); /* only the first entry */
    assert_false(cidr_match_any(l, 0, a));
    assert_int_equal(cidr_addr_parse("::1", a), 0);
    assert_true(cidr_match_any(l, 3, a));
    assert_int_equal(cidr_addr_parse("8.8.8.8", a), 0);
    assert_false(cidr_match_any(l, 3, a));
    /* Too many entries, or one bad entry, fails the whole list. */
    assert_int_equal(cidr_parse_list("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5", l, 4), -1);
    assert_int_equal(cidr_parse_list("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4", l, 4), 4);
    assert_int_equal(cidr_parse_list("1.1.1.1,nope", l, 4), -1);
    assert_int_equal(cidr_parse_list("1.1.1.1/40", l, 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse), cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6),       cmocka_unit_test(test_v4_mapped),
        cmocka_unit_test(test_bad_ranges), cmocka_unit_test(test_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
