/* /api/v1/admin/webhooks: endpoints (create, list, get, update, delete),
 * their signing secrets (shown once, stored sealed), test sends, and the
 * delivery log with redelivery. */
#include "webhooks.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "../core/egress.h"
#include "../core/server.h"
#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../crypto/seal.h"
#include "../store/webhooks.h"
#include "../store/rows_admin.h"
#include "admin.h"

#define MAX_EVENTS 100
#define MAX_EVENT_LEN 100
#define SECRET_BYTES 32

static bool word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/*
 * Event filters are stored canonical. A canonical name is an audit event
 * name: a category, one dot, then words joined by underscores
 * (oauth.token_exchanged). A dotted alias (oauth.token.exchanged, as the
 * platform guide writes them) is normalised by turning every dot after the
 * first into an underscore: a.b.c -> a.b_c. Besides names, 'category.*'
 * takes every event of a category and '*' takes everything. Writes the
 * canonical filter to out (MAX_EVENT_LEN + 1 bytes); -1 if not valid.
 */
static int event_filter(const char *in, char out[MAX_EVENT_LEN + 1])
{
    size_t n = strlen(in);
    if (n == 0 || n > MAX_EVENT_LEN)
        return -1;
    if (strcmp(in, "*") == 0) {
        memcpy(out, "*", 2);
        return 0;
    }
    bool prefix = n > 2 && strcmp(in + n - 2, ".*") == 0;
    size_t body = prefix ? n - 2 : n;
    int dots = 0;
    for (size_t i = 0; i < body; i++) {
        char c = in[i];
        if (c == '.') {
            /* No empty words: not first, not last, not doubled. */
            if (i == 0 || i + 1 == body || in[i + 1] == '.')
                return -1;
            out[i] = dots++ == 0 ? '.' : '_';
        } else if (word_char(c)) {
            out[i] = c;
        } else {
            return -1;
        }
    }
    /* A prefix is a whole category; a name has one. */
    if (prefix ? dots != 0 : dots == 0)
        return -1;
    memcpy(out + body, prefix ? ".*" : "", prefix ? 3 : 1);
    return 0;
}

/* events: a non-empty array of filters, returned as a canonical JSON array
 * (duplicates after normalising dropped) in the request arena; answers 400
 * and returns NULL when invalid. */
static const char *read_events(http_req *req, json_t *v)
{
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > MAX_EVENTS) {
        http_error(req, 400, "invalid_request",
                   "events must be a non-empty array of at most 100 event names");
        return NULL;
    }
    json_t *canon = json_array();
    size_t i;
    json_t *e;
    json_array_foreach (v, i, e) {
        char name[MAX_EVENT_LEN + 1];
        if (!json_is_string(e) || event_filter(json_string_value(e), name) != 0) {
            json_decref(canon);
            http_error(req, 400, "invalid_request",
                       arena_printf(http_req_arena(req),
                                    "events[%zu] must be an event name (oauth.token_exchanged or "
                                    "oauth.token.exchanged), a category (oauth.*) or *",
                                    i));
            return NULL;
        }
        bool dup = false;
        size_t k;
        json_t *c;
        json_array_foreach (canon, k, c)
            dup = dup || strcmp(json_string_value(c), name) == 0;
        if (!dup)
            json_array_append_new(canon, json_string(name));
    }
    char *text = json_dumps(canon, JSON_COMPACT);
    json_decref(canon);
    if (text == NULL) {
        http_error(req, 503, "internal_error", "out of memory");
        return NULL;
    }
    char *copy = arena_strdup(http_req_arena(req), text);
    free(text);
    return copy;
}

/* url: validated with the outbound destination policy; answers 400. */
static const char *read_url(http_req *req, json_t *b, bool required)
{
    bool bad = false;
    const char *url = admin_string(req, b, "url", 2000, &bad);
    if (bad)
        return NULL;
    if (url == NULL) {
        if (required)
            http_error(req, 400, "invalid_request", "url is required");
        return NULL;
    }
    char err[200];
    if (egress_url_check(http_req_app(req)->cfg.webhook_allowed_hosts, url, err, sizeof(err)) !=
        0) {
        http_error(req, 400, "invalid_request", arena_printf(http_req_arena(req), "%s", err));
        return NULL;
    }
    return url;
}

