#include "http.h"

#include <ctype.h>
#include <llhttp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cidr.h"
#include "fatal.h"
#include "log.h"
#include "server.h"
#include "../store/store.h"
#include "utf8.h"

#define READ_CHUNK 65536
#define MAX_HEADERS 100
#define LINGER_MS 2000

struct hdr {
    char *name, *value;
};

/* A request header: offsets of its NUL-terminated name and value in the
 * request's header buffer (which moves as it grows). */
struct hdr_at {
    uint32_t name, value;
};

struct qparam {
    const char *name, *value;
};

struct http_req {
    http_conn *c;
    arena *a;
    char method[16];
    /* The URL (at 0) and every header name and value, NUL-terminated, in one
     * buffer grown by doubling up to the header limit: a request costs its
     * header bytes however finely llhttp splits them. Freed with the arena. */
    char *hb;
    size_t hb_len, hb_cap;
    size_t url_len;
    char *path, *query;
    struct qparam *qp; /* the query string, decoded once at dispatch */
    int nqp;
    struct hdr_at *hdrs;
    int nhdrs;
    uint32_t cur_name, cur_value; /* header being parsed (spans may split) */
    char *body;
    size_t body_len, body_cap;
    route_match m;
    const route *route;
    char id[24];         /* ours, always: req_<16 hex> */
    char client_rid[72]; /* the client's X-Request-Id when sane, else "" */
    char audit_id[100];  /* http_req_id: ours, then " <client's>" if it sent one */
    char client_ip[48];
    uint8_t client_addr[16];
    struct hdr *rhdrs;
    int nrhdrs, rhcap;
    bool has_cache_control;
    void *ctx;
    uint64_t start_ns;
    int status;
    size_t bytes_out;
    bool keep_alive, responded, dispatched;
};

enum conn_state { C_IDLE, C_READING, C_HANDLING, C_WRITING, C_LINGER };

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    worker *w;
    http_conn *prev, *next; /* worker's list */
    llhttp_t parser;
    char *in; /* input not parsed yet (pipelined, TLS plaintext); NULL when none */
    size_t in_len, in_cap;
    http_req req; /* one request at a time; pipelined ones wait in `in` */
    enum conn_state state;
    int refs;             /* open handles + an unanswered request */
    bool closing;         /* uv_close issued */
    bool close_after;     /* close once the current response is out */
    int pending_error;    /* status for a request that cannot be parsed/accepted */
    size_t header_bytes;
    uint8_t peer_addr[16];
    char peer_ip[48];
    bool peer_loopback;
    bool counted; /* in the process's connection counts (connlimit) */
    SSL *ssl;
    BIO *rbio, *wbio;
};

struct wreq {
    uv_write_t w;
    http_conn *c;
    char *owned;
    bool finishes_request;
};

static void conn_close(http_conn *c);
/* The id the client sees (X-Request-Id, error envelopes): its own when it
 * sent one, else ours. */
