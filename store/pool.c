/*
 * The per-loop connection pool (see store.h). Every connection is a small
 * state machine driven by one uv_poll_t on its PQsocket:
 *
 *   DOWN --connect--> CONNECTING --PQconnectPoll ok--> IDLE <--> BUSY
 *     ^                   |                                       |
 *     +---- backoff <-----+--------- failure / dropped -----------+
 *
 * A request (store_req) is a query, a transaction's BEGIN/COMMIT/ROLLBACK or
 * an internal ROLLBACK that cleans a connection left inside a transaction.
 * Requests that fail without reaching the server (dropped connection, pool
 * closing) are parked on `failed` and completed from a zero timer, so a user
 * callback never runs inside store_exec or in the middle of our own state
 * changes. Memory a pending uv callback can touch (poll handles, the pool and
 * its connections) is only freed from uv_close callbacks.
 */
#include "store.h"

#include "batch.h"
#include "revoked.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_MAX 1024
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

enum req_kind { REQ_QUERY, REQ_BEGIN, REQ_COMMIT, REQ_ROLLBACK, REQ_RESET, REQ_LISTEN };

/* Every connection listens here; a trigger on oauth_clients notifies (see
 * store_clients_generation), and one on oauth_tokens (store/revoked.h). */
#define CLIENTS_CHANNEL "shark_clients"
#define LISTEN_SQL "LISTEN " CLIENTS_CHANNEL "; LISTEN " STORE_REVOKED_CHANNEL

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
    uint64_t deadline; /* uv_now() after which a queued request fails */
    int err;           /* for requests parked on `failed` */
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
    store_txn *txn; /* reserving transaction, if any */
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

static atomic_int next_stmt_id;
static _Atomic uint64_t clients_generation;

uint64_t store_clients_generation(void)
{
    return atomic_load_explicit(&clients_generation, memory_order_acquire);
}

static void clients_changed(void)
{
    atomic_fetch_add_explicit(&clients_generation, 1, memory_order_acq_rel);
}

static void conn_connect(store_conn *c);
static void conn_drop(store_conn *c);
static void conn_release(store_conn *c);
static void conn_start(store_conn *c, store_req *r);
static void pool_dispatch(store_pool *p);
static void on_defer(uv_timer_t *h);
static void pool_finish(store_pool *p);

static void txn_free(store_txn *t)
{
    free(t->end);
    free(t);
}

static void list_push(req_list *l, store_req *r)
{
    r->next = NULL;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->len++;
}

static store_req *list_pop(req_list *l)
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

static void list_append(req_list *dst, req_list *src)
{
    store_req *r;
    while ((r = list_pop(src)))
        list_push(dst, r);
}

/* Statements are shared by every loop's pool, so the id is claimed with a
 * compare-and-swap. The GCC/Clang __atomic builtins work on the plain int the
 * public struct exposes; the struct is passed const but is a writable static. */
static int stmt_id(const store_stmt *st)
{
    int *slot = (int *)&st->id;
    int id = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    int expected = 0;

    if (id > 0)
        return id;
    id = atomic_fetch_add(&next_stmt_id, 1) + 1;
    if (__atomic_compare_exchange_n(slot, &expected, id, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return id;
    return expected;
}

static bool conn_is_prepared(const store_conn *c, int id)
{
    size_t byte = (size_t)id / 8;
    return byte < c->prepared_len && (c->prepared[byte] & (1u << (id % 8)));
}

static int conn_mark_prepared(store_conn *c, int id)
{
    size_t byte = (size_t)id / 8;
    if (byte >= c->prepared_len) {
        size_t len = (byte + 1) * 2;
        uint8_t *bits = realloc(c->prepared, len);
        if (!bits)
            return -1;
        memset(bits + c->prepared_len, 0, len - c->prepared_len);
        c->prepared = bits;
        c->prepared_len = len;
    }
    c->prepared[byte] |= (uint8_t)(1u << (id % 8));
    return 0;
}

static store_req *req_new(enum req_kind kind, const store_stmt *st,
                          const char *const *params)
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
        txn_free(r->txn);
        break;
    case REQ_COMMIT:
        if (r->cb.commit)
            r->cb.commit(r->ud, r->err);
        txn_free(r->txn);
        break;
    case REQ_ROLLBACK:
        txn_free(r->txn);
        break;
    case REQ_RESET:
    case REQ_LISTEN:
        break;
    }
    free(r);
}