static void wipe(void *p)
{
    sodium_memzero(p, strlen(p));
}

/* A new signing secret: the client sees "whsec_" + base64 of 32 random
 * bytes, once; the bytes are stored sealed under the master key with the
 * webhook id as associated data (they must be usable to sign, so not a
 * hash). Both strings live in the request arena, the secret wiped at the
 * end of the request. */
static void new_secret(http_req *req, const char *id, char **secret, char **sealed)
{
    uint8_t key[SECRET_BYTES], box[SECRET_BYTES + SEAL_OVERHEAD];
    char b64[64], box64[128];
    hash_random(key, sizeof(key));
    enc_b64(key, sizeof(key), b64, sizeof(b64));
    seal_box(http_req_app(req)->master_key, 1, key, sizeof(key), (const uint8_t *)id, strlen(id),
             box, sizeof(box));
    enc_b64(box, sizeof(box), box64, sizeof(box64));
    *secret = arena_printf(http_req_arena(req), "whsec_%s", b64);
    arena_cleanup(http_req_arena(req), wipe, *secret);
    *sealed = arena_strdup(http_req_arena(req), box64);
    sodium_memzero(key, sizeof(key));
    sodium_memzero(b64, sizeof(b64));
}

struct hook_req {
    http_req *req;
    char *secret;
};

static void on_created(void *ud, PGresult *res, int err, const char *msg)
{
    struct hook_req *h = ud;
    (void)msg;
    if (admin_db_error(h->req, err))
        return;
    const char *doc = store_json_doc(res, http_req_arena(h->req));
    json_t *w = doc != NULL ? json_loads(doc, 0, NULL) : NULL;
    json_object_set_new(w, "secret", json_string(h->secret));
    http_respond_json(h->req, 201, w);
}

