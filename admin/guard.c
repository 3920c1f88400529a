/* The admin API key check in front of every admin route, and the request
 * helpers every admin handler shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../store/rows_admin.h"
#include "../store/rows_oauth.h"
#include "../store/page.h"
#include "../store/system.h"
#include "admin.h"
#include "session.h"

store_pool *admin_read_pool(const http_req *req)
{
    store_pool *replica = http_req_replica_pool(req);
    /* A replica that is down is no reason to refuse a read the primary can
     * answer. */
    return replica != NULL && !store_pool_outage(replica) ? replica : http_req_pool(req);
}

bool admin_db_error(http_req *req, int err)
{
    if (err == STORE_OK)
        return false;
    if (err == STORE_EINVALID)
        http_error(req, 400, "invalid_request", "a value in the request is not valid");
    else if (err == STORE_ECONFLICT)
        http_error(req, 409, "conflict", "conflicts with an existing resource");
    else
        http_error(req, 503, "internal_error", "database unavailable; retry shortly");
    return true;
}

static void unauthorized(http_req *req)
{
    http_header(req, "WWW-Authenticate", "Bearer realm=\"shark-admin\"");
    http_error(req, 401, "unauthorized", "missing or invalid admin API key");
}

static void on_key_checked(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    if (!store_admin_key_valid(res)) {
        unauthorized(req);
        return;
    }
    const admin_route *ar = http_req_route_data(req);
    ar->handler(req);
}

static void run_route(http_req *req)
{
    const admin_route *ar = http_req_route_data(req);
    ar->handler(req);
}

/* The admin key as a Bearer token, or else a dashboard session cookie
 * (with its CSRF header on mutations, admin/session.h). */
static void guard(http_req *req)
{
    const char *auth = http_req_header(req, "Authorization");
    if (auth == NULL && admin_session_guard(req, run_route))
        return;
    if (auth == NULL || http_req_header_count(req, "Authorization") != 1 ||
        strncasecmp(auth, "Bearer ", 7) != 0 || strncmp(auth + 7, "sk_live_", 8) != 0 ||
        strlen(auth + 7) > 128) {
        unauthorized(req);
        return;
    }
    /* Only the hash is stored; lookup by hash and the database compare
     * reveal nothing about the key itself. */
    char hash[65];
    hash_sha256_hex(auth + 7, strlen(auth + 7), hash);
    if (store_admin_key_cached(http_req_loop_ctx(req), hash)) {
        const admin_route *ar = http_req_route_data(req);
        ar->handler(req);
        return;
    }
    if (store_admin_key_check(http_req_pool(req), http_req_loop_ctx(req), hash, on_key_checked,
                              req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

int admin_routes_add(router *r, const admin_route *routes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (router_add(r, routes[i].method, routes[i].pattern, guard, &routes[i]) != 0)
            return -1;
    return 0;
}

static void release(void *p)
{
    json_decref(p);
}

/* application/json, with or without parameters (charset=utf-8). */
static bool json_media_type(const char *ct)
{
    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0)
        return false;
    ct += 16;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

json_t *admin_body(http_req *req)
{
    size_t len;
    const char *body = http_req_body(req, &len);
    /* A cross-site HTML form can send a JSON-looking body, but not with
     * this type: so no JSON route (login, signup) is a form target. */
    if (len > 0 && !json_media_type(http_req_header(req, "Content-Type"))) {
        http_error(req, 415, "unsupported_media_type", "Content-Type must be application/json");
        return NULL;
    }
    json_error_t e;
    json_t *j = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &e) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        http_error(req, 400, "invalid_request",
                   len ? "the body must be a JSON object" : "a JSON body is required");
        return NULL;
    }
    arena_cleanup(http_req_arena(req), release, j);
    return j;
}

static int query_int(http_req *req, const char *name, int def, int min, int max, int *out)
{
    const char *v = http_req_query_get(req, name);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < min || n > max) {
        http_error(req, 400, "invalid_request",
                   arena_printf(http_req_arena(req), "%s must be a whole number from %d to %d",
                                name, min, max));
        return -1;
    }
    *out = (int)n;
    return 0;
}