/* Parks a request to fail on the next loop iteration. */
static void req_fail_later(store_pool *p, store_req *r, int err, const char *msg)
{
    r->err = err;
    r->msg = msg;
    list_push(&p->failed, r);
    if (!p->closing)
        uv_timer_start(&p->defer, on_defer, 0, 0);
}

static void txn_break(store_txn *t)
{
    t->broken = true;
    t->conn = NULL;
    while (t->steps.head)
        req_fail_later(t->pool, list_pop(&t->steps), STORE_EUNAVAIL, "connection lost");
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

static void on_conn_handle_closed(uv_handle_t *h);

static void close_handle(store_pool *p, uv_handle_t *h, uv_close_cb cb)
{
    p->pending_closes++;
    uv_close(h, cb);
}

static void conn_close_poll(store_conn *c)
{
    if (c->poll) {
        close_handle(c->pool, (uv_handle_t *)c->poll, on_conn_handle_closed);
        c->poll = NULL;
    }
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Watches PQsocket for `events`. `fresh` replaces the handle: while
 * connecting libpq may close its socket and open another, possibly with the
 * same number, and a libuv watcher must never outlive its descriptor. */
static int conn_watch(store_conn *c, int events, bool fresh)
{
    int fd = PQsocket(c->pg);

    if (fd < 0)
        return -1;
    if (fresh)
        conn_close_poll(c);
    if (!c->poll) {
        c->poll = malloc(sizeof(*c->poll));
        if (!c->poll)
            return -1;
        if (uv_poll_init_socket(c->pool->loop, c->poll, fd) != 0) {
            free(c->poll);
            c->poll = NULL;
            return -1;
        }
        c->poll->data = c;
    }
    return uv_poll_start(c->poll, events, on_poll) == 0 ? 0 : -1;
}

static void on_retry(uv_timer_t *h)
{
    conn_connect(h->data);
}

static int pool_connected(const store_pool *p)
{
    int n = 0;
    for (int i = 0; i < p->size; i++)
        n += p->conns[i].state == CONN_IDLE || p->conns[i].state == CONN_BUSY;
    return n;
}

/* Fails whatever the connection was doing, closes it and schedules a
 * reconnect with exponential backoff. */
static void conn_drop(store_conn *c)
{
    store_pool *p = c->pool;

    if (c->req && !c->in_cb) {
        req_fail_later(p, c->req, STORE_EUNAVAIL, "database connection lost");
        c->req = NULL;
    }
    if (c->txn) {
        txn_break(c->txn);
        c->txn = NULL;
    }
    conn_close_poll(c);
    PQclear(c->result);
    c->result = NULL;
    PQfinish(c->pg);
    c->pg = NULL;
    c->prepared_len = 0;
    free(c->prepared);
    c->prepared = NULL;
    c->flushing = false;
    c->state = CONN_DOWN;
    /* Until the set is reloaded, revocations notified meanwhile may be lost
     * to this process (every connection may be down). */
    if (!p->replica)
        store_revoked_gap();
    if (p->closing)
        return;
    if (!p->outage && pool_connected(p) == 0) {
        p->outage = true;
        while (p->queue.head)
            req_fail_later(p, list_pop(&p->queue), STORE_EUNAVAIL, "database unavailable");
        uv_timer_stop(&p->queue_timer);
    }
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (c->backoff_ms > BACKOFF_MAX_MS)
        c->backoff_ms = BACKOFF_MAX_MS;
    uv_timer_start(&c->retry, on_retry, (uint64_t)c->backoff_ms, 0);
}

/* libpq prints notices and asynchronous errors (a terminated backend's
 * FATAL) to stderr by default; the pool reports failures through results. */
static void ignore_notice(void *arg, const char *message)
{
}

static void conn_connect(store_conn *c)
{
    c->pg = PQconnectStart(c->pool->conninfo);
    c->state = CONN_CONNECTING;
    if (c->pg)
        PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
    /* libpq's first step after PQconnectStart is to wait for writable. */
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD || conn_watch(c, UV_WRITABLE, true))
        conn_drop(c);
}

static void conn_connect_step(store_conn *c)
{
    store_req *r;

    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        if (conn_watch(c, UV_READABLE, true))
            goto fail;
        return;
    case PGRES_POLLING_WRITING:
        if (conn_watch(c, UV_WRITABLE, true))
            goto fail;
        return;
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(c->pg, 1) != 0 || conn_watch(c, UV_READABLE, false))
            goto fail;
        c->backoff_ms = 0;
        if (c->pool->replica) {
            c->pool->outage = false;
            conn_release(c);
            return;
        }
        if (!(r = req_new(REQ_LISTEN, NULL, NULL)))
            goto fail;
        conn_start(c, r); /* serves the queue once LISTEN is done */
        return;
    default:
        goto fail;
    }
