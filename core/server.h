/*
 * server: the process. N loop threads, each with its own uv_loop, its own
 * SO_REUSEPORT listener and its own database pool; signals handled inside the
 * main loop (first SIGTERM/SIGINT drains, a second exits at once).
 */
#ifndef SHARK_CORE_SERVER_H
#define SHARK_CORE_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "connlimit.h"
#include "metrics.h"
#include "ratelimit.h"
#include "router.h"

struct store_pool;
struct ssl_ctx_st;
struct keyring;
struct worker;
struct outbound;
struct fetch;

/* Process-wide state; read-only once the loops run (except atomics inside
 * metrics and ratelimit). */
typedef struct app {
    config cfg;
    router *router;
    ratelimit *rl;
    connlimit *conns; /* open connections, in all and per address */
    metrics *metrics;
    struct ssl_ctx_st *tls; /* NULL without --tls-cert */
    char conninfo[1200];
    uint8_t master_key[32];
    char firstboot_key[96]; /* from <data-dir>/admin.key.firstboot, if present */
    struct keyring *keys;   /* signing keys (protocol/keys.h) */
    void (*loop_init)(struct worker *w); /* modules' per-loop set-up, before it runs */
    /* The process-wide background service outside the request loops
     * (core/outbound.h, webhook delivery), or NULL: started once the loops
     * exist (0 or -1), told at the first signal to stop (must not block),
     * joined after the loops have ended. */
    int (*start_background)(struct app *a);
    void (*stop_background)(struct app *a);
    void (*join_background)(struct app *a);
    struct outbound *outbound; /* owned by core/outbound.c */
    struct fetch *fetch;       /* outbound HTTP for handlers, owned by core/fetch.c */
    struct store_embed *embed; /* the supervised embedded cluster, or NULL (--db) */
    uint64_t start_ms;
} app;

typedef struct worker {
    app *app;
    int index;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t wake; /* main thread -> loop: begin shutdown */
    uv_timer_t tick; /* housekeeping: pool gauges, shutdown progress */
    struct store_pool *pool;
    uv_thread_t thread;
    int nconns;      /* open connections */
    int draining;    /* shutdown begun */
    uint64_t drain_deadline_ms;
    void *conns;     /* list head owned by http.c */
    uv_async_t *done; /* loop -> main thread: this loop has ended */
    _Atomic int ended;
} worker;

/* Runs until a signal and the drain complete. Returns 0 on a clean stop. */
int server_run(app *a);

/* Milliseconds on a monotonic clock. */
uint64_t server_now_ms(void);

#endif
