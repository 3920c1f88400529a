#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/arena.h"
#include "core/jsonw.h"

/* Parses jsonw's text back with jansson (an independent implementation). */
static json_t *reparse(const char *text, size_t len)
{
    json_error_t e;
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    json_t *j = json_loadb(text, len, 0, &e);
    if (j == NULL)
        fail_msg("not JSON (%s): %s", e.text, text);
    return j;
}

static void test_members_in_order(void **state)
{
    (void)state;
    arena *a = arena_new(256);
    jsonw *w = jsonw_new(a);
    jsonw_str(w, "iss", "https://as.example");
    jsonw_int(w, "iat", 1763900000);
    jsonw_open(w, "cnf");
    jsonw_str(w, "jkt", "abc");
    jsonw_close(w);
    jsonw_raw(w, "act", "{\"sub\":\"x\"}", 11);
    jsonw_int(w, "neg", INT64_MIN);
    jsonw_int(w, "zero", 0);
    size_t len;
    const char *s = jsonw_finish(w, &len);
    assert_string_equal(s, "{\"iss\":\"https://as.example\",\"iat\":1763900000,"
                           "\"cnf\":{\"jkt\":\"abc\"},\"act\":{\"sub\":\"x\"},"
                           "\"neg\":-9223372036854775808,\"zero\":0}");
    json_decref(reparse(s, len));
    arena_free(a);
}

static void test_empty_and_unclosed(void **state)
{
    (void)state;
    arena *a = arena_new(256);
    size_t len;
    assert_string_equal(jsonw_finish(jsonw_new(a), &len), "{}");
    assert_int_equal(len, 2);
    jsonw *w = jsonw_new(a);
    jsonw_open(w, "a");
    jsonw_open(w, "b");
    assert_string_equal(jsonw_finish(w, &len), "{\"a\":{\"b\":{}}}");
    w = jsonw_new(a);
    jsonw_close(w);
    assert_null(jsonw_finish(w, &len));
    arena_free(a);
}

static void test_escapes(void **state)
{
    (void)state;
    arena *a = arena_new(64);
    jsonw *w = jsonw_new(a);
    jsonw_str(w, "s", "q\"b\\n\n\r\t\b\f\x01\x1f/é€😀");
    size_t len;
    const char *s = jsonw_finish(w, &len);
    assert_string_equal(s, "{\"s\":\"q\\\"b\\\\n\\n\\r\\t\\b\\f\\u0001\\u001f/é€😀\"}");
    json_t *j = reparse(s, len);
    assert_string_equal(json_string_value(json_object_get(j, "s")),
                        "q\"b\\n\n\r\t\b\f\x01\x1f/é€😀");
    json_decref(j);
    arena_free(a);
}

static void test_invalid_utf8_fails(void **state)
{
    (void)state;
    const char *bad[] = {"\xff",     "a\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                         "\xe2\x82", "\x80",      "\xf0\x9f\x98"};
    arena *a = arena_new(64);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jsonw *w = jsonw_new(a);
        jsonw_str(w, "ok", "fine");
        jsonw_str(w, "s", bad[i]);
        size_t len;
        assert_null(jsonw_finish(w, &len));
    }
    arena_free(a);
}

/* Random byte strings: jsonw accepts exactly what jansson accepts as a
 * string, and what it writes reads back to the same bytes. Long values also
 * grow the buffer past its first block. */
static void test_random_against_jansson(void **state)
{
    (void)state;
    static const unsigned char pool[] = {'a',  '"',  '\\', '\n', 0x01, 0x1f, 0x7f, 0x80,
                                         0xbf, 0xc2, 0xc0, 0xe0, 0xed, 0xef, 0xf0, 0xf4,
                                         0xf5, 0xa0, 0x9f, 0x90, 0x8f, 0xff, ' ',  '/'};
    arena *a = arena_new(128);
    srand(7);
    for (int round = 0; round < 20000; round++) {
        unsigned char v[200];
        size_t n = (size_t)(rand() % (round % 50 == 0 ? 199 : 12));
        for (size_t i = 0; i < n; i++)
            v[i] = pool[rand() % (int)sizeof(pool)];
        v[n] = '\0';
        json_t *ref = json_string((const char *)v);
        jsonw *w = jsonw_new(a);
        jsonw_int(w, "n", round);
        jsonw_str(w, "v", (const char *)v);
        size_t len;
        const char *s = jsonw_finish(w, &len);
        if (ref == NULL) {
            assert_null(s);
        } else {
            json_t *j = reparse(s, len);
            assert_true(json_equal(json_object_get(j, "v"), ref));
            json_decref(j);
        }
        json_decref(ref);
        if (round % 100 == 0)
            arena_reset(a);
    }
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_members_in_order),
        cmocka_unit_test(test_empty_and_unclosed),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_invalid_utf8_fails),
        cmocka_unit_test(test_random_against_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