int admin_dry_run(http_req *req, bool *dry)
{
    const char *v = http_req_query_get(req, "dry_run");
    *dry = v != NULL && strcmp(v, "true") == 0;
    if (v != NULL && !*dry && strcmp(v, "false") != 0) {
        http_error(req, 400, "invalid_request", "dry_run must be true or false");
        return -1;
    }
    return 0;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Exactly the shape the store writes: YYYY-MM-DDTHH:MM:SS.ffffffZ, a real
 * date (so PostgreSQL never sees one it would refuse). */
static bool cursor_ts_ok(const char *s, size_t n)
{
    static const char shape[] = "0000-00-00T00:00:00.000000Z";
    if (n != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; i < n; i++)
        if (shape[i] != '0' ? s[i] != shape[i] : (s[i] < '0' || s[i] > '9'))
            return false;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return y >= 1 && mo >= 1 && mo <= 12 && d >= 1 &&
           d <= (mo == 2 && !leap ? 28 : mdays[mo - 1]) && digits(s + 11, 2) < 24 &&
           digits(s + 14, 2) < 60 && digits(s + 17, 2) < 60;
}

/* The ids we issue: letters, digits and . _ - (no quote, space or other
 * character SQL or a URL would treat specially). */
static bool cursor_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static bool cursor_id_ok(const char *s, size_t n)
{
    if (n == 0 || n > 256)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!cursor_id_char(s[i]))
            return false;
    return true;
}

int admin_cursor_parse(http_req *req, const char **ts, const char **id)
{
    const char *c = http_req_query_get(req, "cursor");
    *ts = *id = NULL;
    if (c == NULL || *c == '\0')
        return 0;
    uint8_t raw[400];
    size_t len = strlen(c);
    long n = len < 500 ? enc_b64url_decode(c, len, raw, sizeof(raw) - 1) : -1;
    char *sp = n > 0 ? memchr(raw, ' ', (size_t)n) : NULL;
    if (sp == NULL || !cursor_ts_ok((char *)raw, (size_t)(sp - (char *)raw)) ||
        !cursor_id_ok(sp + 1, (size_t)((char *)raw + n - sp - 1))) {
        http_error(req, 400, "invalid_request", "cursor is not one this server issued");
        return -1;
    }
    raw[n] = '\0';
    *sp = '\0';
    *ts = arena_strdup(http_req_arena(req), (char *)raw);
    *id = arena_strdup(http_req_arena(req), sp + 1);
    return 0;
}

const char *admin_cursor_make(http_req *req, const char *pos)
{
    if (pos == NULL)
        return NULL;
    size_t n = strlen(pos), cap = (n + 2) / 3 * 4 + 4;
    char *out = arena_alloc(http_req_arena(req), cap);
    enc_b64url((const uint8_t *)pos, n, out, cap);
    return out;
}

const char *admin_string_array(http_req *req, json_t *v, const char *field, int max,
                               bool (*ok)(const char *), bool *bad)
{
    if (*bad || v == NULL)
        return NULL;
    size_t i;
    json_t *e;
    bool good = json_is_array(v) && json_array_size(v) <= (size_t)max;
    json_array_foreach (v, i, e)
        good = good && json_is_string(e) && (ok == NULL || ok(json_string_value(e)));
    if (!good) {
        *bad = true;
        http_error(req, 400, "invalid_request",
                   arena_printf(http_req_arena(req),
                                "%s must be an array of at most %d valid strings", field, max));
        return NULL;
    }
    char *text = json_dumps(v, JSON_COMPACT);
    char *copy = arena_strdup(http_req_arena(req), text ? text : "[]");
    free(text);
    return copy;
}

