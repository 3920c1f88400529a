/*
 * fetch: the one outbound HTTP service of the process: webhook delivery
 * (hooks/), vault calls to providers (vault/), Client ID Metadata Documents
 * (protocol/cimd.c); later SMTP relays and upstream SSO.
 *
 * One thread per process runs its own uv_loop driving libcurl's multi-socket
 * API. Code on any registered loop calls fetch_submit; the request is
 * copied, queued to that thread and performed there; the answer comes back
 * ON THE CALLER'S LOOP through a per-loop uv_async, so a handler never
 * blocks and never touches another thread's state.
 *
 * Destination policy (core/egress.h): the fetch thread resolves the host
 * itself (uv_getaddrinfo), refuses what egress_refusal refuses, and pins
 * curl to the checked addresses (CURLOPT_RESOLVE; every socket curl opens is
 * checked again at connect time). No redirects, no proxies, http and https
 * only, TLS verification on; a time cap per request and a cap on the
 * response bytes read.
 *
 * Life cycle: fetch_init (main thread, before the loops are created) ->
 * fetch_loop_init for each request loop (app->loop_init), fetch_attach for
 * any other loop -> fetch_start
 * (app->start_background) -> fetch_stop at the first signal: requests still
 * queued or submitted later fail at once with "shutting down", transfers in
 * flight get until --shutdown-timeout -> fetch_join after the request loops
 * ended.
 */
#ifndef SHARK_CORE_FETCH_H
#define SHARK_CORE_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "server.h"

#define FETCH_BODY_MAX (64 * 1024)  /* response bytes kept; more is an error */
#define FETCH_TIMEOUT_MS 10000       /* default whole-transfer limit */

typedef struct fetch_request {
    const char *method;             /* "GET", "POST", ...; NULL: POST with a body, else GET */
    const char *url;                /* absolute http(s) URL */
    const char *const *headers;     /* "Name: value" lines, NULL-terminated; may be NULL */
    const char *body;               /* may be NULL */
    size_t body_len;
    int timeout_ms;                 /* 0: FETCH_TIMEOUT_MS */
    size_t body_max;                /* response bytes kept, at most FETCH_BODY_MAX; 0: that */
    bool https_only;                /* refuse http:// */
    const char *ca_file;            /* PEM bundle to trust instead of the system's; may be NULL */
} fetch_request;

/* What came back. Valid only during the callback. */
typedef struct fetch_response {
    long status;                /* HTTP status; 0 when there was no HTTP answer */
    const char *error;          /* NULL when answered; else why (refused, timeout, ...) */
    bool refused;               /* the destination address is not allowed */
    bool too_big;               /* body over body_max: error is set, status is what came */
    const char *body;           /* NUL-terminated; "" when none */
    size_t body_len;
    const char *content_type;   /* "" when none */
    const char *cache_control;  /* "" when none */
    long long retry_after_s;    /* Retry-After in seconds, -1 when absent */
    long long elapsed_ms;
} fetch_response;

/* Runs on the loop given to fetch_submit, exactly once, never from inside
 * fetch_submit. Not called at all if that loop has shut down meanwhile (its
 * store pool is gone): a callback may always use the loop's pool. */
typedef void (*fetch_cb)(void *ud, const fetch_response *res);

/* Creates the service (its thread starts in fetch_start). 0 or -1. */
int fetch_init(app *a);
/* Registers a request loop as a reply destination (app->loop_init, main
 * thread, before the loops run). */
void fetch_loop_init(worker *w);

/* Registers any other loop (a background service's): `state(owner)` is
 * asked on that loop whether it is still there for answers. While DRAINING
 * the reply handles stay open until nothing is outstanding; once GONE,
 * answers are dropped (their callbacks never run). Main thread, before
 * that loop runs and before the request loops do. */
typedef enum { FETCH_LOOP_LIVE, FETCH_LOOP_DRAINING, FETCH_LOOP_GONE } fetch_loop_status;
typedef fetch_loop_status (*fetch_loop_state)(void *owner);
void fetch_attach(app *a, uv_loop_t *loop, fetch_loop_state state, void *owner);
/* app->start_background / stop_background / join_background parts. */
int fetch_start(app *a);
void fetch_stop(app *a);
void fetch_join(app *a);

/* Queues rq (copied: the caller's memory may go at once; the body is wiped
 * after use since it may carry secrets). Callable from any registered loop's
 * thread. Returns 0, or -1 if reply_loop is not registered or memory ran
 * out (cb then is never called). */
int fetch_submit(app *a, const fetch_request *rq, fetch_cb cb, void *ud, uv_loop_t *reply_loop);

#endif
