/* The request's accessors and the response writers (see http.h; the objects
 * are in http_conn.h). */
#include "http_conn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fatal.h"
#include "utf8.h"

/* ------------------------------------------------------------------ */
/* request accessors                                                   */

const char *http_req_method(const http_req *r)
{
    return r->method;
}
const char *http_req_path(const http_req *r)
{
    return r->path;
}
const char *http_req_query(const http_req *r)
{
    return r->query;
}
const char *http_req_id(const http_req *r)
{
    return r->audit_id;
}
const char *http_req_client_ip(const http_req *r)
{
    return r->client_ip;
}
bool http_req_peer_is_loopback(const http_req *r)
{
    return r->c->peer_loopback;
}
bool http_req_is_tls(const http_req *r)
{
    return r->c->ssl != NULL;
}
arena *http_req_arena(http_req *r)
{
    return r->a;
}
struct app *http_req_app(const http_req *r)
{
    return r->c->w->app;
}
struct store_pool *http_req_pool(const http_req *r)
{
    return r->c->w->pool;
}
struct loop_ctx *http_req_loop_ctx(const http_req *r)
{
    return &r->c->w->ctx;
}
struct store_pool *http_req_replica_pool(const http_req *r)
{
    return r->c->w->read_pool;
}
uv_loop_t *http_req_loop(const http_req *r)
{
    return &r->c->w->loop;
}
const void *http_req_route_data(const http_req *r)
{
    return r->route ? r->route->data : NULL;
}
void http_req_set_ctx(http_req *r, void *ctx)
{
    r->ctx = ctx;
}
void *http_req_ctx(const http_req *r)
{
    return r->ctx;
}

bool http_req_is_loopback(const http_req *r)
{
    static const cidr lo4 = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 0}, 104};
    static const cidr lo6 = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128};
    return cidr_match(&lo4, r->client_addr) || cidr_match(&lo6, r->client_addr);
}

const char *http_req_header(const http_req *r, const char *name)
{
    for (int i = 0; i < r->nhdrs; i++)
        if (strcasecmp(r->hb + r->hdrs[i].name, name) == 0)
            return r->hb + r->hdrs[i].value;
    return NULL;
}

int http_req_header_count(const http_req *r, const char *name)
{
    int n = 0;
    for (int i = 0; i < r->nhdrs; i++)
        n += strcasecmp(r->hb + r->hdrs[i].name, name) == 0;
    return n;
}

bool http_req_has_header_prefix(const http_req *r, const char *prefix)
{
    size_t n = strlen(prefix);
    for (int i = 0; i < r->nhdrs; i++)
        if (strncasecmp(r->hb + r->hdrs[i].name, prefix, n) == 0)
            return true;
    return false;
}

