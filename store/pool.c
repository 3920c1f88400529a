/*
 * The per-loop pool (store.h, pool_int.h): requests, the bounded wait queue
 * and its timeout, the outage flag, opening and closing, gauges. A request
 * (store_req) is a query, a transaction's BEGIN/COMMIT/ROLLBACK or an
 * internal ROLLBACK (or LISTEN) of a connection. Requests that fail without
 * reaching the server (dropped connection, outage, pool closing) are parked
 * on `failed` and completed from a zero timer, so a user callback never runs
 * inside store_exec or in the middle of our own state changes. The pool and
 * its connections are only freed once every handle has been closed.
 */
#include "pool_int.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_MAX 1024

static void on_defer(uv_timer_t *h);
static void pool_finish(store_pool *p);

store_req *store_req_new(enum req_kind kind, const store_stmt *st, const char *const *params)
{
    int n = st ? st->nparams : 0;
    size_t bytes = sizeof(store_req) + (size_t)n * sizeof(char *);
    store_req *r;
    char *s;

    for (int i = 0; i < n; i++)
        if (params && params[i])
            bytes += strlen(params[i]) + 1;
    r = calloc(1, bytes);
    if (!r)
        return NULL;
    r->kind = kind;
    r->stmt = st;
    r->nparams = n;
    s = (char *)&r->params[n];
    for (int i = 0; i < n; i++) {
        if (params && params[i]) {
            size_t len = strlen(params[i]) + 1;
            memcpy(s, params[i], len);
            r->params[i] = s;
            s += len;
        }
    }
    return r;
}

/* Calls the request's callback with an error (or, for the internal reset, no
 * one), frees it, and frees the transaction a failed BEGIN/COMMIT/ROLLBACK
 * ends. */
static void req_fail_now(store_req *r)
{
    switch (r->kind) {
    case REQ_QUERY:
        r->cb.query(r->ud, NULL, r->err, r->msg);
        break;
    case REQ_BEGIN:
        r->cb.begin(r->ud, NULL, r->err);
        store_txn_free(r->txn);
        break;
    case REQ_COMMIT:
        if (r->cb.commit)
            r->cb.commit(r->ud, r->err);
        store_txn_free(r->txn);
        break;
    case REQ_ROLLBACK:
        store_txn_free(r->txn);
        break;
    case REQ_RESET:
    case REQ_LISTEN:
        break;
    }
    free(r);
}

/* Parks a request to fail on the next loop iteration. */
void store_req_fail_later(store_pool *p, store_req *r, int err, const char *msg)
{
    r->err = err;
    r->msg = msg;
    list_push(&p->failed, r);
    if (!p->closing)
        uv_timer_start(&p->defer, on_defer, 0, 0);
}

static void on_defer(uv_timer_t *h)
{
    store_pool *p = h->data;
    req_list batch = p->failed;
    store_req *r;

    /* Only what is parked now: callbacks that park more rearm the timer. */
    memset(&p->failed, 0, sizeof(p->failed));
    while ((r = list_pop(&batch))) {
        req_fail_now(r);
        if (p->closing) {
            list_append(&batch, &p->failed);
            p->failed = batch;
            return;
        }
    }
}

static void on_queue_timer(uv_timer_t *h)
{
    store_pool *p = h->data;
    uint64_t now = uv_now(p->loop);

    while (p->queue.head && p->queue.head->deadline <= now) {
        store_req *r = list_pop(&p->queue);
        r->err = STORE_EUNAVAIL;
        r->msg = "timed out waiting for a database connection";
        req_fail_now(r);
        if (p->closing)
            return;
    }
    if (!p->queue.head)
        uv_timer_stop(&p->queue_timer);
}

void store_pool_close_handle(store_pool *p, uv_handle_t *h, uv_close_cb cb)
{
    p->pending_closes++;
    uv_close(h, cb);
}

int store_pool_connected(const store_pool *p)
{
    int n = 0;
    for (int i = 0; i < p->size; i++)
        n += p->conns[i].state == CONN_IDLE || p->conns[i].state == CONN_BUSY;
    return n;
}

static store_conn *pool_idle_conn(store_pool *p)
{
    for (int i = 0; i < p->size; i++)
        if (p->conns[i].state == CONN_IDLE)
            return &p->conns[i];
    return NULL;
}

void store_pool_dispatch(store_pool *p)
{
    store_conn *c;

    while (p->queue.head && (c = pool_idle_conn(p)))
        store_conn_start(c, list_pop(&p->queue));
    if (!p->queue.head)
        uv_timer_stop(&p->queue_timer);
}