static void hook_create(http_req *req)
{
    json_t *b = admin_body(req);
    if (b == NULL)
        return;
    store_hook_in in = {0};
    bool bad = false;
    if ((in.url = read_url(req, b, true)) == NULL)
        return;
    if ((in.events = read_events(req, json_object_get(b, "events"))) == NULL)
        return;
    in.description = admin_string(req, b, "description", 2000, &bad);
    if (bad)
        return;
    uint8_t raw[16];
    char text[32];
    hash_random(raw, sizeof(raw));
    enc_base62(raw, sizeof(raw), text, sizeof(text));
    in.id = arena_printf(http_req_arena(req), "whk_%s", text);
    struct hook_req *h = arena_calloc(http_req_arena(req), sizeof(*h));
    h->req = req;
    char *sealed;
    new_secret(req, in.id, &h->secret, &sealed);
    in.secret_sealed = sealed;
    store_actor who = admin_actor(req);
    if (store_hook_create(http_req_pool(req), &in, &who, on_created, h) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void hook_list(http_req *req)
{
    admin_listing *p = admin_listing_new(req);
    if (p != NULL && store_hook_list(http_req_pool(req), &p->q, admin_on_listing, p) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_hook(void *ud, PGresult *res, int err, const char *msg)
{
    (void)msg;
    admin_respond_row(ud, res, err, 200, "webhook");
}

static void hook_get(http_req *req)
{
    if (store_hook_get(http_req_pool(req), http_req_param(req, "id"), on_hook, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void hook_update(http_req *req)
{
    json_t *b = admin_body(req);
    if (b == NULL)
        return;
    store_hook_in in = {0};
    bool bad = false;
    if (json_object_get(b, "url") != NULL && (in.url = read_url(req, b, true)) == NULL)
        return;
    if (json_object_get(b, "events") != NULL &&
        (in.events = read_events(req, json_object_get(b, "events"))) == NULL)
        return;
    in.description = admin_string(req, b, "description", 2000, &bad);
    if (bad)
        return;
    json_t *en = json_object_get(b, "enabled");
    if (en != NULL && !json_is_boolean(en)) {
        http_error(req, 400, "invalid_request", "enabled must be true or false");
        return;
    }
    if (en != NULL)
        in.enabled = json_is_true(en) ? "true" : "false";
    in.id = http_req_param(req, "id");
    store_actor who = admin_actor(req);
    if (store_hook_update(http_req_pool(req), &in, &who, on_hook, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_deleted(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (!admin_found(req, res, err, "webhook"))
        return;
    http_respond(req, 204, NULL, NULL, 0);
}

static void hook_delete(http_req *req)
{
    store_actor who = admin_actor(req);
    if (store_hook_delete(http_req_pool(req), http_req_param(req, "id"), &who, on_deleted, req) !=
        0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_test(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (!admin_found(req, res, err, "webhook"))
        return;
    store_flag_doc_row r;
    store_flag_doc_row_read(res, http_req_arena(req), &r);
    if (!r.flag) {
        http_error(req, 409, "conflict", "the webhook is disabled; enable it first");
        return;
    }
    admin_respond_text(req, 202, r.doc);
}

static void hook_test(http_req *req)
{
    if (store_hook_test(http_req_pool(req), http_req_param(req, "id"), on_test, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_rotated(void *ud, PGresult *res, int err, const char *msg)
{
    struct hook_req *h = ud;
    (void)msg;
    if (!admin_found(h->req, res, err, "webhook"))
        return;
    http_respond_json(h->req, 200,
                      json_pack("{s:s,s:s,s:s}", "id", http_req_param(h->req, "id"), "secret",
                                h->secret, "rotated_at",
                                store_rotated_at(res, http_req_arena(h->req))));
}

static void hook_rotate(http_req *req)
{
    const char *id = http_req_param(req, "id");
    struct hook_req *h = arena_calloc(http_req_arena(req), sizeof(*h));
    h->req = req;
    char *sealed;
    if (id == NULL) {
        http_error(req, 404, "not_found", "no such webhook");
        return;
    }
    new_secret(req, id, &h->secret, &sealed);
    store_actor who = admin_actor(req);
    if (store_hook_rotate(http_req_pool(req), id, sealed, &who, on_rotated, h) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void hook_deliveries(http_req *req)
{
    const char *status = http_req_query_get(req, "status");
    static const char *const statuses[] = {"pending", "sending", "retrying", "delivered", "failed"};
    bool ok = status == NULL;
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]) && !ok; i++)
        ok = strcmp(status, statuses[i]) == 0;
    if (!ok) {
        http_error(req, 400, "invalid_request",
                   "status must be pending, sending, retrying, delivered or failed");
        return;
    }
    admin_listing *p = admin_listing_new(req);
    if (p == NULL)
        return;
    p->missing = "no such webhook";
    if (store_hook_deliveries(http_req_pool(req), http_req_param(req, "id"), status, &p->q,
                              admin_on_listing, p) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_redelivered(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (!admin_found(req, res, err, "delivery"))
        return;
    store_flag_doc_row r;
    store_flag_doc_row_read(res, http_req_arena(req), &r);
    if (r.flag) {
        http_error(req, 409, "conflict", "the delivery is being attempted right now");
        return;
    }
    admin_respond_text(req, 202, r.doc);
}

static void hook_redeliver(http_req *req)
{
    store_actor who = admin_actor(req);
    if (store_hook_redeliver(http_req_pool(req), http_req_param(req, "delivery_id"), &who,
                             on_redelivered, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static const admin_route routes[] = {
    {"POST", "/api/v1/admin/webhooks", hook_create},
    {"GET", "/api/v1/admin/webhooks", hook_list},
    {"GET", "/api/v1/admin/webhooks/{id}", hook_get},
    {"PATCH", "/api/v1/admin/webhooks/{id}", hook_update},
    {"DELETE", "/api/v1/admin/webhooks/{id}", hook_delete},
    {"POST", "/api/v1/admin/webhooks/{id}/test", hook_test},
    {"POST", "/api/v1/admin/webhooks/{id}/rotate-secret", hook_rotate},
    {"GET", "/api/v1/admin/webhooks/{id}/deliveries", hook_deliveries},
    {"POST", "/api/v1/admin/webhooks/deliveries/{delivery_id}/redeliver", hook_redeliver},
};

int admin_webhooks_register(router *r)
{
    return admin_routes_add(r, routes, sizeof(routes) / sizeof(routes[0]));
}