fail:
    conn_drop(c);
}

/* Pushes buffered output; while some remains, also waits for writable. */
static int conn_flush(store_conn *c)
{
    int rc = PQflush(c->pg);

    if (rc < 0)
        goto fail;
    c->flushing = rc == 1;
    if (conn_watch(c, c->flushing ? UV_READABLE | UV_WRITABLE : UV_READABLE, false))
        goto fail;
    return 0;
fail:
    conn_drop(c);
    return -1;
}

static int conn_send(store_conn *c)
{
    store_req *r = c->req;
    const char *sql = NULL;
    char name[24];
    int id, ok;

    switch (r->kind) {
    case REQ_BEGIN:
        sql = "BEGIN";
        break;
    case REQ_COMMIT:
        sql = "COMMIT";
        break;
    case REQ_ROLLBACK:
    case REQ_RESET:
        sql = "ROLLBACK";
        break;
    case REQ_LISTEN:
        sql = LISTEN_SQL;
        break;
    case REQ_QUERY:
        break;
    }
    if (sql) {
        ok = PQsendQuery(c->pg, sql);
    } else {
        id = stmt_id(r->stmt);
        snprintf(name, sizeof(name), "s%d", id);
        if (conn_is_prepared(c, id)) {
            c->phase = PHASE_EXEC;
            ok = PQsendQueryPrepared(c->pg, name, r->nparams,
                                     (const char *const *)r->params, NULL, NULL, 0);
        } else {
            c->phase = PHASE_PREPARE;
            ok = PQsendPrepare(c->pg, name, r->stmt->sql, r->nparams, NULL);
        }
    }
    if (!ok) {
        conn_drop(c);
        return -1;
    }
    return conn_flush(c);
}

static void conn_start(store_conn *c, store_req *r)
{
    c->state = CONN_BUSY;
    c->req = r;
    if (r->build) {
        r->build(r->ud, (const char **)r->params);
        r->build = NULL;
    }
    conn_send(c);
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Maps a finished command to a STORE_* code and a message for logs. */
static int map_result(PGconn *pg, const PGresult *res, const char **msg)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    const char *state;

    *msg = "";
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return STORE_OK;
    *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(pg);
    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(pg) == CONNECTION_BAD)
        return STORE_EUNAVAIL;
    if (!state)
        return res ? STORE_EINTERNAL : STORE_EUNAVAIL;
    if (!strcmp(state, "23505") || !strcmp(state, "23P01"))
        return STORE_ECONFLICT;
    if (has_prefix(state, "22") || has_prefix(state, "23"))
        return STORE_EINVALID;
    /* connection exception, server shutting down, too many connections */
    if (has_prefix(state, "08") || has_prefix(state, "57P") || has_prefix(state, "53"))
        return STORE_EUNAVAIL;
    return STORE_EINTERNAL;
}

