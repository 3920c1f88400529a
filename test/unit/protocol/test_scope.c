/* protocol/scope.c: the scope grammar (RFC 6749 §3.3), subset and clip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "protocol/scope.h"

static void test_grammar(void **state)
{
    (void)state;
    assert_true(oauth_scope_valid("read"));
    assert_true(oauth_scope_valid("read write vault:read"));
    assert_true(oauth_scope_valid("!#$%&'()*+,-./:;<=>?@[]^_`{|}~"));
    /* Empty, leading, trailing or doubled spaces are not a scope list. */
    assert_false(oauth_scope_valid(NULL));
    assert_false(oauth_scope_valid(""));
    assert_false(oauth_scope_valid(" read"));
    assert_false(oauth_scope_valid("read "));
    assert_false(oauth_scope_valid("read  write"));
    /* NQCHAR excludes '"', '\\', controls and non-ASCII; a tab is no separator. */
    assert_false(oauth_scope_valid("re\"ad"));
    assert_false(oauth_scope_valid("re\\ad"));
    assert_false(oauth_scope_valid("read\twrite"));
    assert_false(oauth_scope_valid("caf\xc3\xa9"));
    assert_false(oauth_scope_valid("a\x7f"));
    char big[2002];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_false(oauth_scope_valid(big)); /* over 2000 bytes */
    big[2000] = '\0';
    assert_true(oauth_scope_valid(big));
}

static void test_subset(void **state)
{
    (void)state;
    assert_true(oauth_scope_subset("read", "read write"));
    assert_true(oauth_scope_subset("write read", "read write"));
    assert_true(oauth_scope_subset("", "read"));
    assert_true(oauth_scope_subset(NULL, "read"));
    assert_false(oauth_scope_subset("admin", "read write"));
    assert_false(oauth_scope_subset("read admin", "read write"));
    assert_false(oauth_scope_subset("read", NULL));
    assert_false(oauth_scope_subset("read", ""));
    /* Whole tokens only: no prefix or substring matches. */
    assert_false(oauth_scope_subset("rea", "read"));
    assert_false(oauth_scope_subset("read", "reader"));
    assert_false(oauth_scope_subset("vault", "vault:read"));
    /* Case matters (scopes are case-sensitive strings). */
    assert_false(oauth_scope_subset("Read", "read"));
}

static void test_clip(void **state)
{
    (void)state;
    arena *a = arena_new(1024);
    assert_string_equal(oauth_scope_clip(a, "read write admin", "write read"), "read write");
    assert_string_equal(oauth_scope_clip(a, "admin", "read"), "");
    assert_string_equal(oauth_scope_clip(a, "read", ""), "");
    assert_string_equal(oauth_scope_clip(a, "", "read"), "");
    assert_string_equal(oauth_scope_clip(a, "reader read", "read"), "read");
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grammar),
        cmocka_unit_test(test_subset),
        cmocka_unit_test(test_clip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
