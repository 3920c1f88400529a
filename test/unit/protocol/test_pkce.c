/* protocol/pkce.c: S256 only, verifier syntax of RFC 7636 §4.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/pkce.h"

/* RFC 7636 Appendix B. */
#define VERIFIER "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

static void test_rfc_example(void **state)
{
    (void)state;
    assert_true(oauth_pkce_ok(VERIFIER, CHALLENGE));
    assert_false(oauth_pkce_ok(VERIFIER, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
    assert_false(oauth_pkce_ok(VERIFIER, ""));
    /* The challenge itself is no verifier (plain is not supported). */
    assert_false(oauth_pkce_ok(CHALLENGE, CHALLENGE));
    /* Base64 with padding or the standard alphabet is another string. */
    assert_false(oauth_pkce_ok(VERIFIER, CHALLENGE "="));
}

static void test_verifier_syntax(void **state)
{
    (void)state;
    assert_false(oauth_pkce_ok(NULL, CHALLENGE));
    assert_false(oauth_pkce_ok("", CHALLENGE));
    char v[131];
    memset(v, 'a', sizeof(v));
    v[42] = '\0';
    assert_false(oauth_pkce_ok(v, CHALLENGE)); /* 42: one short */
    v[42] = 'a';
    v[129] = '\0';
    assert_false(oauth_pkce_ok(v, CHALLENGE)); /* 129: one long */
    /* Outside the unreserved set; each would otherwise be 43 characters. */
    assert_false(oauth_pkce_ok("dBjftJeZ4CVP+mB92K27uhbUJU1p1r_wW1gFWFOEjXk", CHALLENGE));
    assert_false(oauth_pkce_ok("dBjftJeZ4CVP mB92K27uhbUJU1p1r_wW1gFWFOEjXk", CHALLENGE));
    assert_false(oauth_pkce_ok("dBjftJeZ4CVP/mB92K27uhbUJU1p1r_wW1gFWFOEjXk", CHALLENGE));
}

static void test_lengths_at_the_limits_are_checked(void **state)
{
    (void)state;
    /* 43 and 128 characters are valid syntax: they fail only on the hash. */
    char v[129];
    memset(v, '~', sizeof(v));
    v[43] = '\0';
    assert_false(oauth_pkce_ok(v, CHALLENGE));
    v[43] = '~';
    v[128] = '\0';
    assert_false(oauth_pkce_ok(v, CHALLENGE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_example),
        cmocka_unit_test(test_verifier_syntax),
        cmocka_unit_test(test_lengths_at_the_limits_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
