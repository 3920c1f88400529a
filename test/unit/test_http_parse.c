#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <llhttp.h>

#include "core/http.h"

/* ---- http_pct_decode ---- */

static int decode(const char *in, bool form, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", in);
    return http_pct_decode(out, form);
}

static void test_pct_decode_ok(void **state)
{
    (void)state;
    char b[256];
    assert_int_equal(decode("", false, b, sizeof(b)), 0);
    assert_string_equal(b, "");
    assert_int_equal(decode("plain-text_.~", false, b, sizeof(b)), 0);
    assert_string_equal(b, "plain-text_.~");
    assert_int_equal(decode("a%2Fb%2fc", false, b, sizeof(b)), 0);
    assert_string_equal(b, "a/b/c");
    assert_int_equal(decode("%41%62%7E%7e", false, b, sizeof(b)), 0);
    assert_string_equal(b, "Ab~~");
    assert_int_equal(decode("%25", false, b, sizeof(b)), 0);
    assert_string_equal(b, "%"); /* decoded once, not twice */
    assert_int_equal(decode("%2541", false, b, sizeof(b)), 0);
    assert_string_equal(b, "%41");
    assert_int_equal(decode("%e2%82%AC", false, b, sizeof(b)), 0);
    assert_string_equal(b, "\xe2\x82\xac");
    /* Decoded bytes must be UTF-8 text: a lone byte, an overlong form, a
     * surrogate or a cut sequence is malformed. */
    assert_int_equal(decode("%FF", false, b, sizeof(b)), -1);
    assert_int_equal(decode("%C0%80", false, b, sizeof(b)), -1);
    assert_int_equal(decode("%ED%A0%80", false, b, sizeof(b)), -1);
    assert_int_equal(decode("%E2%82", false, b, sizeof(b)), -1);
    assert_int_equal(decode("caf\xc3", false, b, sizeof(b)), -1);
    assert_int_equal(decode("%F0%9F%98%80", false, b, sizeof(b)), 0);
    assert_string_equal(b, "\xf0\x9f\x98\x80");
    assert_int_equal(decode("https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1", false, b, sizeof(b)), 0);
    assert_string_equal(b, "https://app.example/cb?x=1");
}

static void test_pct_decode_plus(void **state)
{
    (void)state;
    char b[64];
    assert_int_equal(decode("a+b+%2B", true, b, sizeof(b)), 0);
    assert_string_equal(b, "a b +");
    assert_int_equal(decode("a+b+%2B", false, b, sizeof(b)), 0);
    assert_string_equal(b, "a+b++");
    assert_int_equal(decode("+", true, b, sizeof(b)), 0);
    assert_string_equal(b, " ");
    assert_int_equal(decode("%20+", true, b, sizeof(b)), 0);
    assert_string_equal(b, "  ");
}

static void test_pct_decode_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"%",    "abc%", "%4",  "abc%4", "%G0", "%0G", "%%41",
                         "% 41", "%-1",  "%00", "a%00b", "%0",  "x%zz"};
    char b[64];
    for (int form = 0; form < 2; form++)
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
            if (decode(bad[i], form, b, sizeof(b)) != -1)
                fail_msg("'%s' (form %d) decoded to '%s'", bad[i], form, b);
}

/* ---- the llhttp behaviour core/http.c relies on ---- */

struct seen {
    int messages;
    char url[8][64];
    char body[256];
    size_t body_len;
    int body_calls;
};

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    struct seen *s = p->data;
    size_t cur = strlen(s->url[s->messages]);
    assert_true(cur + n < sizeof(s->url[0]));
    memcpy(s->url[s->messages] + cur, at, n);
    s->url[s->messages][cur + n] = '\0';
    return HPE_OK;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct seen *s = p->data;
    assert_true(s->body_len + n < sizeof(s->body));
    memcpy(s->body + s->body_len, at, n);
    s->body_len += n;
    s->body[s->body_len] = '\0';
    s->body_calls++;
    return HPE_OK;
}

static int on_message_complete(llhttp_t *p)
{
    struct seen *s = p->data;
    s->messages++;
    return HPE_PAUSED; /* as core/http.c does: one request at a time */
}

static void init_parser(llhttp_t *p, llhttp_settings_t *st, struct seen *s)
{
    memset(s, 0, sizeof(*s));
    llhttp_settings_init(st);
    st->on_url = on_url;
    st->on_body = on_body;
    st->on_message_complete = on_message_complete;
    llhttp_init(p, HTTP_REQUEST, st);
    p->data = s;
}