/* Runs `r` on an idle connection, or queues it. */
int store_pool_submit(store_pool *p, store_req *r)
{
    store_conn *c = pool_idle_conn(p);
    uint64_t tick;

    if (c) {
        store_conn_start(c, r);
        return 0;
    }
    if (p->outage) {
        store_req_fail_later(p, r, STORE_EUNAVAIL, "database unavailable");
        return 0;
    }
    if (p->queue.len >= QUEUE_MAX) {
        free(r);
        return STORE_EUNAVAIL;
    }
    r->deadline = uv_now(p->loop) + (uint64_t)p->queue_timeout_ms;
    list_push(&p->queue, r);
    if (!uv_is_active((uv_handle_t *)&p->queue_timer)) {
        tick = (uint64_t)p->queue_timeout_ms / 4;
        tick = tick < 10 ? 10 : tick > 100 ? 100 : tick;
        uv_timer_start(&p->queue_timer, on_queue_timer, tick, tick);
    }
    return 0;
}

static store_pool *pool_create(uv_loop_t *loop, const char *conninfo, int size,
                               int queue_timeout_ms, bool replica)
{
    store_pool *p = calloc(1, sizeof(*p));

    if (!p || size <= 0)
        goto fail;
    p->loop = loop;
    p->replica = replica;
    p->size = size;
    p->queue_timeout_ms = queue_timeout_ms > 0 ? queue_timeout_ms : 1000;
    p->conninfo = strdup(conninfo);
    p->conns = calloc((size_t)size, sizeof(*p->conns));
    if (!p->conninfo || !p->conns)
        goto fail;
    uv_timer_init(loop, &p->queue_timer);
    uv_timer_init(loop, &p->defer);
    p->queue_timer.data = p;
    p->defer.data = p;
    for (int i = 0; i < size; i++) {
        store_conn *c = &p->conns[i];
        c->pool = p;
        uv_timer_init(loop, &c->retry);
        c->retry.data = c;
    }
    for (int i = 0; i < size; i++)
        store_conn_connect(&p->conns[i]);
    return p;
fail:
    if (p) {
        free(p->conninfo);
        free(p->conns);
    }
    free(p);
    return NULL;
}

store_pool *store_pool_new(uv_loop_t *loop, const char *conninfo, int size, int queue_timeout_ms)
{
    return pool_create(loop, conninfo, size, queue_timeout_ms, false);
}

store_pool *store_pool_new_replica(uv_loop_t *loop, const char *conninfo, int size,
                                   int queue_timeout_ms)
{
    return pool_create(loop, conninfo, size, queue_timeout_ms, true);
}

bool store_pool_outage(const store_pool *p)
{
    return p->outage;
}

int store_exec(store_pool *p, const store_stmt *stmt, const char *const *params, store_cb cb,
               void *ud)
{
    store_req *r;

    if (p->closing || !(r = store_req_new(REQ_QUERY, stmt, params)))
        return STORE_EUNAVAIL;
    r->cb.query = cb;
    r->ud = ud;
    return store_pool_submit(p, r);
}

int store_exec_lazy(store_pool *p, const store_stmt *stmt, store_build_cb build, store_cb cb,
                    void *ud)
{
    store_req *r;

    if (p->closing || !(r = store_req_new(REQ_QUERY, stmt, NULL)))
        return STORE_EUNAVAIL;
    r->build = build;
    r->cb.query = cb;
    r->ud = ud;
    return store_pool_submit(p, r);
}

/* Every handle is closed: fail what is left, release libpq, and finish. */
static void pool_finish(store_pool *p)
{
    store_req *r;

    while ((r = list_pop(&p->failed)))
        req_fail_now(r);
    for (int i = 0; i < p->size; i++)
        store_conn_free(&p->conns[i]);
    token_batcher_free(p->batcher);
    if (p->done)
        p->done(p->done_ud);
    free(p->conns);
    free(p->conninfo);
    free(p);
}

void store_pool_handle_closed(store_pool *p)
{
    if (--p->pending_closes == 0 && p->closing)
        pool_finish(p);
}

static void on_pool_handle_closed(uv_handle_t *h)
{
    store_pool_handle_closed(h->data);
}

void store_pool_close(store_pool *p, void (*done)(void *ud), void *ud)
{
    if (p->closing)
        return;
    p->closing = true;
    p->done = done;
    p->done_ud = ud;
    while (p->queue.head)
        store_req_fail_later(p, list_pop(&p->queue), STORE_EUNAVAIL, "pool closing");
    for (int i = 0; i < p->size; i++)
        store_conn_close(&p->conns[i]);
    store_pool_close_handle(p, (uv_handle_t *)&p->queue_timer, on_pool_handle_closed);
    store_pool_close_handle(p, (uv_handle_t *)&p->defer, on_pool_handle_closed);
}

token_batcher **store_pool_batcher(store_pool *p)
{
    return &p->batcher;
}

void store_pool_stats_get(const store_pool *p, store_pool_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->size = p->size;
    out->queued = p->queue.len;
    out->outage = p->outage;
    for (int i = 0; i < p->size; i++) {
        if (p->conns[i].state == CONN_IDLE)
            out->idle++;
        else if (p->conns[i].state == CONN_BUSY)
            out->in_use++;
    }
    out->connected = out->idle + out->in_use;
}
