#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admin/glob.h"

/* Every expectation below was produced by SQLite itself (`SELECT s GLOB p`). */
static const struct {
    const char *pattern, *s;
    bool match;
} cases[] = {
    {"shark_agent_v3.2_*", "shark_agent_v3.2_abc", true},
    {"shark_agent_v3.2_*", "shark_agent_v3.2_", true},
    {"shark_agent_v3.2_*", "shark_agent_v3x2_abc", false},
    {"shark_agent_v3.2_*", "shark_agent_v3.20_abc", false},
    {"shark_agent_v3.2_*", "SHARK_AGENT_V3.2_abc", false},
    {"shark_agent_*_prod", "shark_agent_v1_prod", true},
    {"shark_agent_*_prod", "shark_agent_v1_prod_x", false},
    {"*[0-9]", "agent7", true},
    {"*[0-9]", "agent7x", false},
    {"*[0-9]", "", false},
    {"*[0-9]", "9", true},
    {"?", "a", true},
    {"?", "", false},
    {"?", "ab", false},
    {"??", "ab", true},
    {"a?c", "abc", true},
    {"a?c", "ac", false},
    {"*?", "", false},
    {"*?", "x", true},
    {"?*?", "x", false},
    {"?*?", "xy", true},
    {"[^a]", "b", true},
    {"[^a]", "a", false},
    {"[^a]", "", false},
    {"[]]", "]", true},
    {"[]]", "a", false},
    {"[^]]", "]", false},
    {"[^]]", "x", true},
    {"[a-]", "-", true},
    {"[a-]", "a", true},
    {"[a-]", "b", false},
    {"[-a]", "-", true},
    {"[a-c]", "b", true},
    {"[a-c]", "d", false},
    {"[c-a]", "b", false},
    {"[a-c-e]", "-", true},
    {"[a-c-e]", "d", false},
    {"[a-c-e]", "e", true},
    {"[[]", "[", true},
    {"[0-9][0-9]", "42", true},
    {"[0-9][0-9]", "4a", false},
    {"*[!]", "x!", true},
    /* unterminated sets match nothing */
    {"[]", "]", false},
    {"[", "[", false},
    {"a[", "a[", false},
    {"*[", "x[", false},
    {"", "", true},
    {"", "a", false},
    {"*", "", true},
    {"*", "anything", true},
    {"a*", "a", true},
    {"a*b*c", "axxbyyc", true},
    {"a*b*c", "axxbyy", false},
    {"*.*", "a.b", true},
    {"]", "]", true},
    {"^", "^", true},
    {"*]", "x]", true},
    {"ABC", "abc", false},
    /* SQL and LIKE meta-characters are plain characters */
    {"%", "%", true},
    {"%", "abc", false},
    {"_", "_", true},
    {"_", "a", false},
    {"%_", "a_", false},
    {"a'b", "a'b", true},
    {"*'*", "x'y", true},
    {"' OR 1=1 --", "' OR 1=1 --", true},
    {"\\", "\\", true},
    {"a\\*", "a\\xyz", true},
    {"a\\*", "a*", false},
    /* characters are UTF-8 code points */
    {"[\xc3\xa9]", "\xc3\xa9", true},
    {"?", "\xc3\xa9", true},
    {"??", "\xc3\xa9", false},
    {"[a-z]", "\xc3\xa9", false},
    {"[^a-z]", "\xc3\xa9", true},
    {"*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (glob_match(cases[i].pattern, cases[i].s) != cases[i].match)
            fail_msg("'%s' GLOB '%s': expected %d", cases[i].s, cases[i].pattern, cases[i].match);
}

static void test_valid(void **state)
{
    (void)state;
    const char *ok[] = {"", "*", "abc", "[a]", "[]]", "[^]]", "[[]", "]", "a[b-c]*[^x]", "[]^]"};
    const char *bad[] = {"[", "[]", "[^]", "a[b", "*[0-9", "[a]["};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!glob_valid(ok[i]))
            fail_msg("'%s' was called invalid", ok[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (glob_valid(bad[i]))
            fail_msg("'%s' was called valid", bad[i]);
}

/* Backtracking is cut the way SQLite cuts it, so a hostile pattern against
 * a long id finishes quickly. */
static void test_no_blowup(void **state)
{
    (void)state;
    char s[4097];
    memset(s, 'a', sizeof(s) - 1);
    s[sizeof(s) - 1] = '\0';
    assert_false(glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", s));
    assert_true(glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a", s));
    assert_false(glob_match("*[b]*[b]*[b]*[b]*[b]*", s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_no_blowup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
