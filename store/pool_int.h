/*
 * store-private: the parts of the per-loop pool (store.h) that its three
 * units share. pool.c owns the pool: the wait queue and its timeout, requests
 * failed from a zero timer, the outage flag, opening and closing, gauges.
 * conn.c drives one connection: connecting, backoff after a drop, prepared
 * statements, sending, collecting results, notifications. txn.c holds
 * transactions to one connection from BEGIN to COMMIT/ROLLBACK. Everything
 * here runs on the pool's loop thread only; a user callback never runs
 * inside a store_* call or in the middle of the pool's own state changes.
 */
#ifndef SHARK_STORE_POOL_INT_H
#define SHARK_STORE_POOL_INT_H

#include "store.h"

#include "batch.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum req_kind { REQ_QUERY, REQ_BEGIN, REQ_COMMIT, REQ_ROLLBACK, REQ_RESET, REQ_LISTEN };

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_IDLE, CONN_BUSY };
enum phase { PHASE_PREPARE, PHASE_EXEC };

typedef struct store_req store_req;
typedef struct store_conn store_conn;

struct store_req {
    store_req *next;
    enum req_kind kind;
    const store_stmt *stmt;
    store_txn *txn; /* BEGIN/COMMIT/ROLLBACK, and steps of a transaction */
    union {
        store_cb query;
        store_txn_cb begin;
        void (*commit)(void *ud, int err);
    } cb;
    void *ud;
    store_build_cb build; /* lazy query: fills params when a connection takes it */
    uint64_t deadline;    /* uv_now() after which a queued request fails */
    int err;              /* for requests parked on `failed` */
    const char *msg;
    int nparams;
    char *params[]; /* copies; the strings follow the array */
};

typedef struct {
    store_req *head, *tail;
    int len;
} req_list;

struct store_conn {
    store_pool *pool;
    PGconn *pg;
    uv_poll_t *poll; /* heap: replaced while connecting, freed on close */
    uv_timer_t retry;
    enum conn_state state;
    enum phase phase;
    bool flushing;  /* PQflush returned 1: also wait for writable */
    bool in_cb;     /* a user callback for `req` is running */
    store_req *req; /* in flight */
    PGresult *result;
    store_txn *txn;    /* reserving transaction, if any */
    uint8_t *prepared; /* bitmap of statement ids prepared here */
    size_t prepared_len;
    int backoff_ms;
};

struct store_txn {
    store_pool *pool;
    store_conn *conn; /* NULL once the connection is lost */
    req_list steps;   /* waiting for the connection */
    store_req *end;   /* COMMIT/ROLLBACK, allocated up front so ending never fails */
    bool broken;
};

struct store_pool {
    uv_loop_t *loop;
    char *conninfo;
    int size;
    int queue_timeout_ms;
    store_conn *conns;
    req_list queue;  /* waiting for an idle connection */
    req_list failed; /* completed with an error from `defer` */
    uv_timer_t queue_timer;
    uv_timer_t defer;
    token_batcher *batcher; /* store/batch.c, created on first use */
    /* No connection is up and the last attempt failed: the database is
     * known to be unreachable, so requests fail at once instead of waiting
     * out the queue timeout. Cleared when a connection is ready again. */
    bool outage;
    bool replica; /* a hot standby: no LISTEN (refused during recovery) */
    bool closing;
    int pending_closes;
    void (*done)(void *ud);
    void *done_ud;
};

static inline void list_push(req_list *l, store_req *r)
{
    r->next = NULL;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->len++;
}

static inline store_req *list_pop(req_list *l)
{
    store_req *r = l->head;
    if (r) {
        l->head = r->next;
        if (!l->head)
            l->tail = NULL;
        l->len--;
        r->next = NULL;
    }
    return r;
}

static inline void list_append(req_list *dst, req_list *src)
{
    store_req *r;
    while ((r = list_pop(src)))
        list_push(dst, r);
}

/* ---- pool.c ---- */

/* A request with copies of `params` (st->nparams of them; NULL allowed). */
store_req *store_req_new(enum req_kind kind, const store_stmt *st, const char *const *params);
/* Parks a request to fail with err/msg on the next loop iteration. */
void store_req_fail_later(store_pool *p, store_req *r, int err, const char *msg);
/* Runs r on an idle connection, queues it, or fails it later during an
 * outage; STORE_EUNAVAIL (r freed, no callback) when the queue is full. */
int store_pool_submit(store_pool *p, store_req *r);
/* Hands queued requests to idle connections. */
void store_pool_dispatch(store_pool *p);
/* Connections that are up (idle or busy). */
int store_pool_connected(const store_pool *p);
/* uv_close through the pool, which is freed once every handle it closed
 * has reported back through store_pool_handle_closed. */
void store_pool_close_handle(store_pool *p, uv_handle_t *h, uv_close_cb cb);
void store_pool_handle_closed(store_pool *p);

/* ---- conn.c ---- */

/* Starts opening c (DOWN -> CONNECTING); a failure schedules a retry. */
void store_conn_connect(store_conn *c);
/* Sends r on the idle (or transaction-held) connection c. */
void store_conn_start(store_conn *c, store_req *r);
/* Pool closing: fails c's request and transaction, closes its handles. */
void store_conn_close(store_conn *c);
/* Releases what libpq holds for c, once all of its handles are closed. */
void store_conn_free(store_conn *c);

/* ---- txn.c ---- */

void store_txn_free(store_txn *t);
/* The transaction's connection is gone: its waiting steps fail later. */
void store_txn_break(store_txn *t);

#endif