static void test_llhttp_pause_pipelined(void **state)
{
    (void)state;
    const char first[] = "GET /first?x=1 HTTP/1.1\r\nHost: a\r\n\r\n";
    const char second[] = "POST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
    char buf[256];
    size_t l1 = strlen(first), l2 = strlen(second);
    memcpy(buf, first, l1);
    memcpy(buf + l1, second, l2);

    llhttp_t p;
    llhttp_settings_t st;
    struct seen s;
    init_parser(&p, &st, &s);

    llhttp_errno_t e = llhttp_execute(&p, buf, l1 + l2);
    assert_int_equal(e, HPE_PAUSED);
    assert_int_equal(s.messages, 1);
    assert_string_equal(s.url[0], "/first?x=1");
    assert_string_equal(s.url[1], ""); /* the second was not touched */
    assert_int_equal(s.body_len, 0);
    const char *pos = llhttp_get_error_pos(&p);
    assert_non_null(pos);
    assert_ptr_equal(pos, buf + l1); /* exactly the start of the second request */
    assert_int_equal(llhttp_get_method(&p), HTTP_GET);

    /* While paused, the parser refuses more input. */
    assert_int_equal(llhttp_execute(&p, pos, l1 + l2 - (size_t)(pos - buf)), HPE_PAUSED);
    assert_int_equal(s.messages, 1);

    llhttp_resume(&p);
    size_t rest = l1 + l2 - (size_t)(pos - buf);
    e = llhttp_execute(&p, pos, rest);
    assert_int_equal(e, HPE_PAUSED);
    assert_int_equal(s.messages, 2);
    assert_string_equal(s.url[1], "/second");
    assert_string_equal(s.body, "abc");
    assert_int_equal(llhttp_get_method(&p), HTTP_POST);
    assert_ptr_equal(llhttp_get_error_pos(&p), buf + l1 + l2); /* nothing left over */
    assert_true(llhttp_should_keep_alive(&p));

    /* A third request after resuming parses too. */
    llhttp_resume(&p);
    e = llhttp_execute(&p, first, l1);
    assert_int_equal(e, HPE_PAUSED);
    assert_int_equal(s.messages, 3);
    assert_string_equal(s.url[2], "/first?x=1");
}

static void test_llhttp_partial_then_rest(void **state)
{
    (void)state;
    /* A request arriving in pieces: no pause until it is whole. */
    const char req[] = "GET /split HTTP/1.1\r\nHost: a\r\n\r\n";
    llhttp_t p;
    llhttp_settings_t st;
    struct seen s;
    init_parser(&p, &st, &s);
    size_t n = strlen(req), cut = 9;
    assert_int_equal(llhttp_execute(&p, req, cut), HPE_OK);
    assert_int_equal(s.messages, 0);
    assert_int_equal(llhttp_execute(&p, req + cut, n - cut), HPE_PAUSED);
    assert_int_equal(s.messages, 1);
    assert_string_equal(s.url[0], "/split");
    assert_ptr_equal(llhttp_get_error_pos(&p), req + n);
}

static void test_llhttp_chunked_body(void **state)
{
    (void)state;
    const char req[] = "POST /token HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n"
                       "6;ext=1\r\n world\r\n"
                       "A\r\n0123456789\r\n"
                       "0\r\n\r\n";
    const char want[] = "hello world0123456789";
    llhttp_t p;
    llhttp_settings_t st;
    struct seen s;

    init_parser(&p, &st, &s);
    assert_int_equal(llhttp_execute(&p, req, strlen(req)), HPE_PAUSED);
    assert_int_equal(s.messages, 1);
    assert_string_equal(s.body, want);
    assert_true(s.body_calls >= 3);
    assert_ptr_equal(llhttp_get_error_pos(&p), req + strlen(req));

    /* Byte by byte: the same body, delivered in pieces. */
    init_parser(&p, &st, &s);
    size_t n = strlen(req);
    for (size_t i = 0; i < n; i++) {
        llhttp_errno_t e = llhttp_execute(&p, req + i, 1);
        if (i + 1 < n)
            assert_int_equal(e, HPE_OK);
        else
            assert_int_equal(e, HPE_PAUSED);
    }
    assert_int_equal(s.messages, 1);
    assert_string_equal(s.body, want);
    assert_int_equal(s.body_calls, (int)strlen(want));

    /* A bad chunk size is an error. */
    const char badchunk[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "zz\r\nhello\r\n0\r\n\r\n";
    init_parser(&p, &st, &s);
    llhttp_errno_t e = llhttp_execute(&p, badchunk, strlen(badchunk));
    assert_int_not_equal(e, HPE_OK);
    assert_int_not_equal(e, HPE_PAUSED);
    assert_int_equal(s.messages, 0);
}

static void test_llhttp_invalid_request_line(void **state)
{
    (void)state;
    const char *bad[] = {
        "GARBAGE\r\n\r\n",
        "GET\r\n\r\n",
        "GET /x HTTP/9.9\r\nHost: a\r\n\r\n",
        "GET /x HTTQ/1.1\r\n\r\n",
        "G@T /x HTTP/1.1\r\n\r\n",
        "GET /a b HTTP/1.1\r\n\r\n",
        "\x01\x02\x03",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        llhttp_t p;
        llhttp_settings_t st;
        struct seen s;
        init_parser(&p, &st, &s);
        llhttp_errno_t e = llhttp_execute(&p, bad[i], strlen(bad[i]));
        if (e == HPE_OK || e == HPE_PAUSED)
            fail_msg("request %zu parsed (%s)", i, llhttp_errno_name(e));
        assert_int_equal(s.messages, 0);
        assert_non_null(llhttp_errno_name(e));
        /* The error sticks: more input does not revive the parser. */
        assert_int_equal(llhttp_execute(&p, "GET / HTTP/1.1\r\n\r\n", 18), e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pct_decode_ok),
        cmocka_unit_test(test_pct_decode_plus),
        cmocka_unit_test(test_pct_decode_malformed),
        cmocka_unit_test(test_llhttp_pause_pipelined),
        cmocka_unit_test(test_llhttp_partial_then_rest),
        cmocka_unit_test(test_llhttp_chunked_body),
        cmocka_unit_test(test_llhttp_invalid_request_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
