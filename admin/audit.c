#include "audit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../crypto/encoding.h"
#include "../store/audit.h"
#include "admin.h"

struct audit_q {
    store_audit_filter f;
};

static int parse_limit(const char *s, int max, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

/* Cursor = base64url("<created_at µs>:<id>"): opaque to clients, exact for
 * the keyset condition. */
static int parse_cursor(http_req *req, const char *s, store_audit_filter *f)
{
    uint8_t raw[160];
    long n = enc_b64url_decode(s, strlen(s), raw, sizeof(raw) - 1);
    if (n <= 0)
        return -1;
    raw[n] = '\0';
    char *colon = strchr((char *)raw, ':');
    if (colon == NULL || colon == (char *)raw || colon[1] == '\0')
        return -1;
    *colon = '\0';
    for (char *p = (char *)raw; *p; p++)
        if ((*p < '0' || *p > '9') && !(p == (char *)raw && *p == '-'))
            return -1;
    f->cursor_ts = arena_strdup(http_req_arena(req), (char *)raw);
    f->cursor_id = arena_strdup(http_req_arena(req), colon + 1);
    return 0;
}

/* The cursor after `last`, base64url("<ts_us>:<id>"); "" when it does not fit. */
static void next_cursor(const store_audit_row *last, char *out, size_t cap)
{
    char raw[160];
    int k = snprintf(raw, sizeof(raw), "%s:%s", last->ts_us, last->id);
    out[0] = '\0';
    if (k > 0 && (size_t)k < sizeof(raw))
        enc_b64url((uint8_t *)raw, (size_t)k, out, cap);
}

static void on_list(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    struct audit_q *q = http_req_ctx(req);
    (void)msg;
    if (err == STORE_EINVALID) {
        http_error(req, 400, "invalid_request", "since/until must be ISO-8601 timestamps");
        return;
    }
    if (admin_db_error(req, err))
        return;
    int rows = store_audit_rows(res), shown = rows > q->f.limit ? q->f.limit : rows;
    size_t cap = 64;
    store_audit_row row;
    for (int i = 0; i < shown; i++) {
        store_audit_row_read(res, i, &row);
        cap += row.item_len + 1;
    }
    char cursor[256] = "";
    if (rows > q->f.limit) {
        store_audit_row_read(res, shown - 1, &row);
        next_cursor(&row, cursor, sizeof(cursor));
        cap += strlen(cursor);
    }
    char *body = arena_alloc(http_req_arena(req), cap);
    size_t n = 0;
    memcpy(body, "{\"data\":[", 9);
    n = 9;
    for (int i = 0; i < shown; i++) {
        if (i > 0)
            body[n++] = ',';
        store_audit_row_read(res, i, &row);
        memcpy(body + n, row.item, row.item_len);
        n += row.item_len;
    }
    /* the listing contract's page: limit and next_cursor (no total, no offset) */
    if (cursor[0] != '\0')
        n += (size_t)snprintf(body + n, cap - n, "],\"limit\":%d,\"next_cursor\":\"%s\"}",
                              q->f.limit, cursor);
    else
        n += (size_t)snprintf(body + n, cap - n, "],\"limit\":%d,\"next_cursor\":null}",
                              q->f.limit);
    http_respond(req, 200, "application/json", body, n);
}

/* ISO-8601 shape only (YYYY-MM-DD, then time/zone characters); PostgreSQL
 * would also take 'yesterday', 'epoch', 'infinity'. Range errors are left to
 * the database, which answers STORE_EINVALID. */
static bool iso8601_like(const char *s)
{
    for (int i = 0; i < 10; i++)
        if ((i == 4 || i == 7) ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
            return false;
    for (const char *p = s + 10; *p; p++)
        if (strchr("0123456789Tt:.+-Zz ", *p) == NULL)
            return false;
    return true;
}

static const char *nonempty(http_req *req, const char *name)
{
    const char *v = http_req_query_get(req, name);
    return v != NULL && *v != '\0' ? v : NULL;
}

/* The filters both listings take; answers 400 and returns -1 on a bad one.
 * limit takes 1..max_limit. */
static int read_filter(http_req *req, store_audit_filter *f, int max_limit)
{
    f->actor_id = nonempty(req, "actor_id");
    f->target_id = nonempty(req, "target_id");
    f->since = nonempty(req, "since");
    f->until = nonempty(req, "until");
    if ((f->since != NULL && !iso8601_like(f->since)) ||
        (f->until != NULL && !iso8601_like(f->until))) {
        http_error(req, 400, "invalid_request", "since/until must be ISO-8601 timestamps");
        return -1;
    }
    const char *ev = nonempty(req, "event");
    if (ev != NULL) {
        size_t l = strlen(ev);
        if (strcmp(ev, "*") == 0)
            ev = NULL;
        else if (l >= 2 && strcmp(ev + l - 2, ".*") == 0)
            f->event_prefix = arena_strndup(http_req_arena(req), ev, l - 1);
        else if (strchr(ev, '*') != NULL) {
            http_error(req, 400, "invalid_request",
                       "event takes an exact name, a prefix like oauth.*, or *");
            return -1;
        } else
            f->event = ev;
    }
    const char *limit = http_req_query_get(req, "limit");
    if (limit != NULL && parse_limit(limit, max_limit, &f->limit) != 0) {
        http_error(req, 400, "invalid_request",
                   arena_printf(http_req_arena(req), "limit must be a whole number from 1 to %d",
                                max_limit));
        return -1;
    }
    const char *cursor = nonempty(req, "cursor");
    if (cursor != NULL && parse_cursor(req, cursor, f) != 0) {
        http_error(req, 400, "invalid_request", "cursor is not one this server issued");
        return -1;
    }
    return 0;
}

static void audit_list(http_req *req)
{
    struct audit_q *q = arena_calloc(http_req_arena(req), sizeof(*q));
    http_req_set_ctx(req, q);
    q->f.limit = 100;
    if (read_filter(req, &q->f, 1000) != 0)
        return;
    if (store_audit_list(admin_read_pool(req), &q->f, on_list, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* CSV output in the request arena, grown by doubling: a field's text (a
 * value jansson prints again) has no bound known in advance. */
typedef struct csv_buf {
    arena *a;
    char *p;
    size_t n, cap;
} csv_buf;

static void buf_reserve(csv_buf *b, size_t more)
{
    if (b->n + more <= b->cap)
        return;
    size_t cap = b->cap * 2 > b->n + more ? b->cap * 2 : b->n + more;
    char *p = arena_alloc(b->a, cap);
    memcpy(p, b->p, b->n);
    b->p = p;
    b->cap = cap;
}

static void buf_putc(csv_buf *b, char c)
{
    buf_reserve(b, 1);
    b->p[b->n++] = c;
}

static void buf_puts(csv_buf *b, const char *s)
{
    size_t l = strlen(s);
    buf_reserve(b, l);
    memcpy(b->p + b->n, s, l);
    b->n += l;
}

/* One CSV field (RFC 4180): quoted when it holds a quote, comma or line
 * break; a leading = + - @ (or tab, CR) gets a ' so a spreadsheet opening
 * the export never runs a value an agent or user chose as a formula. */
static void csv_field(csv_buf *b, const char *s)
{
    if (s == NULL)
        s = "";
    bool formula = s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
    bool quote = formula || strpbrk(s, "\",\r\n") != NULL;
    buf_reserve(b, 2 * strlen(s) + 3);
    if (quote)
        buf_putc(b, '"');
    if (formula)
        buf_putc(b, '\'');
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            buf_putc(b, '"');
        buf_putc(b, *p);
    }
    if (quote)
        buf_putc(b, '"');
}

static const char *const csv_columns[] = {
    "created_at", "id",        "event",      "actor_type",
    "actor_id",   "target_id", "request_id", "client_request_id",
    "client_ip",  "metadata"};

static void on_export(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    struct audit_q *q = http_req_ctx(req);
    (void)msg;
    if (err == STORE_EINVALID) {
        http_error(req, 400, "invalid_request", "since/until must be ISO-8601 timestamps");
        return;
    }
    if (admin_db_error(req, err))
        return;
    int rows = store_audit_rows(res), shown = rows > q->f.limit ? q->f.limit : rows;
    size_t ncol = sizeof(csv_columns) / sizeof(csv_columns[0]), cap = 4096;
    store_audit_row row;
    for (int i = 0; i < shown; i++) {
        store_audit_row_read(res, i, &row);
        cap += row.item_len + 16; /* a first guess; it grows */
    }
    csv_buf b = {http_req_arena(req), arena_alloc(http_req_arena(req), cap), 0, cap};
    for (size_t c = 0; c < ncol; c++) {
        if (c > 0)
            buf_putc(&b, ',');
        buf_puts(&b, csv_columns[c]);
    }
    buf_puts(&b, "\r\n");
    for (int i = 0; i < shown; i++) {
        store_audit_row_read(res, i, &row);
        /* Integers past 64 bits parse as reals rather than fail. */
        json_t *item = json_loadb(row.item, row.item_len, JSON_DECODE_INT_AS_REAL, NULL);
        if (item == NULL) {
            /* Not expected of the database's JSON; the row is kept whole. */
            csv_field(&b, NULL);
            buf_putc(&b, ',');
            csv_field(&b, row.id);
            for (size_t c = 2; c < ncol; c++)
                buf_putc(&b, ',');
            csv_field(&b, row.item);
            buf_puts(&b, "\r\n");
            continue;
        }
        for (size_t c = 0; c < ncol; c++) {
            if (c > 0)
                buf_putc(&b, ',');
            json_t *v = json_object_get(item, csv_columns[c]);
            if (json_is_string(v)) {
                csv_field(&b, json_string_value(v));
            } else if (v != NULL && !json_is_null(v)) {
                char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                csv_field(&b, text);
                free(text);
            }
        }
        json_decref(item);
        buf_puts(&b, "\r\n");
    }
    /* The next page, for an export longer than one call answers. */
    if (rows > q->f.limit) {
        char cursor[256];
        store_audit_row_read(res, shown - 1, &row);
        next_cursor(&row, cursor, sizeof(cursor));
        if (cursor[0] != '\0')
            http_header(req, "X-Next-Cursor", cursor);
    }
    http_header(req, "Content-Disposition", "attachment; filename=\"audit-log.csv\"");
    http_respond(req, 200, "text/csv; charset=utf-8", b.p, b.n);
}

static void audit_export(http_req *req)
{
    struct audit_q *q = arena_calloc(http_req_arena(req), sizeof(*q));
    http_req_set_ctx(req, q);
    q->f.limit = 10000;
    if (read_filter(req, &q->f, 10000) != 0)
        return;
    if (store_audit_list(admin_read_pool(req), &q->f, on_export, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static const admin_route routes[] = {
    {"GET", "/api/v1/audit-logs", audit_list},
    {"GET", "/api/v1/audit-logs/export", audit_export},
};

int admin_audit_register(router *r)
{
    return admin_routes_add(r, routes, sizeof(routes) / sizeof(routes[0]));
}