static const char *echo_id(const http_req *r) { return r->client_rid[0] ? r->client_rid : r->id; }
static void conn_parse(http_conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void finish_request(http_conn *c);

static _Thread_local uint64_t rid_state;

/* The loop thread's read buffer: a read is parsed (or, with TLS, decrypted)
 * from it before on_read returns, so a connection keeps input of its own
 * only for what is left over, and an idle one keeps none. */
static _Thread_local char rbuf[READ_CHUNK];

/* ------------------------------------------------------------------ */
/* request accessors                                                   */

const char *http_req_method(const http_req *r) { return r->method; }
const char *http_req_path(const http_req *r) { return r->path; }
const char *http_req_query(const http_req *r) { return r->query; }
const char *http_req_id(const http_req *r) { return r->audit_id; }
const char *http_req_client_ip(const http_req *r) { return r->client_ip; }
bool http_req_peer_is_loopback(const http_req *r) { return r->c->peer_loopback; }
bool http_req_is_tls(const http_req *r) { return r->c->ssl != NULL; }
arena *http_req_arena(http_req *r) { return r->a; }
struct app *http_req_app(const http_req *r) { return r->c->w->app; }
struct store_pool *http_req_pool(const http_req *r) { return r->c->w->pool; }
struct loop_ctx *http_req_loop_ctx(const http_req *r) { return &r->c->w->ctx; }
struct store_pool *http_req_read_pool(const http_req *r)
{
    worker *w = r->c->w;
    /* A replica that is down is no reason to refuse a read the primary can
     * answer. */
    return w->read_pool != NULL && !store_pool_outage(w->read_pool) ? w->read_pool : w->pool;
}
uv_loop_t *http_req_loop(const http_req *r) { return &r->c->w->loop; }
const void *http_req_route_data(const http_req *r) { return r->route ? r->route->data : NULL; }
void http_req_set_ctx(http_req *r, void *ctx) { r->ctx = ctx; }
void *http_req_ctx(const http_req *r) { return r->ctx; }

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
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
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

static void on_write(uv_write_t *w, int status)
{
    struct wreq *wr = (struct wreq *)w;
    http_conn *c = wr->c;
    free(wr->owned);
    bool fin = wr->finishes_request;
    free(wr);
    if (status < 0 && !c->closing)
        c->close_after = true;
    if (fin)
        finish_request(c);
}

/* Sends bytes (through TLS when on); `fin` marks the response's last write. */
static void conn_send(http_conn *c, uv_buf_t *bufs, unsigned nbufs, bool fin)
{
    struct wreq *wr = calloc(1, sizeof(*wr));
    if (wr == NULL)
        shark_fatal("out of memory");
    wr->c = c;
    wr->finishes_request = fin;
    if (c->closing) {
        free(wr);
        if (fin)
            finish_request(c);
        return;
    }
    if (c->ssl != NULL) {
        for (unsigned i = 0; i < nbufs; i++)
            if (bufs[i].len > 0 && SSL_write(c->ssl, bufs[i].base, (int)bufs[i].len) <= 0)
                c->close_after = true;
        size_t pend = BIO_ctrl_pending(c->wbio);
        wr->owned = malloc(pend ? pend : 1);
        if (wr->owned == NULL)
            shark_fatal("out of memory");
        int got = pend ? BIO_read(c->wbio, wr->owned, (int)pend) : 0;
        uv_buf_t b = uv_buf_init(wr->owned, got > 0 ? (unsigned)got : 0);
        if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
            c->close_after = true;
            on_write(&wr->w, UV_EPIPE);
        }
        return;
    }
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, bufs, nbufs, on_write) != 0) {
        c->close_after = true;
        on_write(&wr->w, UV_EPIPE);
    }
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
    int n = snprintf(head, cap, "HTTP/1.1 %d %s\r\n%sX-Request-Id: %s\r\n%s%s%s%s",
                     status, http_status_text(status), clen, echo_id(r),
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
    conn_send(c, bufs, len && !head_only ? 2 : 1, true);
}

static void json_free_cb(void *p) { free(p); }

