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
#include "loop.h"
#include "connlimit.h"
#include "metrics.h"
#include "ratelimit.h"
#include "router.h"

struct store_pool;
struct ssl_ctx_st;
struct keyring;
struct worker;
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
    /* The modules' per-loop state, supplied by the composition root (app/):
     * loop_init before the loop runs (0 or -1), loop_tick on the loop's
     * housekeeping timer, loop_close once the loop has drained (asynchronous:
     * calls done(w) on the loop when everything it opened is closed). */
    int (*loop_init)(struct worker *w);
    void (*loop_tick)(struct worker *w);
    void (*loop_close)(struct worker *w, void (*done)(struct worker *w));
    /* The process-wide background services outside the request loops
     * (the outbound HTTP service, webhook delivery), or NULL: started once the loops
     * exist (0 or -1), told at the first signal to stop (must not block),
     * joined after the loops have ended. */
    int (*start_background)(struct app *a);
    void (*stop_background)(struct app *a);
    void (*join_background)(struct app *a);
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
    struct store_pool *pool; /* set by app->loop_init; NULL once loop_close ran */
    loop_ctx ctx;            /* the modules' caches (core/loop.h) */
    struct store_pool *read_pool; /* --db-read replica, or NULL; closed with pool */
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
