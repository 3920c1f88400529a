/*
 * fuzz_http: bytes from one client, through llhttp and core/http.c's
 * callbacks, limits, dispatch (path and query split, request id, trusted
 * proxy resolution, query decoding, routing) and the request accessors, by
 * the socket-free seam http_feed. The first byte picks how many bytes each
 * read delivers (1..128, or all at once), since spans split across reads are
 * where the header accumulation lives; the rest is the byte stream.
 *
 * Properties checked on every routed request: the body is NUL-terminated at
 * its length and within the limit, the path has no query and starts with
 * '/', decoded query and route parameters are valid UTF-8, header values
 * carry no CR, LF or NUL, the request id is short and of safe characters, and
 * the client address is a parsable address.
 */
#include <stdint.h>
#include <string.h>

#include "core/cidr.h"
#include "core/utf8.h"
#include "fuzz_app.h"

static const char *const header_names[] = {
    "Host",           "Content-Type", "Authorization",
    "DPoP",           "Cookie",       "X-Forwarded-For",
    "X-Request-Id",   "Origin",       "Transfer-Encoding",
    "Content-Length", "Expect",       "Connection",
    "Accept",         "X-Echo",
};

static void check_request(http_req *r)
{
    size_t n;
    const char *body = http_req_body(r, &n);
    FUZZ_ASSERT(body[n] == '\0' && n <= FUZZ_MAX_BODY);
    const char *path = http_req_path(r);
    FUZZ_ASSERT(path[0] == '/' && strchr(path, '?') == NULL);
    static const char *const params[] = {"a", "b", "scope", "redirect_uri", "", "q"};
    for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        const char *v = http_req_query_get(r, params[i]);
        FUZZ_ASSERT(v == NULL || utf8_valid(v));
    }
    for (size_t i = 0; i < sizeof(header_names) / sizeof(header_names[0]); i++) {
        const char *v = http_req_header(r, header_names[i]);
        int count = http_req_header_count(r, header_names[i]);
        FUZZ_ASSERT((v == NULL) == (count == 0));
        FUZZ_ASSERT(v == NULL || strpbrk(v, "\r\n") == NULL);
    }
    /* "<ours>" or "<ours> <the client's>" (what the audit log splits). */
    const char *id = http_req_id(r);
    size_t idl = strlen(id), ours = strcspn(id, " ");
    FUZZ_ASSERT(ours == 20 && strncmp(id, "req_", 4) == 0);
    FUZZ_ASSERT(idl <= ours + 1 + 64 &&
                strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "0123456789-_.: ") == idl &&
                strchr(id + ours + (id[ours] == ' '), ' ') == NULL);
    uint8_t addr[16];
    FUZZ_ASSERT(cidr_addr_parse(http_req_client_ip(r), addr) == 0);
    (void)http_req_is_loopback(r);
}

static void h_echo(http_req *r)
{
    check_request(r);
    /* Request text into response headers: the writer must keep them whole
     * and single-line. */
    const char *v = http_req_header(r, "X-Echo"), *q = http_req_query_get(r, "a");
    if (v != NULL)
        http_header(r, "X-Echo", v);
    if (q != NULL)
        http_header(r, "Location", q);
    http_respond(r, 200, http_req_header(r, "Accept"), "ok", 2);
}

static void h_params(http_req *r)
{
    check_request(r);
    const char *id = http_req_param(r, "id"), *name = http_req_param(r, "name");
    FUZZ_ASSERT(id == NULL || utf8_valid(id));
    FUZZ_ASSERT(name == NULL || utf8_valid(name));
    FUZZ_ASSERT(http_req_param(r, "i") == NULL && http_req_param(r, "missing") == NULL);
    http_error(r, 404, "not_found", "no such item");
}

static int routes(router *rt)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (router_add(rt, methods[i], "/echo", h_echo, NULL) != 0 ||
            router_add(rt, methods[i], "/oauth/echo", h_echo, NULL) != 0)
            return -1;
    return router_add(rt, "GET", "/items/{id}/sub/{name}", h_params, NULL) != 0 ||
                   router_add(rt, "DELETE", "/items/{id}", h_params, NULL) != 0
               ? -1
               : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    worker *w = fuzz_worker(routes);
    size_t chunk = data[0] & 0x80 ? 0 : (size_t)data[0] + 1;
    http_feed(w, (const char *)data + 1, size - 1, chunk);
    return 0;
}
