/* Client ID Metadata Documents (the MCP authorization profile): a client_id
 * that is an https URL is resolved by fetching the JSON document it names.
 * The fetch goes through the outbound HTTP service (core/fetch: curl multi
 * on its own thread, private destinations refused, no redirects) and keeps
 * at most CIMD_MAX_BYTES. The validated document becomes an oauth_clients
 * row (kind 'cimd'), cached per the response's Cache-Control max-age.
 *
 * Anyone can make us fetch a URL, so fetches are bounded per process
 * (CIMD_MAX_FETCHES at once, CIMD_MAX_PER_ADDR per client address; over that
 * the caller hears "unavailable", a 503), a URL that failed is not fetched
 * again for CIMD_FAIL_S seconds, and the client only ever hears one generic
 * reason: what went wrong exactly (an address refused, a TLS or HTTP error)
 * is logged, never answered, so the endpoint cannot map networks. */
#include "cimd.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "../core/fetch.h"
#include "../core/log.h"
#include "../core/server.h"
#include "../crypto/hash.h"
#include "../store/cimd.h"
#include "../store/rows_oauth.h"
#include "scope.h"
#include "redirect_uri.h"

#define CIMD_MAX_BYTES 5120
#define CIMD_DEFAULT_AGE 3600
#define CIMD_MIN_AGE 60
#define CIMD_MAX_AGE 86400
#define CIMD_TIMEOUT_MS 5000
#define CIMD_MAX_FETCHES 16 /* documents being fetched at once, per process */
#define CIMD_MAX_PER_ADDR 4 /* of those, for one client address */
#define CIMD_FAIL_S 30      /* a URL that failed is refused this long without a fetch */
#define CIMD_FAIL_SLOTS 256 /* remembered failures (a power of two; newer evict older) */

#define CIMD_GENERIC "the client metadata document could not be fetched or is not valid"

/* Process-wide, since every loop fetches: who is fetching now, and which
 * URLs failed lately (by SHA-256, so a slot is fixed-size). */
static struct {
    pthread_mutex_t lock;
    int inflight;
    struct {
        char addr[64];
        int n;
    } by_addr[CIMD_MAX_FETCHES];
    struct {
        uint8_t url[HASH_SHA256_LEN];
        uint64_t until_ms;
    } failed[CIMD_FAIL_SLOTS];
} limits = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct doc {
    http_req *req;
    cimd_cb cb;
    void *ud;
    const char *url, *addr;
    uint8_t url_hash[HASH_SHA256_LEN];
    int max_age;
};

bool cimd_is_url(const char *client_id)
{
    return client_id != NULL && strncmp(client_id, "https://", 8) == 0;
}

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

/* Takes a fetch slot for addr; false when the process or the address has
 * all it may have. */
static bool slot_take(const char *addr)
{
    bool ok = false;
    pthread_mutex_lock(&limits.lock);
    int free_i = -1, mine = -1;
    for (int i = 0; i < CIMD_MAX_FETCHES; i++) {
        if (limits.by_addr[i].n == 0 && free_i < 0)
            free_i = i;
        else if (limits.by_addr[i].n > 0 && strcmp(limits.by_addr[i].addr, addr) == 0)
            mine = i;
    }
    if (limits.inflight < CIMD_MAX_FETCHES &&
        (mine < 0 || limits.by_addr[mine].n < CIMD_MAX_PER_ADDR)) {
        /* inflight < CIMD_MAX_FETCHES leaves a free entry when addr has none */
        int i = mine >= 0 ? mine : free_i;
        snprintf(limits.by_addr[i].addr, sizeof(limits.by_addr[i].addr), "%s", addr);
        limits.by_addr[i].n++;
        limits.inflight++;
        ok = true;
    }
    pthread_mutex_unlock(&limits.lock);
    return ok;
}

static void slot_give(const char *addr)
{
    pthread_mutex_lock(&limits.lock);
    for (int i = 0; i < CIMD_MAX_FETCHES; i++)
        if (limits.by_addr[i].n > 0 && strcmp(limits.by_addr[i].addr, addr) == 0) {
            limits.by_addr[i].n--;
            limits.inflight--;
            break;
        }
    pthread_mutex_unlock(&limits.lock);
}

static unsigned fail_slot(const uint8_t h[HASH_SHA256_LEN])
{
    return ((unsigned)h[0] | (unsigned)h[1] << 8) & (CIMD_FAIL_SLOTS - 1);
}

static bool failed_lately(const uint8_t h[HASH_SHA256_LEN])
{
    pthread_mutex_lock(&limits.lock);
    unsigned i = fail_slot(h);
    bool hit = memcmp(limits.failed[i].url, h, HASH_SHA256_LEN) == 0 &&
               limits.failed[i].until_ms > now_ms();
    pthread_mutex_unlock(&limits.lock);
    return hit;
}

static void remember_failure(const uint8_t h[HASH_SHA256_LEN])
{
    pthread_mutex_lock(&limits.lock);
    unsigned i = fail_slot(h);
    memcpy(limits.failed[i].url, h, HASH_SHA256_LEN);
    limits.failed[i].until_ms = now_ms() + CIMD_FAIL_S * 1000u;
    pthread_mutex_unlock(&limits.lock);
}

/* The document cannot be used: the cause goes to the log, the client hears
 * the generic reason, and the URL rests for CIMD_FAIL_S. */
