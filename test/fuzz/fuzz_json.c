/*
 * fuzz_json: JSON request bodies, sent as a POST through http_feed to a route
 * that reads them the way admin handlers do (admin_body: jansson with
 * duplicate keys refused, object required; then admin_string and
 * admin_string_array), and core/jsonw, the writer of hot responses, on the
 * raw bytes and on every string the body carried.
 *
 * Properties: admin_string hands back only strings without an embedded NUL
 * and within their limit; admin_string_array only a JSON array of strings;
 * whatever jsonw writes parses back with jansson to exactly the strings
 * written, and jsonw refuses (NULL) rather than write bytes that are not
 * UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "core/jsonw.h"
#include "core/utf8.h"
#include "fuzz_app.h"

static const char *const keys[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"};

/* Writes vals with jsonw under fixed keys and checks the text reads back. */
static void check_jsonw(arena *a, const char *const *vals, int n)
{
    jsonw *w = jsonw_new(a);
    bool all_utf8 = true;
    for (int i = 0; i < n; i++) {
        jsonw_str(w, keys[i], vals[i]);
        all_utf8 = all_utf8 && utf8_valid(vals[i]);
    }
    jsonw_int(w, "n", INT64_MIN + n); /* the far end of the range */
    size_t len;
    const char *text = jsonw_finish(w, &len);
    FUZZ_ASSERT((text != NULL) == all_utf8);
    if (text == NULL)
        return;
    FUZZ_ASSERT(strlen(text) == len);
    json_error_t e;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    FUZZ_ASSERT(json_is_object(j) && json_object_size(j) == (size_t)n + 1);
    for (int i = 0; i < n; i++) {
        json_t *v = json_object_get(j, keys[i]);
        FUZZ_ASSERT(json_is_string(v) && strcmp(json_string_value(v), vals[i]) == 0 &&
                    json_string_length(v) == strlen(vals[i]));
    }
    FUZZ_ASSERT(json_integer_value(json_object_get(j, "n")) == INT64_MIN + n);
    json_decref(j);
}

static bool short_string(const char *s)
{
    return strlen(s) <= 64;
}

static void h_json(http_req *r)
{
    json_t *body = admin_body(r);
    if (body == NULL)
        return; /* answered 400 */
    FUZZ_ASSERT(json_is_object(body));
    bool bad = false;
    const char *name = admin_string(r, body, "name", 100, &bad);
    const char *desc = admin_string(r, body, "description", 1000, &bad);
    const char *scopes = admin_string_array(r, json_object_get(body, "scopes"), "scopes", 8,
                                            short_string, &bad);
    if (bad)
        return; /* answered 400 */
    FUZZ_ASSERT(
        name == NULL ||
        (strlen(name) <= 100 && strlen(name) == json_string_length(json_object_get(body, "name"))));
    FUZZ_ASSERT(desc == NULL || strlen(desc) <= 1000);
    if (scopes != NULL) {
        json_t *s = json_loads(scopes, 0, NULL);
        FUZZ_ASSERT(json_is_array(s) && json_array_size(s) <= 8);
        json_decref(s);
    }
    /* Every string member (without an embedded NUL) through jsonw. */
    const char *vals[8];
    int n = 0;
    const char *k;
    json_t *v;
    json_object_foreach (body, k, v)
        if (n < 8 && json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v))
            vals[n++] = json_string_value(v);
    check_jsonw(http_req_arena(r), vals, n);
    http_respond(r, 204, NULL, "", 0);
}

static int routes(router *rt)
{
    return router_add(rt, "POST", "/json", h_json, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The raw bytes as one string value: jsonw must refuse or round-trip. */
    static arena *a;
    if (a == NULL)
        a = arena_new(8192);
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    const char *one[1] = {s};
    check_jsonw(a, one, 1);
    arena_reset(a);
    free(s);

    char head[128];
    int hl = snprintf(head, sizeof(head),
                      "POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      size);
    char *req = malloc((size_t)hl + size);
    memcpy(req, head, (size_t)hl);
    memcpy(req + hl, data, size);
    http_feed(fuzz_worker(routes), req, (size_t)hl + size, 0);
    free(req);
    return 0;
}
