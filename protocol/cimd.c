/* Client ID Metadata Documents (the MCP authorization profile): a client_id
 * that is an https URL is resolved by fetching the JSON document it names.
 * The fetch runs on the libuv thread pool (never a loop thread), refuses
 * private destinations like webhooks do, follows no redirects and reads at
 * most CIMD_MAX_BYTES. The validated document becomes an oauth_clients row
 * (kind 'cimd'), cached per the response's Cache-Control max-age. */
#include "cimd.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/outbound.h"
#include "../core/server.h"
#include "../store/cimd.h"
#include "client.h"

#define CIMD_MAX_BYTES 5120
#define CIMD_DEFAULT_AGE 3600
#define CIMD_MIN_AGE 60
#define CIMD_MAX_AGE 86400

struct fetch {
    uv_work_t work;
    http_req *req;
    cimd_cb cb;
    void *ud;
    const char *url, *allow, *ca_file;
    char body[CIMD_MAX_BYTES + 1];
    size_t len;
    bool too_big;
    long status;
    int max_age;
    char error[160];
    const char *refusal;
};

bool cimd_is_url(const char *client_id)
{
    return client_id != NULL && strncmp(client_id, "https://", 8) == 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct fetch *f = ud;
    size_t bytes = size * n;
    if (f->len + bytes > CIMD_MAX_BYTES) {
        f->too_big = true;
        return 0; /* aborts the transfer */
    }
    memcpy(f->body + f->len, data, bytes);
    f->len += bytes;
    f->body[f->len] = '\0';
    return bytes;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    struct fetch *f = ud;
    size_t bytes = size * n;
    if (bytes > 14 && strncasecmp(data, "Cache-Control:", 14) == 0) {
        char line[256];
        size_t l = bytes < sizeof(line) - 1 ? bytes : sizeof(line) - 1;
        memcpy(line, data, l);
        line[l] = '\0';
        const char *ma = strcasestr(line, "max-age=");
        if (strcasestr(line, "no-store") != NULL || strcasestr(line, "no-cache") != NULL)
            f->max_age = CIMD_MIN_AGE;
        else if (ma != NULL)
            f->max_age = atoi(ma + 8);
    }
    return bytes;
}

/* Checked after DNS, for every address curl is about to connect to. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct fetch *f = ud;
    uint8_t addr[16] = {0};
    (void)purpose;
    if (a->family == AF_INET) {
        addr[10] = addr[11] = 0xff;
        memcpy(addr + 12, &((struct sockaddr_in *)&a->addr)->sin_addr, 4);
    } else if (a->family == AF_INET6) {
        memcpy(addr, &((struct sockaddr_in6 *)&a->addr)->sin6_addr, 16);
    } else {
        return CURL_SOCKET_BAD;
    }
    f->refusal = hook_refusal(f->allow, NULL, addr);
    if (f->refusal != NULL)
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype, a->protocol);
}

static void fetch_work(uv_work_t *w)
{
    struct fetch *f = w->data;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(f->error, sizeof(f->error), "out of memory");
        return;
    }
    curl_easy_setopt(c, CURLOPT_URL, f->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, f);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "SharkAuth");
    if (f->ca_file != NULL && *f->ca_file != '\0')
        curl_easy_setopt(c, CURLOPT_CAINFO, f->ca_file);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f->status);
    if (f->refusal != NULL)
        snprintf(f->error, sizeof(f->error), "the document's host is a %s address", f->refusal);
    else if (f->too_big)
        snprintf(f->error, sizeof(f->error), "the document is larger than %d bytes", CIMD_MAX_BYTES);
    else if (rc != CURLE_OK)
        snprintf(f->error, sizeof(f->error), "fetching the document failed: %s",
                 curl_easy_strerror(rc));
    else if (f->status != 200)
        snprintf(f->error, sizeof(f->error), "fetching the document answered HTTP %ld", f->status);
    curl_easy_cleanup(c);
}

static void on_saved(void *ud, PGresult *res, int err, const char *msg)
{
    struct fetch *f = ud;
    (void)res;
    (void)msg;
    f->cb(f->req, f->ud, err == STORE_OK ? NULL : "the client could not be stored");
}

static bool redirect_ok(const char *u)
{
    if (strncmp(u, "https://", 8) == 0)
        return strchr(u, '#') == NULL;
    /* Native apps on this machine may use loopback http (RFC 8252 §7.3). */
    return strncmp(u, "http://127.0.0.1", 16) == 0 || strncmp(u, "http://[::1]", 12) == 0 ||
           strncmp(u, "http://localhost", 16) == 0;
}

static const char *json_text(http_req *req, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    const char *copy = arena_strdup(http_req_arena(req), s ? s : "null");
    free(s);
    return copy;
}

