/*
 * store/batch: issued-token writes, batched per pool. store_token_issue
 * (oauth.h) is the public entry point; this header is the pool's side.
 *
 * Every record queued while no connection has taken the pool's current batch
 * joins it; a connection that takes the batch writes all of its records with
 * one statement (arrays + unnest), one transaction. One batch of a pool is
 * out at a time; records arriving meanwhile gather in the next one, which
 * goes out when it ends. When idle a record goes out at once,
 * since the batch is submitted as soon as its first record arrives and an idle
 * connection takes it immediately. Nothing ever waits on a timer.
 *
 * Per record the statement writes, as store_token_issue always did: the DPoP
 * replay row (when replay_key is set), the token row and its audit event, all
 * or none. A replay key already recorded, or used by an earlier record of the
 * same batch, fails only that record (`issued` 0, nothing written for it). A
 * statement PostgreSQL refuses for its data is retried one record at a time,
 * so a record it cannot store fails alone.
 */
#ifndef SHARK_STORE_BATCH_H
#define SHARK_STORE_BATCH_H

#include "oauth.h"
#include "store.h"

typedef struct token_batcher token_batcher;

/* The pool's batcher slot (pool.c); the pool frees the batcher when it is
 * freed, after every query, and so every batch, has completed. */
token_batcher **store_pool_batcher(store_pool *p);
void token_batcher_free(token_batcher *b);

#endif