/* Notifications parsed so far. A transaction that changed oauth_clients or
 * revoked tokens on this connection gets its own notifications before its
 * ReadyForQuery, so the generation has moved, and the revoked set holds the
 * jtis, before the caller's callback runs. */
static void conn_notifies(store_conn *c)
{
    PGnotify *n;

    while ((n = PQnotifies(c->pg))) {
        if (strcmp(n->relname, CLIENTS_CHANNEL) == 0)
            clients_changed();
        else if (strcmp(n->relname, STORE_REVOKED_CHANNEL) == 0)
            store_revoked_notified(n->extra);
        PQfreemem(n);
    }
}

/* The request's last result has arrived (PQgetResult returned NULL). */
static void conn_complete(store_conn *c)
{
    store_pool *p = c->pool;
    store_req *r = c->req;
    PGresult *res = c->result;
    store_txn *txn = r->txn;
    const char *msg;
    int err = map_result(c->pg, res, &msg);

    conn_notifies(c);
    c->result = NULL;
    if (r->kind == REQ_LISTEN && err != STORE_OK) {
        /* A connection that cannot listen would miss invalidations. */
        c->req = NULL;
        PQclear(res);
        free(r);
        conn_drop(c);
        return;
    }
    if (r->kind == REQ_QUERY && c->phase == PHASE_PREPARE && err == STORE_OK) {
        PQclear(res);
        if (conn_mark_prepared(c, stmt_id(r->stmt)) != 0) {
            c->req = NULL;
            req_fail_later(p, r, STORE_EINTERNAL, "out of memory");
            conn_release(c);
            return;
        }
        conn_send(c);
        return;
    }
    if (r->kind == REQ_COMMIT && err == STORE_OK && !strcmp(PQcmdStatus(res), "ROLLBACK")) {
        err = STORE_EINTERNAL;
        msg = "transaction was aborted and rolled back";
    }
    if (r->kind == REQ_BEGIN && err == STORE_OK) {
        c->txn = txn;
        txn->conn = c;
    } else if (r->kind == REQ_COMMIT || r->kind == REQ_ROLLBACK) {
        c->txn = NULL;
        txn->conn = NULL;
    }

    /* The request stays attached while its callback runs so that anything
     * the callback submits queues behind it instead of reusing `c`. */
    c->in_cb = true;
    switch (r->kind) {
    case REQ_QUERY:
        r->cb.query(r->ud, err == STORE_OK ? res : NULL, err, msg);
        break;
    case REQ_BEGIN:
        r->cb.begin(r->ud, err == STORE_OK ? txn : NULL, err);
        if (err != STORE_OK)
            txn_free(txn);
        break;
    case REQ_COMMIT:
    case REQ_ROLLBACK:
        if (r->kind == REQ_COMMIT && r->cb.commit)
            r->cb.commit(r->ud, err);
        while (txn->steps.head)
            req_fail_later(p, list_pop(&txn->steps), STORE_EUNAVAIL, "transaction ended");
        txn_free(txn);
        break;
    case REQ_RESET:
        break;
    case REQ_LISTEN:
        /* Changes made while this connection was not listening were missed. */
        p->outage = false;
        clients_changed();
        store_revoked_gap();
        break;
    }
    c->in_cb = false;
    c->req = NULL;
    PQclear(res);
    free(r);
    if (p->closing)
        return;
    conn_release(c);
}

/* The connection finished a request: serve its transaction, clean it, or
 * hand it to the next queued request. */