static void refuse(struct doc *f, const char *why)
{
    log_msg(LOG_WARN, "client metadata document refused", "request_id", http_req_id(f->req),
            "client_id", f->url, "error", why, NULL);
    remember_failure(f->url_hash);
    f->cb(f->req, f->ud, CIMD_GENERIC);
}

static void on_saved(void *ud, PGresult *res, int err, const char *msg)
{
    struct doc *f = ud;
    (void)res;
    (void)msg;
    f->cb(f->req, f->ud, err == STORE_OK ? NULL : OAUTH_LOOKUP_UNAVAILABLE);
}

static const char *json_text(http_req *req, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    const char *copy = arena_strdup(http_req_arena(req), s ? s : "null");
    free(s);
    return copy;
}

/* The document must name itself and give redirect URIs that registration
 * would accept; only public or private_key_jwt clients (no shared secret can
 * be published). */
static const char *validate(struct doc *f, json_t *doc, store_cimd *out)
{
    arena *a = http_req_arena(f->req);
    const char *id = json_string_value(json_object_get(doc, "client_id"));
    if (id == NULL || strcmp(id, f->url) != 0)
        return "the document's client_id is not its own URL";
    json_t *ru = json_object_get(doc, "redirect_uris");
    if (!json_is_array(ru) || json_array_size(ru) == 0 || json_array_size(ru) > 20)
        return "the document needs 1 to 20 redirect_uris";
    size_t i;
    json_t *u;
    json_array_foreach (ru, i, u) {
        if (!json_is_string(u))
            return "a redirect_uri is not a string";
        const char *why = oauth_redirect_uri_problem(json_string_value(u));
        if (why != NULL)
            return arena_printf(a, "redirect_uris[%zu] %s", i, why);
    }
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
    out->name = name ? arena_strndup(a, json_string_value(name), 200) : NULL;
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

/* Cache-Control: no-store / no-cache keep the row the shortest time. */
static int max_age(const char *cc)
{
    const char *ma = strcasestr(cc, "max-age=");
    if (strcasestr(cc, "no-store") != NULL || strcasestr(cc, "no-cache") != NULL)
        return CIMD_MIN_AGE;
    return ma != NULL ? atoi(ma + 8) : CIMD_DEFAULT_AGE;
}

static void on_fetched(void *ud, const fetch_response *res)
{
    struct doc *f = ud;
    slot_give(f->addr);
    if (res->error != NULL) {
        refuse(f, res->error);
        return;
    }
    if (res->status != 200) {
        refuse(f, arena_printf(http_req_arena(f->req), "the document's URL answered HTTP %ld",
                               res->status));
        return;
    }
    f->max_age = max_age(res->cache_control);
    json_t *doc = json_loadb(res->body, res->body_len, JSON_REJECT_DUPLICATES, NULL);
    store_cimd c = {0};
    const char *why = json_is_object(doc) ? validate(f, doc, &c)
                                          : "the document is not a JSON object";
    json_decref(doc);
    if (why != NULL) {
        refuse(f, why);
        return;
    }
    if (store_cimd_save(http_req_pool(f->req), &c, on_saved, f) != 0)
        f->cb(f->req, f->ud, OAUTH_LOOKUP_UNAVAILABLE);
}

static void fetch_document(struct doc *f)
{
    if (failed_lately(f->url_hash)) {
        f->cb(f->req, f->ud, CIMD_GENERIC);
        return;
    }
    if (!slot_take(f->addr)) {
        log_msg(LOG_WARN, "client metadata document fetch refused: too many at once", "request_id",
                http_req_id(f->req), "client_ip", f->addr, NULL);
        f->cb(f->req, f->ud, OAUTH_LOOKUP_UNAVAILABLE);
        return;
    }
    app *a = http_req_app(f->req);
    const char *headers[] = {"Accept: application/json", NULL};
    fetch_request rq = {.method = "GET",
                        .url = f->url,
                        .headers = headers,
                        .timeout_ms = CIMD_TIMEOUT_MS,
                        .body_max = CIMD_MAX_BYTES,
                        .https_only = true,
                        .ca_file = a->cfg.outbound_ca_file};
    if (fetch_submit(a, &rq, on_fetched, f, http_req_loop(f->req)) != 0) {
        slot_give(f->addr);
        f->cb(f->req, f->ud, OAUTH_LOOKUP_UNAVAILABLE);
    }
}

static void on_state(void *ud, PGresult *res, int err, const char *msg)
{
    struct doc *f = ud;
    (void)msg;
    if (err != STORE_OK) {
        f->cb(f->req, f->ud, OAUTH_LOOKUP_UNAVAILABLE);
        return;
    }
    /* Fresh, or not a metadata-document client at all: nothing to fetch. */
    store_cimd_state_row st;
    if (store_cimd_state_row_read(res, &st) && (st.fresh || st.other)) {
        f->cb(f->req, f->ud, NULL);
        return;
    }
    fetch_document(f);
}

void cimd_resolve(http_req *req, const char *client_id, cimd_cb cb, void *ud)
{
    if (!cimd_is_url(client_id) || strlen(client_id) > 1000) {
        cb(req, ud, NULL);
        return;
    }
    struct doc *f = arena_calloc(http_req_arena(req), sizeof(*f));
    f->req = req;
    f->cb = cb;
    f->ud = ud;
    f->url = client_id;
    f->addr = http_req_client_ip(req);
    hash_sha256(client_id, strlen(client_id), f->url_hash);
    if (store_cimd_state(http_req_pool(req), client_id, on_state, f) != 0)
        cb(req, ud, OAUTH_LOOKUP_UNAVAILABLE);
}