const char *http_req_body(const http_req *r, size_t *len)
{
    if (len != NULL)
        *len = r->body_len;
    return r->body ? r->body : "";
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int http_pct_decode(char *s, bool form)
{
    char *o = s;
    for (char *p = s; *p != '\0'; p++) {
        if (*p == '%') {
            int hi = hexval((unsigned char)p[1]), lo = hi < 0 ? -1 : hexval((unsigned char)p[2]);
            if (hi < 0 || lo < 0)
                return -1;
            int v = hi * 16 + lo;
            if (v == 0)
                return -1; /* an embedded NUL would truncate silently */
            *o++ = (char)v;
            p += 2;
        } else if (form && *p == '+') {
            *o++ = ' ';
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return utf8_valid(s) ? 0 : -1;
}

const char *http_req_param(http_req *r, const char *name)
{
    for (int i = 0; i < r->m.nparams; i++) {
        size_t nl = strlen(name);
        const char *pn = r->m.params[i].name;
        if (strncmp(pn, name, nl) != 0 || pn[nl] != '}')
            continue;
        char *v = arena_strndup(r->a, r->m.params[i].value, r->m.params[i].len);
        return http_pct_decode(v, false) == 0 ? v : NULL;
    }
    return NULL;
}

const char *http_req_query_get(http_req *r, const char *name)
{
    for (int i = 0; i < r->nqp; i++)
        if (strcmp(r->qp[i].name, name) == 0)
            return r->qp[i].value;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* responses                                                           */

const char *http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
    }
}

void http_header(http_req *r, const char *name, const char *value)
{
    if (r->nrhdrs == r->rhcap) {
        int cap = r->rhcap ? r->rhcap * 2 : 8;
        struct hdr *v = arena_alloc(r->a, (size_t)cap * sizeof(*v));
        if (r->nrhdrs)
            memcpy(v, r->rhdrs, (size_t)r->nrhdrs * sizeof(*v));
        r->rhdrs = v;
        r->rhcap = cap;
    }
    if (strcasecmp(name, "Cache-Control") == 0)
        r->has_cache_control = true;
    /* No header may smuggle another: control characters become spaces. */
    char *v = arena_strdup(r->a, value);
    for (char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    r->rhdrs[r->nrhdrs].name = arena_strdup(r->a, name);
    r->rhdrs[r->nrhdrs].value = v;
    r->nrhdrs++;
}

void http_respond(http_req *r, int status, const char *content_type, const char *body, size_t len)
{
    http_conn *c = r->c;
    if (r->responded)
        shark_fatal("request answered twice");
    r->responded = true;
    r->status = status;
    /* Every 503 is a passing condition (database outage, overload): tell
     * clients and load balancers when to come back unless the handler did. */
    if (status == 503) {
        bool has = false;
        for (int i = 0; i < r->nrhdrs && !has; i++)
            has = strcasecmp(r->rhdrs[i].name, "Retry-After") == 0;
        if (!has)
            http_header(r, "Retry-After", "1");
    }
    if (c->close_after || c->w->draining)
        r->keep_alive = false;
    c->state = C_WRITING;
    /* Built even when the client is gone (conn_send drops it then), so
     * http_feed runs the writer too. */
    size_t cap = 256 + strlen(echo_id(r));
    for (int i = 0; i < r->nrhdrs; i++)
        cap += strlen(r->rhdrs[i].name) + strlen(r->rhdrs[i].value) + 4;
    if (content_type != NULL)
        cap += strlen(content_type) + 16;
    char *head = arena_alloc(r->a, cap);
    /* RFC 9110 §8.6: no Content-Length on 204 and 304. */
    char clen[40] = "";
    if (status != 204 && status != 304)
        snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", len);
    int n = snprintf(head, cap, "HTTP/1.1 %d %s\r\n%sX-Request-Id: %s\r\n%s%s%s%s", status,
                     http_status_text(status), clen, echo_id(r),
                     r->keep_alive ? "" : "Connection: close\r\n",
                     content_type ? "Content-Type: " : "", content_type ? content_type : "",
                     content_type ? "\r\n" : "");
    size_t hl = (size_t)n;
    if (!r->has_cache_control) {
        memcpy(head + hl, "Cache-Control: no-store\r\n", 25);
        hl += 25;
    }
    for (int i = 0; i < r->nrhdrs; i++)
        hl += (size_t)snprintf(head + hl, cap - hl, "%s: %s\r\n", r->rhdrs[i].name,
                               r->rhdrs[i].value);
    memcpy(head + hl, "\r\n", 2);
    hl += 2;
    /* RFC 9110 §9.3.2: a HEAD response has the GET headers but no content. */
    bool head_only = strcmp(r->method, "HEAD") == 0;
    r->bytes_out = c->closing ? 0 : hl + (head_only ? 0 : len);
    uv_buf_t bufs[2] = {uv_buf_init(head, (unsigned)hl), uv_buf_init((char *)body, (unsigned)len)};
    http_conn_send(c, bufs, len && !head_only ? 2 : 1, true);
}

static void json_free_cb(void *p)
{
    free(p);
}

void http_respond_json(http_req *r, int status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (s == NULL) {
        http_respond(
            r, 500, "application/json",
            "{\"error\":{\"code\":\"internal_error\",\"message\":\"serialisation failed\"}}", 70);
        return;
    }
    arena_cleanup(r->a, json_free_cb, s);
    http_respond(r, status, "application/json", s, strlen(s));
}

const char *http_req_echo_id(const http_req *r)
{
    return echo_id(r);
}

/* The envelope belongs to the surface (core/router.h); without one (a test
 * set-up) the bare status line is the answer. */
void http_error(http_req *r, int status, const char *code, const char *message)
{
    const router *rt = r->c != NULL ? r->c->w->app->router : NULL;
    route_envelope env = router_envelope(rt, r->path ? r->path : "");
    if (env != NULL) {
        env(r, status, code, message);
        return;
    }
    const char *text = http_status_text(status);
    http_respond(r, status, "text/plain", text, strlen(text));
}

/* ---- preparing a request for dispatch (http.c) ---- */

/* Request ids: a xorshift per loop thread, seeded once. */
static _Thread_local uint64_t rid_state;

/* Decodes the query string once for http_req_query_get; false if a name or
 * value is malformed or not UTF-8, so a bad parameter is a 400 rather than a
 * filter silently dropped. */
bool http_req_parse_query(http_req *r)
{
    int cap = 1;
    for (const char *p = r->query; *p != '\0'; p++)
        cap += *p == '&';
    r->qp = arena_alloc(r->a, (size_t)cap * sizeof(*r->qp));
    for (const char *p = r->query; *p != '\0';) {
        size_t len = strcspn(p, "&");
        char *name = arena_strndup(r->a, p, len);
        char *value = strchr(name, '=');
        if (value != NULL)
            *value++ = '\0';
        else
            value = name + len;
        if (len > 0) {
            if (http_pct_decode(name, true) != 0 || http_pct_decode(value, true) != 0)
                return false;
            r->qp[r->nqp].name = name;
            r->qp[r->nqp].value = value;
            r->nqp++;
        }
        p += len + (p[len] == '&');
    }
    return true;
}

/* Our own id for every request; a sane client X-Request-Id is kept beside
 * it (echoed back, and recorded with ours), never in its place, so a client
 * cannot choose the id its audit events and log lines are filed under. */
void http_req_set_request_id(http_req *r)
{
    if (rid_state == 0) {
        uint64_t seed = uv_hrtime() ^ (uint64_t)(uintptr_t)r;
        rid_state = seed | 1;
    }
    /* xorshift64*: request ids need to be unique, not secret. */
    rid_state ^= rid_state >> 12;
    rid_state ^= rid_state << 25;
    rid_state ^= rid_state >> 27;
    snprintf(r->id, sizeof(r->id), "req_%016llx",
             (unsigned long long)(rid_state * 2685821657736338717ull));
    r->client_rid[0] = '\0';
    const char *given = http_req_header(r, "X-Request-Id");
    if (given != NULL) {
        size_t n = strlen(given);
        bool sane = n > 0 && n <= 64;
        for (size_t i = 0; sane && i < n; i++) {
            char ch = given[i];
            sane = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == ':';
        }
        if (sane)
            memcpy(r->client_rid, given, n + 1);
    }
    /* The store splits "<ours> <client's>" into audit_events.request_id and
     * client_request_id (migration 0023); the client's id has no spaces. */
    snprintf(r->audit_id, sizeof(r->audit_id), "%s%s%s", r->id, r->client_rid[0] ? " " : "",
             r->client_rid);
}

/* The client's address: the peer, or, when the peer is a trusted proxy, the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy. */
void http_req_set_client_addr(http_req *r)
{
    http_conn *c = r->c;
    const config *cfg = &c->w->app->cfg;
    memcpy(r->client_addr, c->peer_addr, 16);
    snprintf(r->client_ip, sizeof(r->client_ip), "%s", c->peer_ip);
    if (cfg->n_trusted_proxies == 0 ||
        !cidr_match_any(cfg->trusted_proxies, cfg->n_trusted_proxies, c->peer_addr))
        return;
    const char *xff = http_req_header(r, "X-Forwarded-For");
    if (xff == NULL)
        return;
    char *list = arena_strdup(r->a, xff);
    for (;;) {
        char *comma = strrchr(list, ',');
        char *item = comma ? comma + 1 : list;
        while (*item == ' ')
            item++;
        char *end = item + strlen(item);
        while (end > item && end[-1] == ' ')
            *--end = '\0';
        uint8_t a[16];
        if (cidr_addr_parse(item, a) != 0)
            return;
        memcpy(r->client_addr, a, 16);
        snprintf(r->client_ip, sizeof(r->client_ip), "%s", item);
        if (!cidr_match_any(cfg->trusted_proxies, cfg->n_trusted_proxies, a) || comma == NULL)
            return;
        *comma = '\0';
    }
}

/* RFC 3986 §6.2.2.2: a percent-encoded unreserved character is that
 * character, so /health%7A names /healthz. Other escapes stay as sent (a
 * decoded "/" or "%" would change what the path says). In place. */
void http_req_normalize_path(char *p)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = p;
    for (; *p; p++) {
        const char *h = p[0] == '%' && p[1] && p[2] ? strchr(hex, toupper((unsigned char)p[1]))
                                                    : NULL;
        const char *l = h ? strchr(hex, toupper((unsigned char)p[2])) : NULL;
        int ch = l ? (int)((h - hex) * 16 + (l - hex)) : -1;
        if (ch > 0 && (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~')) {
            *o++ = (char)ch;
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}