static void conn_release(store_conn *c)
{
    PGTransactionStatusType ts;
    store_req *r;

    if (PQstatus(c->pg) != CONNECTION_OK)
        goto drop;
    if (c->txn) {
        if ((r = list_pop(&c->txn->steps)))
            conn_start(c, r);
        return;
    }
    ts = PQtransactionStatus(c->pg);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
        if (!(r = req_new(REQ_RESET, NULL, NULL)))
            goto drop;
        conn_start(c, r);
        return;
    }
    if (ts != PQTRANS_IDLE)
        goto drop;
    c->state = CONN_IDLE;
    pool_dispatch(c->pool);
    return;
drop:
    conn_drop(c);
}

/* Reads every result that is complete; libpq reports a lost connection as
 * an error result followed by NULL. */
static void conn_collect(store_conn *c)
{
    while (!PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (!res) {
            conn_complete(c);
            return;
        }
        /* Keep the first error, otherwise the last result. */
        if (c->result && PQresultStatus(c->result) == PGRES_FATAL_ERROR)
            PQclear(res);
        else {
            PQclear(c->result);
            c->result = res;
        }
    }
    if (PQstatus(c->pg) == CONNECTION_BAD)
        conn_drop(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    store_conn *c = h->data;

    if (c->state == CONN_CONNECTING) {
        conn_connect_step(c);
        return;
    }
    if (status < 0)
        goto drop;
    if (c->flushing && conn_flush(c) != 0)
        return;
    if (events & UV_READABLE) {
        if (!PQconsumeInput(c->pg) && !c->req)
            goto drop;
        conn_notifies(c);
    }
    if (c->req) {
        conn_collect(c);
        return;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD)
        goto drop;
    return;
drop:
    conn_drop(c);
}

static store_conn *pool_idle_conn(store_pool *p)
{
    for (int i = 0; i < p->size; i++)
        if (p->conns[i].state == CONN_IDLE)
            return &p->conns[i];
    return NULL;
}

static void pool_dispatch(store_pool *p)
{
    store_conn *c;

    while (p->queue.head && (c = pool_idle_conn(p)))
        conn_start(c, list_pop(&p->queue));
    if (!p->queue.head)
        uv_timer_stop(&p->queue_timer);
}

/* Runs `r` on an idle connection, or queues it. */
static int pool_submit(store_pool *p, store_req *r)
{
    store_conn *c = pool_idle_conn(p);
    uint64_t tick;

    if (c) {
        conn_start(c, r);
        return 0;
    }
    if (p->outage) {
        req_fail_later(p, r, STORE_EUNAVAIL, "database unavailable");
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
        conn_connect(&p->conns[i]);
    return p;
fail:
    if (p) {
        free(p->conninfo);
        free(p->conns);
    }
    free(p);
    return NULL;
}

store_pool *store_pool_new(uv_loop_t *loop, const char *conninfo, int size,
                           int queue_timeout_ms)
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

int store_exec(store_pool *p, const store_stmt *stmt, const char *const *params,
               store_cb cb, void *ud)
{
    store_req *r;

    if (p->closing || !(r = req_new(REQ_QUERY, stmt, params)))
        return STORE_EUNAVAIL;
    r->cb.query = cb;
    r->ud = ud;
    return pool_submit(p, r);
}

int store_exec_lazy(store_pool *p, const store_stmt *stmt, store_build_cb build, store_cb cb,
                    void *ud)
{
    store_req *r;

    if (p->closing || !(r = req_new(REQ_QUERY, stmt, NULL)))
        return STORE_EUNAVAIL;
    r->build = build;
    r->cb.query = cb;
    r->ud = ud;
    return pool_submit(p, r);
}

int store_txn_begin(store_pool *p, store_txn_cb cb, void *ud)
{
    store_txn *t = NULL;
    store_req *r = NULL;

    if (p->closing)
        goto fail;
    t = calloc(1, sizeof(*t));
    r = req_new(REQ_BEGIN, NULL, NULL);
    if (!t || !r || !(t->end = req_new(REQ_ROLLBACK, NULL, NULL)))
        goto fail;
    t->pool = p;
    r->txn = t;
    r->cb.begin = cb;
    r->ud = ud;
    if (pool_submit(p, r) != 0) {
        txn_free(t);
        return STORE_EUNAVAIL;
    }
    return 0;
fail:
    if (t)
        txn_free(t);
    free(r);
    return STORE_EUNAVAIL;
}

/* Runs or queues a request on the transaction's connection; fails it on the
 * next iteration if that connection is gone. */
static void txn_submit(store_txn *t, store_req *r)
{
    store_conn *c = t->conn;

    r->txn = t;
    if (t->broken || !c) {
        req_fail_later(t->pool, r, STORE_EUNAVAIL, "database connection lost");
        return;
    }
    list_push(&t->steps, r);
    if (!c->req)
        conn_start(c, list_pop(&t->steps));
}

int store_txn_exec(store_txn *txn, const store_stmt *stmt, const char *const *params,
                   store_cb cb, void *ud)
{
    store_req *r = req_new(REQ_QUERY, stmt, params);

    if (!r)
        return STORE_EUNAVAIL;
    r->cb.query = cb;
    r->ud = ud;
    txn_submit(txn, r);
    return 0;
}

static void txn_end(store_txn *txn, enum req_kind kind, void (*cb)(void *ud, int err),
                    void *ud)
{
    store_req *r = txn->end;

    /* Ending twice is a caller bug; the first end owns the transaction. */
    if (!r)
        return;
    txn->end = NULL;
    r->kind = kind;
    r->cb.commit = cb;
    r->ud = ud;
    txn_submit(txn, r);
}

void store_txn_commit(store_txn *txn, void (*cb)(void *ud, int err), void *ud)
{
    txn_end(txn, REQ_COMMIT, cb, ud);
}

void store_txn_rollback(store_txn *txn)
{
    txn_end(txn, REQ_ROLLBACK, NULL, NULL);
}

/* Every handle is closed: fail what is left, release libpq, and finish. */
static void pool_finish(store_pool *p)
{
    store_req *r;

    while ((r = list_pop(&p->failed)))
        req_fail_now(r);
    for (int i = 0; i < p->size; i++) {
        PQclear(p->conns[i].result);
        PQfinish(p->conns[i].pg);
        free(p->conns[i].prepared);
    }
    token_batcher_free(p->batcher);
    if (p->done)
        p->done(p->done_ud);
    free(p->conns);
    free(p->conninfo);
    free(p);
}

static void pool_closed_one(store_pool *p)
{
    if (--p->pending_closes == 0 && p->closing)
        pool_finish(p);
}

/* Poll handles and retry timers carry their connection; poll handles are
 * heap-allocated and die here. */
static void on_conn_handle_closed(uv_handle_t *h)
{
    store_pool *p = ((store_conn *)h->data)->pool;

    if (h->type == UV_POLL)
        free(h);
    pool_closed_one(p);
}

static void on_pool_handle_closed(uv_handle_t *h)
{
    pool_closed_one(h->data);
}

void store_pool_close(store_pool *p, void (*done)(void *ud), void *ud)
{
    if (p->closing)
        return;
    p->closing = true;
    p->done = done;
    p->done_ud = ud;
    while (p->queue.head)
        req_fail_later(p, list_pop(&p->queue), STORE_EUNAVAIL, "pool closing");
    for (int i = 0; i < p->size; i++) {
        store_conn *c = &p->conns[i];
        if (c->req && !c->in_cb) {
            req_fail_later(p, c->req, STORE_EUNAVAIL, "pool closing");
            c->req = NULL;
        }
        if (c->txn) {
            txn_break(c->txn);
            c->txn = NULL;
        }
        conn_close_poll(c);
        close_handle(p, (uv_handle_t *)&c->retry, on_conn_handle_closed);
        c->state = CONN_DOWN;
    }
    close_handle(p, (uv_handle_t *)&p->queue_timer, on_pool_handle_closed);
    close_handle(p, (uv_handle_t *)&p->defer, on_pool_handle_closed);
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
