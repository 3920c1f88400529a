#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/router.h"

struct http_req;

static void h_a(struct http_req *req)
{
    (void)req;
}
static void h_b(struct http_req *req)
{
    (void)req;
}
static void h_c(struct http_req *req)
{
    (void)req;
}

static int match(const router *r, const char *method, const char *path, route_match *m)
{
    return router_match(r, method, path, strlen(path), m);
}

/* The parameter name points into the pattern and ends at its '}'. */
static void assert_param(const route_match *m, int i, const char *name, const char *value)
{
    size_t nl = strlen(name);
    assert_true(i < m->nparams);
    assert_memory_equal(m->params[i].name, name, nl);
    assert_int_equal(m->params[i].name[nl], '}');
    assert_int_equal(m->params[i].len, strlen(value));
    assert_memory_equal(m->params[i].value, value, strlen(value));
}

static void test_literal_match(void **state)
{
    (void)state;
    router *r = router_new();
    int data = 7;
    assert_int_equal(router_add(r, "GET", "/healthz", h_a, &data), 0);
    assert_int_equal(router_add(r, "POST", "/oauth/token", h_b, NULL), 0);
    route_match m;
    assert_int_equal(match(r, "GET", "/healthz", &m), ROUTER_FOUND);
    assert_non_null(m.route);
    assert_ptr_equal(m.route->handler, h_a);
    assert_ptr_equal(m.route->data, &data);
    assert_string_equal(m.route->pattern, "/healthz");
    assert_string_equal(m.route->method, "GET");
    assert_int_equal(m.nparams, 0);
    assert_int_equal(match(r, "POST", "/oauth/token", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_b);
    assert_int_equal(match(r, "GET", "/healthzz", &m), ROUTER_NOT_FOUND);
    assert_null(m.route);
    assert_int_equal(match(r, "GET", "/health", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(r, "GET", "/oauth", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(r, "POST", "/oauth/token/x", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(r, "GET", "healthz", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(r, "GET", "", &m), ROUTER_NOT_FOUND);
    router_free(r);
}

static void test_param_match(void **state)
{
    (void)state;
    router *r = router_new();
    assert_int_equal(router_add(r, "GET", "/api/v1/agents/{id}/tokens/{tid}", h_a, NULL), 0);
    assert_int_equal(router_add(r, "GET", "/api/v1/agents/{id}", h_b, NULL), 0);
    route_match m;
    assert_int_equal(match(r, "GET", "/api/v1/agents/ag_123/tokens/t9", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_a);
    assert_int_equal(m.nparams, 2);
    assert_param(&m, 0, "id", "ag_123");
    assert_param(&m, 1, "tid", "t9");

    assert_int_equal(match(r, "GET", "/api/v1/agents/x%2Fy", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_b);
    assert_int_equal(m.nparams, 1);
    assert_param(&m, 0, "id", "x%2Fy"); /* raw: decoding is the caller's job */

    /* A parameter never matches an empty segment. */
    assert_int_equal(match(r, "GET", "/api/v1/agents/", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(r, "GET", "/api/v1/agents//tokens/t", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(r, "GET", "/api/v1/agents/a/tokens/", &m), ROUTER_NOT_FOUND);
    router_free(r);
}

static void test_param_lengths(void **state)
{
    (void)state;
    router *r = router_new();
    assert_int_equal(router_add(r, "GET", "/x/{a}/{bb}/{ccc}", h_a, NULL), 0);
    char path[1200];
    char longv[1001];
    memset(longv, 'v', 1000);
    longv[1000] = '\0';
    snprintf(path, sizeof(path), "/x/1/%s/zz", longv);
    route_match m;
    assert_int_equal(match(r, "GET", path, &m), ROUTER_FOUND);
    assert_int_equal(m.nparams, 3);
    assert_param(&m, 0, "a", "1");
    assert_param(&m, 1, "bb", longv);
    assert_param(&m, 2, "ccc", "zz");
    /* Values point into the path itself. */
    assert_ptr_equal(m.params[0].value, path + 3);

    /* pathlen is honoured: bytes after it are not part of the path. */
    const char *p2 = "/x/p/q/r/ignored";
    assert_int_equal(router_match(r, "GET", p2, 8, &m), ROUTER_FOUND);
    assert_param(&m, 2, "ccc", "r");
    assert_int_equal(router_match(r, "GET", p2, 7, &m), ROUTER_NOT_FOUND);
    router_free(r);
}

static void test_literal_beats_param(void **state)
{
    (void)state;
    router *r = router_new();
    /* The parameter route is registered first, so order alone would pick it. */
    assert_int_equal(router_add(r, "GET", "/clients/{id}", h_a, NULL), 0);
    assert_int_equal(router_add(r, "GET", "/clients/new", h_b, NULL), 0);
    assert_int_equal(router_add(r, "GET", "/{x}/{y}/z", h_c, NULL), 0);
    assert_int_equal(router_add(r, "GET", "/a/{y}/z", h_a, NULL), 0);
    route_match m;
    assert_int_equal(match(r, "GET", "/clients/new", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_b);
    assert_int_equal(m.nparams, 0);
    assert_int_equal(match(r, "GET", "/clients/c1", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_a);
    assert_param(&m, 0, "id", "c1");
    /* The match with the most literal segments wins. */
    assert_int_equal(match(r, "GET", "/a/b/z", &m), ROUTER_FOUND);
    assert_string_equal(m.route->pattern, "/a/{y}/z");
    assert_param(&m, 0, "y", "b");
    assert_int_equal(match(r, "GET", "/q/b/z", &m), ROUTER_FOUND);
    assert_string_equal(m.route->pattern, "/{x}/{y}/z");
    assert_param(&m, 0, "x", "q");
    router_free(r);

    /* Same with the literal registered first. */
    r = router_new();
    assert_int_equal(router_add(r, "GET", "/clients/new", h_b, NULL), 0);
    assert_int_equal(router_add(r, "GET", "/clients/{id}", h_a, NULL), 0);
    assert_int_equal(match(r, "GET", "/clients/new", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_b);
    router_free(r);
}

static void test_not_found_vs_bad_method(void **state)
{
    (void)state;
    router *r = router_new();
    assert_int_equal(router_add(r, "GET", "/a/{id}", h_a, NULL), 0);
    assert_int_equal(router_add(r, "GET", "/a/b", h_a, NULL), 0);
    assert_int_equal(router_add(r, "POST", "/a/{id}", h_b, NULL), 0);
    assert_int_equal(router_add(r, "DELETE", "/a/b", h_c, NULL), 0);
    assert_int_equal(router_add(r, "PUT", "/other", h_c, NULL), 0);
    route_match m;
    assert_int_equal(match(r, "PATCH", "/a/b", &m), ROUTER_BAD_METHOD);
    assert_null(m.route);
    /* GET matches twice ("/a/{id}" and "/a/b") but is listed once. */
    assert_string_equal(m.allow, "GET, POST, DELETE");
    assert_int_equal(match(r, "PATCH", "/a/zz", &m), ROUTER_BAD_METHOD);
    assert_string_equal(m.allow, "GET, POST");
    assert_int_equal(match(r, "GET", "/other", &m), ROUTER_BAD_METHOD);
    assert_string_equal(m.allow, "PUT");
    assert_int_equal(match(r, "GET", "/nope", &m), ROUTER_NOT_FOUND);
    assert_string_equal(m.allow, "");
    /* The allow list of an earlier 405 does not leak into a found match. */
    assert_int_equal(match(r, "DELETE", "/a/b", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_c);
    assert_string_equal(m.allow, "");
    /* Methods are case-sensitive. */
    assert_int_equal(match(r, "get", "/a/b", &m), ROUTER_BAD_METHOD);
    router_free(r);
}

static void test_head_is_get_without_content(void **state)
{
    (void)state;
    router *r = router_new();
    assert_int_equal(router_add(r, "GET", "/a/{id}", h_a, NULL), 0);
    assert_int_equal(router_add(r, "POST", "/b", h_b, NULL), 0);
    route_match m;
    assert_int_equal(match(r, "HEAD", "/a/x", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_a);
    /* Only GET routes answer HEAD. */
    assert_int_equal(match(r, "HEAD", "/b", &m), ROUTER_BAD_METHOD);
    assert_string_equal(m.allow, "POST");
    router_free(r);
}

static void test_trailing_slash_and_root(void **state)
{
    (void)state;
    router *r = router_new();
    assert_int_equal(router_add(r, "GET", "/", h_a, NULL), 0);
    assert_int_equal(router_add(r, "GET", "/jwks", h_b, NULL), 0);
    route_match m;
    assert_int_equal(match(r, "GET", "/", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_a);
    assert_int_equal(m.nparams, 0);
    assert_int_equal(match(r, "GET", "/jwks", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_b);
    /* Trailing slash is a different path. */
    assert_int_equal(match(r, "GET", "/jwks/", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(r, "GET", "//", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(r, "POST", "/", &m), ROUTER_BAD_METHOD);
    assert_string_equal(m.allow, "GET");
    router_free(r);

    /* Without a root route, "/" is 404. */
    r = router_new();
    assert_int_equal(router_add(r, "GET", "/jwks", h_b, NULL), 0);
    assert_int_equal(match(r, "GET", "/", &m), ROUTER_NOT_FOUND);
    router_free(r);
}

static void test_too_many_segments(void **state)
{
    (void)state;
    router *r = router_new();
    char pat[256] = "";
    /* 16 segments is the most a pattern may have. */
    for (int i = 0; i < 16; i++)
        strcat(pat, "/s");
    assert_int_equal(router_add(r, "GET", pat, h_a, NULL), 0);
    route_match m;
    assert_int_equal(match(r, "GET", pat, &m), ROUTER_FOUND);
    strcat(pat, "/s");
    assert_int_equal(router_add(r, "GET", pat, h_a, NULL), -1);
    assert_int_equal(match(r, "GET", pat, &m), ROUTER_NOT_FOUND);
    char longpath[4096] = "";
    for (int i = 0; i < 500; i++)
        strcat(longpath, "/s");
    assert_int_equal(match(r, "GET", longpath, &m), ROUTER_NOT_FOUND);
    router_free(r);

    /* More than ROUTER_MAX_PARAMS parameters is refused. */
    r = router_new();
    assert_int_equal(router_add(r, "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", h_a, NULL), 0);
    assert_int_equal(router_add(r, "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", h_a, NULL), -1);
    assert_int_equal(match(r, "GET", "/1/2/3/4/5/6/7/8", &m), ROUTER_FOUND);
    assert_int_equal(m.nparams, ROUTER_MAX_PARAMS);
    assert_param(&m, 7, "h", "8");
    router_free(r);
}

static void test_duplicate_refused(void **state)
{
    (void)state;
    router *r = router_new();
    assert_int_equal(router_add(r, "GET", "/a/{id}", h_a, NULL), 0);
    assert_int_equal(router_add(r, "GET", "/a/{id}", h_b, NULL), -1);
    /* Same shape under another parameter name: it could never win. */
    assert_int_equal(router_add(r, "GET", "/a/{other}", h_b, NULL), -1);
    /* Another method, or a literal in place of the parameter, is fine. */
    assert_int_equal(router_add(r, "POST", "/a/{id}", h_b, NULL), 0);
    assert_int_equal(router_add(r, "GET", "/a/b", h_b, NULL), 0);
    assert_int_equal(router_count(r), 3);
    route_match m;
    assert_int_equal(match(r, "GET", "/a/x", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_a);
    router_free(r);
}

static void test_malformed_refused(void **state)
{
    (void)state;
    const char *bad[] = {
        "",       "healthz", "a/b",      "/a//b",    "/a/",      "//",         "/{}",
        "/a/{id", "/a/id}",  "/a/{i{d}", "/a/{id}x", "/a/x{id}", "/{id}/{id}",
    };
    router *r = router_new();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (router_add(r, "GET", bad[i], h_a, NULL) != -1)
            fail_msg("pattern '%s' was accepted", bad[i]);
    }
    assert_int_equal(router_count(r), 0);
    router_free(r);
}

static void test_route_index_order(void **state)
{
    (void)state;
    router *r = router_new();
    assert_int_equal(router_count(r), 0);
    assert_null(router_get(r, 0));
    char pats[40][32];
    for (int i = 0; i < 40; i++) { /* beyond the initial capacity */
        snprintf(pats[i], sizeof(pats[i]), "/r%d/{id}", i);
        assert_int_equal(router_add(r, i % 2 ? "POST" : "GET", pats[i], h_a, NULL), 0);
    }
    assert_int_equal(router_add(r, "GET", "/r3/{id}", h_a, NULL), 0);
    assert_int_equal(router_add(r, "GET", "/r0/{id}", h_a, NULL), -1); /* refused: no index */
    assert_int_equal(router_count(r), 41);
    for (int i = 0; i < 40; i++) {
        const route *rt = router_get(r, i);
        assert_non_null(rt);
        assert_int_equal(rt->index, i);
        assert_string_equal(rt->pattern, pats[i]);
    }
    assert_int_equal(router_get(r, 40)->index, 40);
    assert_string_equal(router_get(r, 40)->method, "GET");
    assert_null(router_get(r, 41));
    assert_null(router_get(r, -1));
    route_match m;
    assert_int_equal(match(r, "POST", "/r37/abc", &m), ROUTER_FOUND);
    assert_int_equal(m.route->index, 37);
    assert_ptr_equal(m.route, router_get(r, 37));
    router_free(r);
    router_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_match),
        cmocka_unit_test(test_param_match),
        cmocka_unit_test(test_param_lengths),
        cmocka_unit_test(test_literal_beats_param),
        cmocka_unit_test(test_not_found_vs_bad_method),
        cmocka_unit_test(test_head_is_get_without_content),
        cmocka_unit_test(test_trailing_slash_and_root),
        cmocka_unit_test(test_too_many_segments),
        cmocka_unit_test(test_duplicate_refused),
        cmocka_unit_test(test_malformed_refused),
        cmocka_unit_test(test_route_index_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