void http_respond_json(http_req *r, int status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (s == NULL) {
        http_respond(r, 500, "application/json",
                     "{\"error\":{\"code\":\"internal_error\",\"message\":\"serialisation failed\"}}",
                     70);
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

/* ------------------------------------------------------------------ */
/* request lifecycle                                                   */

static void req_reset(http_conn *c)
{
    arena *a = c->req.a;
    if (a != NULL)
        arena_reset(a);
    memset(&c->req, 0, sizeof(c->req));
    c->req.a = a;
    c->req.c = c;
    c->req.path = "";
    c->req.query = "";
    c->header_bytes = 0;
    c->pending_error = 0;
}

static void conn_unref(http_conn *c)
{
    if (--c->refs > 0)
        return;
    worker *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    if (c->counted)
        connlimit_release(w->app->conns, c->peer_addr);
    arena_free(c->req.a);
    if (c->ssl != NULL)
        SSL_free(c->ssl); /* frees the BIOs too */
    free(c->in);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    conn_unref((http_conn *)h->data);
}

static void conn_close(http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_timer(uv_timer_t *t);

static void arm(http_conn *c, int ms)
{
    if (!c->closing)
        uv_timer_start(&c->timer, on_timer, (uint64_t)ms, 0);
}

static void on_shutdown(uv_shutdown_t *s, int status)
{
    free(s);
    (void)status;
}

/* After an error response the client may still be sending: half-close,
 * read and drop what comes for a moment, so the response is not lost to a
 * reset, then close. */
static void conn_linger(http_conn *c)
{
    if (c->closing)
        return;
    c->state = C_LINGER;
    uv_shutdown_t *s = malloc(sizeof(*s));
    if (s == NULL || uv_shutdown(s, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(s);
        conn_close(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    arm(c, LINGER_MS);
}

static void finish_request(http_conn *c)
{
    http_req *r = &c->req;
    worker *w = c->w;
    double secs = (double)(uv_hrtime() - r->start_ns) / 1e9;
    metrics_request(w->app->metrics, r->route ? r->route->index : -1, r->method, r->status, secs);
    log_access(&(log_access_rec){r->id, r->client_rid[0] ? r->client_rid : NULL, r->method,
                                 r->route ? r->route->pattern : "-", r->path, r->client_ip,
                                 r->status, secs * 1000, r->bytes_out});
    bool keep = r->keep_alive && !c->close_after && !w->draining;
    req_reset(c);
    if (c->closing) {
        conn_unref(c); /* the request's reference */
        return;
    }
    c->refs--;
    if (!keep) {
        conn_linger(c);
        return;
    }
    c->state = C_IDLE;
    llhttp_resume(&c->parser);
    arm(c, w->app->cfg.idle_timeout_ms);
    if (c->in_len > 0)
        conn_parse(c);
    if (!c->closing && (c->state == C_IDLE || c->state == C_READING))
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    /* Idle with nothing pending: the arena comes back with the next bytes. */
    if (c->state == C_IDLE && c->in_len == 0) {
        arena_free(c->req.a);
        c->req.a = NULL;
    }
}

/* Answers a request we refuse before routing, then closes when asked. */
static void early_error(http_conn *c, int status, const char *code, const char *msg, bool close)
{
    http_req *r = &c->req;
    if (close) {
        r->keep_alive = false;
        c->close_after = true;
    }
    http_error(r, status, code, msg);
}

/* Decodes the query string once for http_req_query_get; false if a name or
 * value is malformed or not UTF-8, so a bad parameter is a 400 rather than a
 * filter silently dropped. */
static bool parse_query(http_req *r)
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
static void set_request_id(http_req *r)
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
static void set_client_addr(http_req *r)
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
static void normalize_path(char *p)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = p;
    for (; *p; p++) {
        const char *h = p[0] == '%' && p[1] && p[2] ? strchr(hex, toupper((unsigned char)p[1])) : NULL;
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

static void dispatch(http_conn *c)
{
    http_req *r = &c->req;
    app *a = c->w->app;
    c->state = C_HANDLING;
    c->refs++; /* held until the response is out */
    uv_timer_stop(&c->timer);
    uv_read_stop((uv_stream_t *)&c->tcp);
    r->keep_alive = llhttp_should_keep_alive(&c->parser) && !c->close_after;

    const char *url = r->url_len ? r->hb : "";
    char *q = memchr(url, '?', r->url_len);
    char *path = r->url_len ? arena_strndup(r->a, url, q ? (size_t)(q - url) : r->url_len) : NULL;
    if (path != NULL)
        normalize_path(path);
    r->path = path != NULL ? path : "/";
    r->query = q ? arena_strndup(r->a, q + 1, r->url_len - (size_t)(q - url) - 1) : "";
    set_request_id(r);
    set_client_addr(r);

    int retry;
    if (!rl_take(a->rl, r->client_addr, server_now_ms(), &retry)) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", retry);
        http_header(r, "Retry-After", ra);
        http_error(r, 429, "rate_limited", "too many requests; retry later");
        return;
    }
    if (!parse_query(r)) {
        http_error(r, 400, "invalid_request", "malformed query string");
        return;
    }
    int m = router_match(a->router, r->method, r->path, strlen(r->path), &r->m);
    if (m == ROUTER_NOT_FOUND) {
        http_error(r, 404, "not_found", "no such endpoint");
        return;
    }
    if (m == ROUTER_BAD_METHOD) {
        http_header(r, "Allow", r->m.allow);
        http_error(r, 405, "method_not_allowed", "method not allowed on this endpoint");
        return;
    }
    r->route = r->m.route;
    r->dispatched = true;
    r->route->handler(r);
}

/* ------------------------------------------------------------------ */
/* llhttp callbacks                                                    */

static void hb_free(void *req)
{
    free(((http_req *)req)->hb);
}

/* Appends n bytes (and, with nul, a terminating NUL) to the header buffer.
 * The header limit bounds it: max_header bytes of spans (count_header) and a
 * NUL after the URL and after each of at most MAX_HEADERS + 1 names and
 * values. Returns 0 or -1 (431) past that. */
static int hb_append(http_conn *c, const char *at, size_t n, bool nul)
{
    http_req *r = &c->req;
    size_t need = r->hb_len + n + nul;
    size_t limit = c->w->app->cfg.max_header + 2 * MAX_HEADERS + 3;
    if (need > limit || need > UINT32_MAX) {
        c->pending_error = 431;
        return -1;
    }
    if (need > r->hb_cap) {
        size_t cap = r->hb_cap ? r->hb_cap * 2 : 1024;
        while (cap < need)
            cap *= 2;
        if (cap > limit)
            cap = limit;
        char *b = realloc(r->hb, cap);
        if (b == NULL)
            shark_fatal("out of memory");
        if (r->hb == NULL)
            arena_cleanup(r->a, hb_free, r);
        r->hb = b;
        r->hb_cap = cap;
    }
    if (n > 0)
        memcpy(r->hb + r->hb_len, at, n);
    r->hb_len += n;
    if (nul)
        r->hb[r->hb_len++] = '\0';
    return 0;
}

static int count_header(http_conn *c, size_t n)
{
    c->header_bytes += n;
    if (c->header_bytes > c->w->app->cfg.max_header) {
        c->pending_error = 431;
        return -1;
    }
    return 0;
}

static int cb_message_begin(llhttp_t *p)
{
    http_conn *c = p->data;
    c->state = C_READING;
    c->req.start_ns = uv_hrtime();
    arm(c, c->w->app->cfg.request_timeout_ms);
    return 0;
}

/* Spans of the URL, a name or a value go to the end of the header buffer;
 * each *_complete ends the piece with a NUL and notes where the next begins. */
static int cb_span(llhttp_t *p, const char *at, size_t n)
{
    http_conn *c = p->data;
    return count_header(c, n) != 0 || hb_append(c, at, n, false) != 0 ? -1 : 0;
}

static int cb_url_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    c->req.url_len = c->req.hb_len;
    if (hb_append(c, NULL, 0, true) != 0)
        return -1;
    c->req.cur_name = (uint32_t)c->req.hb_len;
    return 0;
}

static int cb_header_field_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    if (hb_append(c, NULL, 0, true) != 0)
        return -1;
    c->req.cur_value = (uint32_t)c->req.hb_len;
    return 0;
}

static int cb_header_value_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    http_req *r = &c->req;
    if (r->nhdrs == MAX_HEADERS) {
        c->pending_error = 431;
        return -1;
    }
    if (hb_append(c, NULL, 0, true) != 0)
        return -1;
    if (r->hdrs == NULL)
        r->hdrs = arena_alloc(r->a, MAX_HEADERS * sizeof(*r->hdrs));
    r->hdrs[r->nhdrs].name = r->cur_name;
    r->hdrs[r->nhdrs].value = r->cur_value;
    r->nhdrs++;
    r->cur_name = (uint32_t)r->hb_len;
    return 0;
}

static int cb_headers_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    http_req *r = &c->req;
    snprintf(r->method, sizeof(r->method), "%s", llhttp_method_name(llhttp_get_method(p)));
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > c->w->app->cfg.max_body) {
        c->pending_error = 413;
        return -1;
    }
    const char *expect = http_req_header(r, "Expect");
    if (expect != NULL && strcasecmp(expect, "100-continue") == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        uv_buf_t b = uv_buf_init((char *)cont, sizeof(cont) - 1);
        if (c->ssl != NULL)
            conn_send(c, &b, 1, false);
        else if (!c->closing)
            uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
    return 0;
}

static int cb_body(llhttp_t *p, const char *at, size_t n)
{
    http_conn *c = p->data;
    http_req *r = &c->req;
    size_t max = c->w->app->cfg.max_body;
    if (r->body_len + n > max) {
        c->pending_error = 413;
        return -1;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap * 2 : 1024;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        if (cap > max + 1)
            cap = max + 1;
        char *b = arena_alloc(r->a, cap);
        if (r->body_len)
            memcpy(b, r->body, r->body_len);
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

/* A chunk's size is known from its header: one that cannot fit is refused
 * now, not after the client has sent (or stalled on) megabytes. */
static int cb_chunk_header(llhttp_t *p)
{
    http_conn *c = p->data;
    if (p->content_length > c->w->app->cfg.max_body - c->req.body_len) {
        c->pending_error = 413;
        return -1;
    }
    return 0;
}

static int cb_message_complete(llhttp_t *p)
{
    (void)p;
    return HPE_PAUSED; /* one request at a time; the rest waits in `in` */
}

static const llhttp_settings_t parser_settings = {
    .on_message_begin = cb_message_begin,
    .on_url = cb_span,
    .on_url_complete = cb_url_complete,
    .on_header_field = cb_span,
    .on_header_field_complete = cb_header_field_complete,
    .on_header_value = cb_span,
    .on_header_value_complete = cb_header_value_complete,
    .on_headers_complete = cb_headers_complete,
    .on_body = cb_body,
    .on_chunk_header = cb_chunk_header,
    .on_message_complete = cb_message_complete,
};

/* Appends n bytes to the pending input. */
static void in_append(http_conn *c, const char *data, size_t n)
{
    if (c->in_len + n > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
        while (cap < c->in_len + n)
            cap *= 2;
        char *b = realloc(c->in, cap);
        if (b == NULL)
            shark_fatal("out of memory");
        c->in = b;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, data, n);
    c->in_len += n;
}

/* Makes the n bytes at rest the pending input; they lie inside `in` when
 * own, else (`in` being empty) in the read buffer. None frees `in`. */
static void in_keep(http_conn *c, bool own, const char *rest, size_t n)
{
    if (n == 0) {
        free(c->in);
        c->in = NULL;
        c->in_len = c->in_cap = 0;
    } else if (own) {
        memmove(c->in, rest, n);
        c->in_len = n;
    } else {
        in_append(c, rest, n);
    }
}

/* Feeds bytes (the pending input, or a read when none is pending) to llhttp
 * until a request is complete (dispatch) or they are used up. */
static void conn_feed(http_conn *c, const char *data, size_t len)
{
    bool own = data == c->in;
    if (c->state == C_LINGER || len == 0) {
        in_keep(c, own, NULL, 0);
        return;
    }
    if (c->req.a == NULL)
        c->req.a = arena_new(8192);
    llhttp_errno_t e = llhttp_execute(&c->parser, data, len);
    size_t used = len;
    if (e != HPE_OK) {
        const char *pos = llhttp_get_error_pos(&c->parser);
        if (pos != NULL && pos >= data && pos <= data + len)
            used = (size_t)(pos - data);
    }
    if (e == HPE_PAUSED) {
        in_keep(c, own, data + used, len - used);
        dispatch(c);
        return;
    }
    in_keep(c, own, NULL, 0);
    if (e == HPE_OK)
        return;
    c->req.path = c->req.url_len ? arena_strndup(c->req.a, c->req.hb, c->req.url_len) : "";
    char *q = strchr(c->req.path, '?');
    if (q != NULL)
        *q = '\0';
    c->state = C_HANDLING;
    c->refs++;
    uv_timer_stop(&c->timer);
    uv_read_stop((uv_stream_t *)&c->tcp);
    set_request_id(&c->req);
    set_client_addr(&c->req);
    if (c->req.method[0] == '\0')
        snprintf(c->req.method, sizeof(c->req.method), "-");
    if (c->pending_error == 413)
        early_error(c, 413, "payload_too_large", "request body larger than the 1 MB limit", true);
    else if (c->pending_error == 431)
        early_error(c, 431, "headers_too_large", "request headers too large", true);
    else
        early_error(c, 400, "invalid_request", llhttp_errno_name(e), true);
}

static void conn_parse(http_conn *c)
{
    conn_feed(c, c->in, c->in_len);
}

/* ------------------------------------------------------------------ */
/* socket events                                                       */

static void on_timer(uv_timer_t *t)
{
    http_conn *c = t->data;
    if (c->state == C_READING) {
        /* A started request that did not arrive whole in time. */
        c->state = C_HANDLING;
        c->refs++;
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->req.path = "";
        set_request_id(&c->req);
        set_client_addr(&c->req);
        snprintf(c->req.method, sizeof(c->req.method), "-");
        early_error(c, 408, "request_timeout", "request not received in time", true);
        return;
    }
    if (c->state == C_IDLE || c->state == C_LINGER)
        conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(rbuf, sizeof(rbuf));
}

/* Moves decrypted bytes into `in`; flushes handshake output. Returns -1 if
 * the TLS session failed. */
static int tls_input(http_conn *c, const char *data, size_t n)
{
    if (BIO_write(c->rbio, data, (int)n) != (int)n)
        return -1;
    for (;;) {
        if (c->in_cap - c->in_len < 16384) {
            size_t cap = c->in_cap + READ_CHUNK;
            char *nb = realloc(c->in, cap);
            if (nb == NULL)
                return -1;
            c->in = nb;
            c->in_cap = cap;
        }
        int got = SSL_read(c->ssl, c->in + c->in_len, (int)(c->in_cap - c->in_len));
        if (got > 0) {
            c->in_len += (size_t)got;
            continue;
        }
        int err = SSL_get_error(c->ssl, got);
        if (BIO_ctrl_pending(c->wbio) > 0) {
            uv_buf_t none = uv_buf_init(NULL, 0);
            conn_send(c, &none, 0, false);
        }
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
            return 0;
        ERR_clear_error();
        return -1;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    http_conn *c = s->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (c->state == C_HANDLING || c->state == C_WRITING)
            c->close_after = true;
        else
            conn_close(c);
        return;
    }
    if (c->state == C_LINGER)
        return;
    bool parsing = c->state == C_IDLE || c->state == C_READING;
    if (c->ssl != NULL) {
        if (tls_input(c, buf->base, (size_t)nread) != 0) {
            conn_close(c);
            return;
        }
    } else if (parsing && c->in_len == 0) {
        conn_feed(c, buf->base, (size_t)nread);
        return;
    } else {
        in_append(c, buf->base, (size_t)nread);
    }
    if (parsing)
        conn_parse(c);
}

/* Counts the new connection, or, over --max-connections or
 * --max-connections-per-ip (trusted proxies have only the first), answers a
 * fixed 503 (without TLS: there is no session yet) and closes. A client that
 * already sent its request may see only the close. */
static bool conn_admit(http_conn *c)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 21\r\n"
                               "Retry-After: 1\r\n"
                               "Cache-Control: no-store\r\n"
                               "Connection: close\r\n\r\n"
                               "too many connections\n";
    static _Thread_local uint64_t logged_ms;
    app *a = c->w->app;
    bool proxy = cidr_match_any(a->cfg.trusted_proxies, a->cfg.n_trusted_proxies, c->peer_addr);
    int rc = connlimit_acquire(a->conns, c->peer_addr, !proxy);
    if (rc == 0) {
        c->counted = true;
        return true;
    }
    if (a->tls == NULL) {
        uv_buf_t b = uv_buf_init((char *)busy, sizeof(busy) - 1);
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
    /* A flood must not flood the log: one line per loop thread per 10 s. */
    uint64_t now = server_now_ms();
    if (logged_ms == 0 || now - logged_ms >= 10000) {
        logged_ms = now;
        log_msg(LOG_WARN, "connection refused: too many open", "limit",
                rc == CONNLIMIT_ADDR ? "per-address" : "total", "client_ip", c->peer_ip, NULL);
    }
    conn_close(c);
    return false;
}

void http_accept(worker *w, void *listener)
{
    http_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->w = w;
    uv_tcp_init(&w->loop, &c->tcp);
    uv_timer_init(&w->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->refs = 2;
    c->next = w->conns;
    if (c->next)
        c->next->prev = c;
    w->conns = c;
    w->nconns++;
    req_reset(c);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            uv_ip4_name((struct sockaddr_in *)&ss, c->peer_ip, sizeof(c->peer_ip));
        else
            uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer_ip, sizeof(c->peer_ip));
        const char *ip = c->peer_ip;
        if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip, '.') != NULL)
            memmove(c->peer_ip, ip + 7, strlen(ip + 7) + 1);
        cidr_addr_parse(c->peer_ip, c->peer_addr);
        c->peer_loopback = strncmp(c->peer_ip, "127.", 4) == 0 || strcmp(c->peer_ip, "::1") == 0;
    }
    if (!conn_admit(c))
        return;
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    if (w->app->tls != NULL) {
        c->ssl = SSL_new(w->app->tls);
        c->rbio = BIO_new(BIO_s_mem());
        c->wbio = BIO_new(BIO_s_mem());
        if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
            BIO_free(c->rbio);
            BIO_free(c->wbio);
            conn_close(c);
            return;
        }
        SSL_set_bio(c->ssl, c->rbio, c->wbio);
        SSL_set_accept_state(c->ssl);
    }
    c->state = C_IDLE;
    arm(c, w->app->cfg.idle_timeout_ms);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int http_close_idle(worker *w)
{
    int busy = 0;
    for (http_conn *c = w->conns; c != NULL; c = c->next) {
        if (c->closing)
            continue;
        if (c->state == C_IDLE || c->state == C_LINGER)
            conn_close(c);
        else
            busy++;
    }
    return busy;
}

void http_close_all(worker *w)
{
    for (http_conn *c = w->conns; c != NULL; c = c->next)
        conn_close(c);
}

void http_feed(worker *w, const char *data, size_t len, size_t chunk)
{
    http_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        shark_fatal("out of memory");
    c->w = w;
    /* A connection whose handles are already gone: timers are not armed and
     * responses finish without being written (see arm, conn_send). */
    c->closing = true;
    c->refs = 1;
    c->req.a = arena_new(8192);
    req_reset(c);
    snprintf(c->peer_ip, sizeof(c->peer_ip), "127.0.0.1");
    cidr_addr_parse(c->peer_ip, c->peer_addr);
    c->peer_loopback = true;
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    for (size_t off = 0; off < len && !c->close_after;) {
        size_t n = chunk > 0 && chunk < len - off ? chunk : len - off;
        in_append(c, data + off, n); /* as a read with input pending does */
        off += n;
        /* Each complete request is dispatched and answered, then parsing
         * resumes on the rest, as finish_request does. */
        while (c->in_len > 0 && !c->close_after) {
            conn_parse(c);
            if (c->refs != 1)
                shark_fatal("http_feed: a handler did not answer before returning");
            if (llhttp_get_errno(&c->parser) != HPE_PAUSED)
                break; /* all bytes taken; wait for more */
            if (!llhttp_should_keep_alive(&c->parser))
                goto done; /* a real connection stops reading here */
            llhttp_resume(&c->parser);
        }
    }
done:
    arena_free(c->req.a);
    free(c->in);
    free(c);
}
