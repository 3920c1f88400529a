/* protocol/form.c: application/x-www-form-urlencoded bodies as RFC 6749
 * requests read them (a repeated parameter is an error, §3.1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "protocol/form.h"

static int parse(arena *a, const char *body, form *f, const char **bad)
{
    return form_parse(a, body, strlen(body), f, bad);
}

static void test_fields_and_decoding(void **state)
{
    (void)state;
    arena *a = arena_new(1024);
    form f;
    assert_int_equal(parse(a, "grant_type=client_credentials&scope=a+b%20c&x=%3D%26", &f, NULL),
                     FORM_OK);
    assert_int_equal(f.n, 3);
    assert_string_equal(form_get(&f, "grant_type"), "client_credentials");
    assert_string_equal(form_get(&f, "scope"), "a b c"); /* '+' is a space in forms */
    assert_string_equal(form_get(&f, "x"), "=&");
    assert_null(form_get(&f, "missing"));
    arena_free(a);
}

static void test_empty_values_are_absent(void **state)
{
    (void)state;
    arena *a = arena_new(1024);
    form f;
    assert_int_equal(parse(a, "a=&b&&c=1&", &f, NULL), FORM_OK);
    assert_int_equal(f.n, 3); /* empty pairs between '&' are skipped */
    assert_null(form_get(&f, "a"));
    assert_null(form_get(&f, "b"));
    assert_string_equal(form_get(&f, "c"), "1");
    assert_int_equal(parse(a, "", &f, NULL), FORM_OK);
    assert_int_equal(f.n, 0);
    arena_free(a);
}

static void test_duplicates_are_refused(void **state)
{
    (void)state;
    arena *a = arena_new(1024);
    form f;
    const char *bad = NULL;
    assert_int_equal(parse(a, "scope=a&client_id=x&scope=b", &f, &bad), FORM_EDUPLICATE);
    assert_string_equal(bad, "scope");
    /* Names compare after decoding: an escaped twin is still a twin. */
    assert_int_equal(parse(a, "scope=a&%73cope=b", &f, &bad), FORM_EDUPLICATE);
    /* Even an empty repeat counts (it would otherwise pick a value silently). */
    assert_int_equal(parse(a, "code=1&code=", &f, &bad), FORM_EDUPLICATE);
    arena_free(a);
}

static void test_malformed_is_refused(void **state)
{
    (void)state;
    arena *a = arena_new(1024);
    form f;
    assert_int_equal(parse(a, "a=%zz", &f, NULL), FORM_EMALFORMED);    /* bad escape */
    assert_int_equal(parse(a, "a=%4", &f, NULL), FORM_EMALFORMED);     /* truncated escape */
    assert_int_equal(parse(a, "=value", &f, NULL), FORM_EMALFORMED);   /* no name */
    assert_int_equal(parse(a, "a=%ff%fe", &f, NULL), FORM_EMALFORMED); /* not UTF-8 */
    assert_int_equal(parse(a, "a=%00", &f, NULL), FORM_EMALFORMED);    /* NUL inside */
    const char nul[] = {'a', '=', 'x', '\0', 'y'};
    assert_int_equal(form_parse(a, nul, sizeof(nul), &f, NULL), FORM_EMALFORMED);
    arena_free(a);
}

static void test_too_many_fields(void **state)
{
    (void)state;
    arena *a = arena_new(4096);
    char body[FORM_MAX_FIELDS * 8 + 16] = "";
    size_t n = 0;
    for (int i = 0; i <= FORM_MAX_FIELDS; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%sf%d=1", i ? "&" : "", i);
    form f;
    assert_int_equal(parse(a, body, &f, NULL), FORM_ETOOMANY);
    /* One fewer fits. */
    *strrchr(body, '&') = '\0';
    assert_int_equal(parse(a, body, &f, NULL), FORM_OK);
    assert_int_equal(f.n, FORM_MAX_FIELDS);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_and_decoding),
        cmocka_unit_test(test_empty_values_are_absent),
        cmocka_unit_test(test_duplicates_are_refused),
        cmocka_unit_test(test_malformed_is_refused),
        cmocka_unit_test(test_too_many_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
