/*
 * Transactions (store.h): a transaction holds one connection from its BEGIN
 * until COMMIT or ROLLBACK. Its steps queue on the transaction and run one at
 * a time on that connection; the ending request is allocated with the
 * transaction so ending it never fails. A lost connection breaks the
 * transaction: its waiting and later steps fail with STORE_EUNAVAIL.
 */
#include "pool_int.h"

#include <stdbool.h>
#include <stdlib.h>

void store_txn_free(store_txn *t)
{
    free(t->end);
    free(t);
}

void store_txn_break(store_txn *t)
{
    t->broken = true;
    t->conn = NULL;
    while (t->steps.head)
        store_req_fail_later(t->pool, list_pop(&t->steps), STORE_EUNAVAIL, "connection lost");
}

int store_txn_begin(store_pool *p, store_txn_cb cb, void *ud)
{
    store_txn *t = NULL;
    store_req *r = NULL;

    if (p->closing)
        goto fail;
    t = calloc(1, sizeof(*t));
    r = store_req_new(REQ_BEGIN, NULL, NULL);
    if (!t || !r || !(t->end = store_req_new(REQ_ROLLBACK, NULL, NULL)))
        goto fail;
    t->pool = p;
    r->txn = t;
    r->cb.begin = cb;
    r->ud = ud;
    if (store_pool_submit(p, r) != 0) {
        store_txn_free(t);
        return STORE_EUNAVAIL;
    }
    return 0;
fail:
    if (t)
        store_txn_free(t);
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
        store_req_fail_later(t->pool, r, STORE_EUNAVAIL, "database connection lost");
        return;
    }
    list_push(&t->steps, r);
    if (!c->req)
        store_conn_start(c, list_pop(&t->steps));
}

int store_txn_exec(store_txn *txn, const store_stmt *stmt, const char *const *params, store_cb cb,
                   void *ud)
{
    store_req *r = store_req_new(REQ_QUERY, stmt, params);

    if (!r)
        return STORE_EUNAVAIL;
    r->cb.query = cb;
    r->ud = ud;
    txn_submit(txn, r);
    return 0;
}

static void txn_end(store_txn *txn, enum req_kind kind, void (*cb)(void *ud, int err), void *ud)
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
