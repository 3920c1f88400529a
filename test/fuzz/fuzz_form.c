/*
 * fuzz_form: the decoders of request text. protocol/form.c on the bytes as a
 * form body, http_pct_decode in both modes, utf8_valid against a reference
 * decoder written here, and core/http.c's query decoding through a GET whose
 * query string is the input (by http_feed, so llhttp's URL rules apply).
 *
 * Properties: a parsed form has at most FORM_MAX_FIELDS distinct, non-empty,
 * valid UTF-8 names and valid UTF-8 values, and form_get agrees with it;
 * decoding never lengthens its input and succeeds only on valid UTF-8; both
 * UTF-8 validators agree.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/utf8.h"
#include "fuzz_app.h"
#include "protocol/form.h"

/* Unicode's definition, decoded the long way: scalar values only, shortest
 * form only. */
static bool utf8_reference(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        if (len == 0 || i + len > n)
            return false;
        uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

static void check_form(arena *a, const char *data, size_t size)
{
    form f;
    const char *bad = NULL;
    int rc = form_parse(a, data, size, &f, &bad);
    FUZZ_ASSERT(rc == FORM_OK || rc == FORM_EMALFORMED || rc == FORM_EDUPLICATE ||
                rc == FORM_ETOOMANY);
    FUZZ_ASSERT(rc != FORM_EDUPLICATE || (bad != NULL && utf8_valid(bad)));
    if (rc != FORM_OK)
        return;
    FUZZ_ASSERT(f.n >= 0 && f.n <= FORM_MAX_FIELDS);
    for (int i = 0; i < f.n; i++) {
        FUZZ_ASSERT(f.f[i].name[0] != '\0' && utf8_valid(f.f[i].name) && utf8_valid(f.f[i].value));
        for (int k = 0; k < i; k++)
            FUZZ_ASSERT(strcmp(f.f[i].name, f.f[k].name) != 0);
        const char *v = form_get(&f, f.f[i].name);
        FUZZ_ASSERT(f.f[i].value[0] == '\0' ? v == NULL : v == f.f[i].value);
    }
}

static void check_decode(const char *data, size_t size)
{
    char *s = malloc(size + 1);
    for (int form = 0; form < 2; form++) {
        memcpy(s, data, size);
        s[size] = '\0';
        size_t before = strlen(s);
        bool valid_in = utf8_valid(s);
        FUZZ_ASSERT(valid_in == utf8_reference((const unsigned char *)s, before));
        if (http_pct_decode(s, form) == 0) {
            FUZZ_ASSERT(strlen(s) <= before && utf8_valid(s));
            FUZZ_ASSERT(utf8_reference((const unsigned char *)s, strlen(s)));
        }
    }
    free(s);
}

static void h_query(http_req *r)
{
    static const char *const names[] = {"a", "b", "response_type", "client_id", "state", " "};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = http_req_query_get(r, names[i]);
        FUZZ_ASSERT(v == NULL || utf8_reference((const unsigned char *)v, strlen(v)));
    }
    http_respond(r, 204, NULL, "", 0);
}

static int routes(router *rt)
{
    return router_add(rt, "GET", "/q", h_query, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static arena *a;
    if (a == NULL)
        a = arena_new(8192);
    check_form(a, (const char *)data, size);
    arena_reset(a);
    check_decode((const char *)data, size);

    static const char pre[] = "GET /q?", post[] = " HTTP/1.1\r\nHost: x\r\n\r\n";
    char *req = malloc(sizeof(pre) + size + sizeof(post));
    memcpy(req, pre, sizeof(pre) - 1);
    memcpy(req + sizeof(pre) - 1, data, size);
    memcpy(req + sizeof(pre) - 1 + size, post, sizeof(post) - 1);
    http_feed(fuzz_worker(routes), req, sizeof(pre) - 1 + size + sizeof(post) - 1, 0);
    free(req);
    return 0;
}
