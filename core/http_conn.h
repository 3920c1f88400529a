/*
 * http_conn: the connection and request objects of core/http.c and
 * core/http_req.c (internal to those two; everyone else sees the accessors
 * of http.h). http.c owns the connection: reading, parsing, dispatch,
 * writing, keep-alive, limits and shutdown; http_req.c the request's
 * accessors and the response writers.
 */
#ifndef SHARK_CORE_HTTP_CONN_H
#define SHARK_CORE_HTTP_CONN_H

#include <llhttp.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "http.h"
#include "router.h"
#include "server.h"

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
    int refs;          /* open handles + an unanswered request */
    bool closing;      /* uv_close issued */
    bool close_after;  /* close once the current response is out */
    int pending_error; /* status for a request that cannot be parsed/accepted */
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

/* The id the client sees (X-Request-Id, error envelopes): its own when it
 * sent one, else ours. */
static inline const char *echo_id(const http_req *r)
{
    return r->client_rid[0] ? r->client_rid : r->id;
}

/* Queues bufs on the connection (through TLS when on); fin: the response
 * is complete, so the request finishes once they are written. */
void http_conn_send(http_conn *c, uv_buf_t *bufs, unsigned nbufs, bool fin);

/* Preparing a request for dispatch (http_req.c): the query string decoded
 * once (false: a malformed or non-UTF-8 parameter), our request id and the
 * client's, the client address after trusted-proxy resolution, and the path
 * with percent-encoded unreserved characters decoded in place. */
bool http_req_parse_query(http_req *r);
void http_req_set_request_id(http_req *r);
void http_req_set_client_addr(http_req *r);
void http_req_normalize_path(char *p);

#endif
