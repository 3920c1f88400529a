/*
 * http: HTTP/1.1 connections on a loop thread (llhttp parsing, keep-alive,
 * pipelining, chunked bodies, size and time limits, optional TLS), the request
 * object handlers see, and the response writers.
 *
 * A handler receives an http_req and must, now or later from a callback on
 * the same loop, finish it with exactly one http_respond* / http_error call.
 * Pipelined requests are handled one at a time in order. If the client goes
 * away first, the request stays valid until the handler responds (the
 * response is then dropped). Request memory lives in the request's arena.
 */
#ifndef SHARK_CORE_HTTP_H
#define SHARK_CORE_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

typedef struct http_req http_req;
struct app;
struct store_pool;

/* ---- request ---- */
const char *http_req_method(const http_req *r);
const char *http_req_path(const http_req *r);  /* without the query string */
const char *http_req_query(const http_req *r); /* raw, "" if none */
/* First header with that name (case-insensitive), or NULL. */
const char *http_req_header(const http_req *r, const char *name);
/* Number of headers with that name (duplicate detection). */
int http_req_header_count(const http_req *r, const char *name);
/* True when some header's name starts with prefix (case-insensitive). */
bool http_req_has_header_prefix(const http_req *r, const char *prefix);
const char *http_req_body(const http_req *r, size_t *len);
/* Route parameter {name}, percent-decoded; NULL if absent or undecodable. */
const char *http_req_param(http_req *r, const char *name);
/* Percent-decoded query parameter; NULL if absent. */
const char *http_req_query_get(http_req *r, const char *name);
/* The request's id as audit events record it: ours ("req_..."), followed by
 * a space and the client's X-Request-Id when it sent a sane one (the store
 * files the two apart). Responses echo the client's id, or ours. */
const char *http_req_id(const http_req *r);
/* Client address after trusted-proxy resolution, as text and 16-byte form. */
const char *http_req_client_ip(const http_req *r);
bool http_req_is_loopback(const http_req *r);
/* True when the connection itself comes from loopback (proxies ignored). */
bool http_req_peer_is_loopback(const http_req *r);
bool http_req_is_tls(const http_req *r);
arena *http_req_arena(http_req *r);
struct app *http_req_app(const http_req *r);
struct store_pool *http_req_pool(const http_req *r);
/* The per-loop state of the loop the request runs on (core/loop.h). */
struct loop_ctx *http_req_loop_ctx(const http_req *r);
/* For reads that may be stale (listings, audit): the --db-read replica's
 * pool when there is one and it is up, else http_req_pool. Never for token,
 * client, key or revocation checks, nor for reading back one's own write. */
struct store_pool *http_req_read_pool(const http_req *r);
/* The loop the request runs on (for uv_queue_work). */
struct uv_loop_s *http_req_loop(const http_req *r);
/* Data the route was registered with. */
const void *http_req_route_data(const http_req *r);
/* A pointer the handler may keep with the request. */
void http_req_set_ctx(http_req *r, void *ctx);
void *http_req_ctx(const http_req *r);

/* ---- response ---- */
/* Adds a response header (copied). */
void http_header(http_req *r, const char *name, const char *value);
/* `body` must live until the request ends: arena memory, a literal, or
 * memory released by an arena cleanup. */
void http_respond(http_req *r, int status, const char *content_type, const char *body,
                  size_t len);
/* Serialises and takes the reference to `body`. */
void http_respond_json(http_req *r, int status, json_t *body);
/* Answers in the error envelope of the path's surface (router_surface:
 * each module registers its own, e.g. RFC 6749 under /oauth/). */
void http_error(http_req *r, int status, const char *code, const char *message);
/* The request id responses echo (X-Request-Id, error envelopes). */
const char *http_req_echo_id(const http_req *r);

/* Reason phrase for a status code. */
const char *http_status_text(int status);
/* Decodes %XX (and '+' as space when form is true) in place; -1 if malformed
 * or if the result is not valid UTF-8. */
int http_pct_decode(char *s, bool form);

/* ---- server side (core/server.c) ---- */
typedef struct http_conn http_conn;
struct worker;
/* Accepts one connection from a listening stream; called by the server.
 * Over --max-connections or --max-connections-per-ip it answers a fixed 503
 * and closes; a connection counts toward both until it is closed. */
void http_accept(struct worker *w, void *listener);
/* Asks idle connections of the worker to close (shutdown); busy ones close
 * after their current response. Returns the number still busy. */
int http_close_idle(struct worker *w);
/* Closes every connection; answers still owed are dropped when they come. */
void http_close_all(struct worker *w);

/* Test seam (test/fuzz): runs `data` as the bytes one client sent on a
 * connection without a socket, `chunk` bytes per read (0: all at once),
 * through the parser and dispatch of a real connection. Handlers must answer
 * before returning; responses are dropped. */
void http_feed(struct worker *w, const char *data, size_t len, size_t chunk);

#endif
