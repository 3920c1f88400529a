/*
 * One connection of the pool (pool_int.h). Each is a small state machine
 * driven by one uv_poll_t on its PQsocket:
 *
 *   DOWN --connect--> CONNECTING --PQconnectPoll ok--> IDLE <--> BUSY
 *     ^                   |                                       |
 *     +---- backoff <-----+--------- failure / dropped -----------+
 *
 * Statements are prepared on a connection the first time it runs them. A
 * connection of the primary LISTENs for the invalidation channels before it
 * serves anything. Memory a pending uv callback can touch (the poll handles)
 * is only freed from uv_close callbacks.
 */
#include "pool_int.h"

#include "revoked.h"

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

/* Every connection listens here; a trigger on oauth_clients notifies (see
 * store_clients_generation), and one on oauth_tokens (store/revoked.h). */
#define CLIENTS_CHANNEL "shark_clients"
#define LISTEN_SQL "LISTEN " CLIENTS_CHANNEL "; LISTEN " STORE_REVOKED_CHANNEL

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
    if (__atomic_compare_exchange_n(slot, &expected, id, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
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

static void conn_drop(store_conn *c);
static void conn_release(store_conn *c);

/* Poll handles and retry timers carry their connection; poll handles are
 * heap-allocated and die here. */
static void on_conn_handle_closed(uv_handle_t *h)
{
    store_pool *p = ((store_conn *)h->data)->pool;

    if (h->type == UV_POLL)
        free(h);
    store_pool_handle_closed(p);
}

static void conn_close_poll(store_conn *c)
{
    if (c->poll) {
        store_pool_close_handle(c->pool, (uv_handle_t *)c->poll, on_conn_handle_closed);
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
    store_conn_connect(h->data);
}

/* Fails whatever the connection was doing, closes it and schedules a
 * reconnect with exponential backoff. */
static void conn_drop(store_conn *c)
{
    store_pool *p = c->pool;

    if (c->req && !c->in_cb) {
        store_req_fail_later(p, c->req, STORE_EUNAVAIL, "database connection lost");
        c->req = NULL;
    }
    if (c->txn) {
        store_txn_break(c->txn);
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
    if (!p->outage && store_pool_connected(p) == 0) {
        p->outage = true;
        while (p->queue.head)
            store_req_fail_later(p, list_pop(&p->queue), STORE_EUNAVAIL, "database unavailable");
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

void store_conn_connect(store_conn *c)
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
        if (!(r = store_req_new(REQ_LISTEN, NULL, NULL)))
            goto fail;
        store_conn_start(c, r); /* serves the queue once LISTEN is done */
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
            ok = PQsendQueryPrepared(c->pg, name, r->nparams, (const char *const *)r->params, NULL,
                                     NULL, 0);
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

void store_conn_start(store_conn *c, store_req *r)
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
            store_req_fail_later(p, r, STORE_EINTERNAL, "out of memory");
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
            store_txn_free(txn);
        break;
    case REQ_COMMIT:
    case REQ_ROLLBACK:
        if (r->kind == REQ_COMMIT && r->cb.commit)
            r->cb.commit(r->ud, err);
        while (txn->steps.head)
            store_req_fail_later(p, list_pop(&txn->steps), STORE_EUNAVAIL, "transaction ended");
        store_txn_free(txn);
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
            store_conn_start(c, r);
        return;
    }
    ts = PQtransactionStatus(c->pg);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
        if (!(r = store_req_new(REQ_RESET, NULL, NULL)))
            goto drop;
        store_conn_start(c, r);
        return;
    }
    if (ts != PQTRANS_IDLE)
        goto drop;
    c->state = CONN_IDLE;
    store_pool_dispatch(c->pool);
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

void store_conn_close(store_conn *c)
{
    if (c->req && !c->in_cb) {
        store_req_fail_later(c->pool, c->req, STORE_EUNAVAIL, "pool closing");
        c->req = NULL;
    }
    if (c->txn) {
        store_txn_break(c->txn);
        c->txn = NULL;
    }
    conn_close_poll(c);
    store_pool_close_handle(c->pool, (uv_handle_t *)&c->retry, on_conn_handle_closed);
    c->state = CONN_DOWN;
}

void store_conn_free(store_conn *c)
{
    PQclear(c->result);
    PQfinish(c->pg);
    free(c->prepared);
}