/* The document must name itself and give redirect URIs; only public or
 * private_key_jwt clients (no shared secret can be published). */
static const char *validate(struct fetch *f, json_t *doc, store_cimd *out)
{
    const char *id = json_string_value(json_object_get(doc, "client_id"));
    if (id == NULL || strcmp(id, f->url) != 0)
        return "the document's client_id is not its own URL";
    json_t *ru = json_object_get(doc, "redirect_uris");
    if (!json_is_array(ru) || json_array_size(ru) == 0 || json_array_size(ru) > 20)
        return "the document needs 1 to 20 redirect_uris";
    size_t i;
    json_t *u;
    json_array_foreach(ru, i, u) if (!json_is_string(u) || !redirect_ok(json_string_value(u)))
        return "a redirect_uri is not https (or loopback http)";
    const char *method = json_string_value(json_object_get(doc, "token_endpoint_auth_method"));
    json_t *jwks = json_object_get(doc, "jwks");
    if (method == NULL)
        method = "none";
    if (strcmp(method, "none") != 0 && strcmp(method, "private_key_jwt") != 0)
        return "token_endpoint_auth_method must be none or private_key_jwt";
    if (strcmp(method, "private_key_jwt") == 0 && !json_is_array(json_object_get(jwks, "keys")))
        return "private_key_jwt needs jwks in the document";
    json_t *scope = json_object_get(doc, "scope"), *name = json_object_get(doc, "client_name");
    if ((scope != NULL && !json_is_string(scope)) || (name != NULL && !json_is_string(name)))
        return "scope and client_name must be strings";
    out->client_id = f->url;
    out->name = name ? arena_strndup(http_req_arena(f->req), json_string_value(name), 200) : NULL;
    out->auth_method = strcmp(method, "none") == 0 ? "none" : "private_key_jwt";
    out->grant_types = "[\"authorization_code\",\"refresh_token\"]";
    out->redirect_uris = json_text(f->req, ru);
    /* Like an anonymous registration: scopes within --dcr-scopes only. */
    out->scope = scope ? oauth_scope_clip(http_req_arena(f->req), json_string_value(scope),
                                          http_req_app(f->req)->cfg.dcr_scopes)
                       : "";
    out->jwks = jwks ? json_text(f->req, jwks) : NULL;
    out->max_age_s = f->max_age < CIMD_MIN_AGE   ? CIMD_MIN_AGE
                     : f->max_age > CIMD_MAX_AGE ? CIMD_MAX_AGE
                                                 : f->max_age;
    return NULL;
}

static void fetch_done(uv_work_t *w, int status)
{
    struct fetch *f = w->data;
    if (status != 0 || f->error[0] != '\0') {
        f->cb(f->req, f->ud, status != 0 ? "the document fetch was cancelled" : f->error);
        return;
    }
    json_t *doc = json_loadb(f->body, f->len, JSON_REJECT_DUPLICATES, NULL);
    store_cimd c = {0};
    const char *why = json_is_object(doc) ? validate(f, doc, &c) : "the document is not a JSON object";
    json_decref(doc);
    if (why != NULL) {
        f->cb(f->req, f->ud, why);
        return;
    }
    if (store_cimd_save(http_req_pool(f->req), &c, on_saved, f) != 0)
        f->cb(f->req, f->ud, "the client could not be stored");
}

static void on_state(void *ud, PGresult *res, int err, const char *msg)
{
    struct fetch *f = ud;
    (void)msg;
    if (err != STORE_OK) {
        f->cb(f->req, f->ud, "the client could not be looked up");
        return;
    }
    /* Fresh, or not a metadata-document client at all: nothing to fetch. */
    if (PQgetvalue(res, 0, 0)[0] == 't' || PQgetvalue(res, 0, 1)[0] == 't') {
        f->cb(f->req, f->ud, NULL);
        return;
    }
    f->work.data = f;
    if (uv_queue_work(http_req_loop(f->req), &f->work, fetch_work, fetch_done) != 0)
        f->cb(f->req, f->ud, "the document fetch could not start");
}

void cimd_resolve(http_req *req, const char *client_id, cimd_cb cb, void *ud)
{
    if (!cimd_is_url(client_id) || strlen(client_id) > 1000) {
        cb(req, ud, NULL);
        return;
    }
    app *a = http_req_app(req);
    struct fetch *f = arena_calloc(http_req_arena(req), sizeof(*f));
    f->req = req;
    f->cb = cb;
    f->ud = ud;
    f->url = client_id;
    f->allow = a->cfg.webhook_allowed_hosts;
    f->ca_file = a->cfg.outbound_ca_file;
    f->max_age = CIMD_DEFAULT_AGE;
    if (store_cimd_state(http_req_pool(req), client_id, on_state, f) != 0)
        cb(req, ud, "the client could not be looked up");
}