const char *admin_string(http_req *req, json_t *obj, const char *field, size_t max, bool *bad)
{
    json_t *v = json_object_get(obj, field);
    if (*bad || v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        *bad = true;
        http_error(req, 400, "invalid_request",
                   arena_printf(http_req_arena(req), "%s must be a string of at most %zu bytes",
                                field, max));
        return NULL;
    }
    return json_string_value(v);
}

/* ?total=true|false (absent: false). */
static int query_total(http_req *req, bool *out)
{
    const char *v = http_req_query_get(req, "total");
    *out = v != NULL && strcmp(v, "true") == 0;
    if (v != NULL && !*out && strcmp(v, "false") != 0) {
        http_error(req, 400, "invalid_request", "total must be true or false");
        return -1;
    }
    return 0;
}

admin_listing *admin_listing_new(http_req *req)
{
    admin_listing *l = arena_calloc(http_req_arena(req), sizeof(*l));
    l->req = req;
    if (query_int(req, "limit", 100, 1, 1000, &l->q.limit) != 0 ||
        query_int(req, "offset", 0, 0, 1000000000, &l->q.offset) != 0 ||
        admin_cursor_parse(req, &l->q.after_ts, &l->q.after_id) != 0 ||
        query_total(req, &l->q.total) != 0)
        return NULL;
    if (l->q.after_ts != NULL && l->q.offset > 0) {
        http_error(req, 400, "invalid_request", "give cursor or offset, not both");
        return NULL;
    }
    return l;
}

void admin_respond_listing(admin_listing *l, const store_page_row *pg)
{
    http_req *req = l->req;
    const char *next = admin_cursor_make(req, pg->next);
    char total[40] = "";
    if (pg->total >= 0)
        snprintf(total, sizeof(total), ",\"total\":%lld", pg->total);
    /* the statement's own members: its object without the braces */
    size_t n = pg->extra ? strlen(pg->extra) : 0;
    const char *more = n > 2 ? arena_strndup(http_req_arena(req), pg->extra + 1, n - 2) : NULL;
    char *body = arena_printf(
        http_req_arena(req), "{\"data\":%s%s%s,\"limit\":%d,\"next_cursor\":%s%s%s%s%s%s%s%s}",
        pg->data, l->items ? ",\"items\":" : "", l->items ? pg->data : "", l->q.limit,
        next ? "\"" : "", next ? next : "null", next ? "\"" : "", total, l->extra ? "," : "",
        l->extra ? l->extra : "", more ? "," : "", more ? more : "");
    http_respond(req, 200, "application/json", body, strlen(body));
}

void admin_on_listing(void *ud, PGresult *res, int err, const char *msg)
{
    admin_listing *l = ud;
    (void)msg;
    if (admin_db_error(l->req, err))
        return;
    store_page_row pg;
    if (!store_page_row_read(res, http_req_arena(l->req), &pg)) {
        http_error(l->req, 404, "not_found", l->missing ? l->missing : "not found");
        return;
    }
    admin_respond_listing(l, &pg);
}

bool admin_found(http_req *req, PGresult *res, int err, const char *what)
{
    if (admin_db_error(req, err))
        return false;
    if (store_row_count(res) == 0) {
        http_error(req, 404, "not_found", arena_printf(http_req_arena(req), "no such %s", what));
        return false;
    }
    return true;
}

store_actor admin_actor(http_req *req)
{
    return (store_actor){http_req_id(req), http_req_client_ip(req)};
}

void admin_respond_text(http_req *req, int status, const char *json)
{
    char *body = arena_strdup(http_req_arena(req), json);
    http_respond(req, status, "application/json", body, strlen(body));
}

void admin_respond_row(http_req *req, PGresult *res, int err, int status, const char *what)
{
    if (admin_db_error(req, err))
        return;
    const char *doc = store_json_doc(res, http_req_arena(req));
    if (doc == NULL) {
        http_error(req, 404, "not_found", arena_printf(http_req_arena(req), "no such %s", what));
        return;
    }
    admin_respond_text(req, status, doc);
}
