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
#include "http_conn.h"
#include "fatal.h"
#include "log.h"
#include "server.h"
#include "utf8.h"

#define READ_CHUNK 65536
#define MAX_HEADERS 100
#define LINGER_MS 2000

static void conn_close(http_conn *c);
static void conn_parse(http_conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void finish_request(http_conn *c);

/* The loop thread's read buffer: a read is parsed (or, with TLS, decrypted)
 * from it before on_read returns, so a connection keeps input of its own
 * only for what is left over, and an idle one keeps none. */
static _Thread_local char rbuf[READ_CHUNK];

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
void http_conn_send(http_conn *c, uv_buf_t *bufs, unsigned nbufs, bool fin)
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
        http_req_normalize_path(path);
    r->path = path != NULL ? path : "/";
    r->query = q ? arena_strndup(r->a, q + 1, r->url_len - (size_t)(q - url) - 1) : "";
    http_req_set_request_id(r);
    http_req_set_client_addr(r);

    int retry;
    if (!rl_take(a->rl, r->client_addr, server_now_ms(), &retry)) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", retry);
        http_header(r, "Retry-After", ra);
        http_error(r, 429, "rate_limited", "too many requests; retry later");
        return;
    }
    if (!http_req_parse_query(r)) {
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
            http_conn_send(c, &b, 1, false);
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
    http_req_set_request_id(&c->req);
    http_req_set_client_addr(&c->req);
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
        http_req_set_request_id(&c->req);
        http_req_set_client_addr(&c->req);
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
            http_conn_send(c, &none, 0, false);
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
