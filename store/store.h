/*
 * store: the only place with SQL. A per-loop pool of asynchronous libpq
 * connections driven by uv_poll on PQsocket, prepared statements, a
 * transaction helper, and start-up work (migrations) that runs before any
 * loop serves requests.
 *
 * Threading: a store_pool belongs to one uv_loop and must only be used from
 * that loop's thread. Connections are opened without blocking
 * (PQconnectStart/PQconnectPoll); a dropped connection is reopened with
 * backoff, and any query in flight on it, or waiting longer than the queue
 * timeout, completes with an error instead of hanging. While no connection
 * is up and the last attempt to open one failed (a known outage), queries
 * fail at once with STORE_EUNAVAIL instead of waiting for the timeout.
 */
#ifndef SHARK_STORE_H
#define SHARK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* A statement prepared lazily on each connection the first time it is used.
 * Define these as file-level statics next to the code that runs them; the
 * pool assigns `id` on first use (leave it 0). */
typedef struct store_stmt {
    const char *name; /* unique, e.g. "audit_list" */
    const char *sql;  /* $1..$n parameters, text format */
    int nparams;
    int id; /* set by the pool; never touch */
} store_stmt;

/* libpq's result, by the name libpq-fe.h gives it (C11 allows the same
 * typedef twice), so that including this header does not pull libpq in:
 * code outside store/ reads results through typed rows (rows.h). */
typedef struct pg_result PGresult;

typedef struct store_pool store_pool;
typedef struct store_txn store_txn;

/* Outcome of a query. `res` is a PGRES_TUPLES_OK or PGRES_COMMAND_OK result,
 * valid only during the callback (the pool clears it afterwards); on failure
 * res is NULL and `err` says why:
 *   STORE_EUNAVAIL  no connection could be had or it dropped (callers answer 503)
 *   STORE_ECONFLICT unique/exclusion violation (SQLSTATE 23505 / 23P01)
 *   STORE_EINVALID  other data errors (22xxx, 23xxx: bad input that reached SQL)
 *   STORE_EINTERNAL anything else
 * `msg` is PostgreSQL's message for logs (never for clients). */
enum {
    STORE_OK = 0,
    STORE_EUNAVAIL = -1,
    STORE_ECONFLICT = -2,
    STORE_EINVALID = -3,
    STORE_EINTERNAL = -4,
};
typedef void (*store_cb)(void *ud, PGresult *res, int err, const char *msg);

/* Creates a pool of `size` connections for `conninfo` on `loop`. Connections
 * open in the background; the pool is usable at once (queries wait in a
 * bounded queue for up to `queue_timeout_ms`). NULL on allocation failure. */
store_pool *store_pool_new(uv_loop_t *loop, const char *conninfo, int size, int queue_timeout_ms);
/* The same for a read replica (a hot standby, --db-read): its connections
 * do not LISTEN (a standby refuses it), so it carries no invalidations and
 * must only serve reads that may be stale (listings, audit), never token,
 * client or revocation checks. */
store_pool *store_pool_new_replica(uv_loop_t *loop, const char *conninfo, int size,
                                   int queue_timeout_ms);
/* True during a known outage (no connection up, the last attempt failed). */
bool store_pool_outage(const store_pool *p);

/* Starts closing: queued and in-flight queries fail with STORE_EUNAVAIL, then
 * every handle is closed and `done` runs once on the loop. The pool is freed
 * after `done` returns. */
void store_pool_close(store_pool *p, void (*done)(void *ud), void *ud);

/* Runs a prepared statement with text parameters (NULL entries are SQL NULL).
 * `cb` is always called exactly once, never synchronously from inside this
 * call. Returns 0, or STORE_EUNAVAIL if the wait queue is full (cb then is
 * not called). */
int store_exec(store_pool *p, const store_stmt *stmt, const char *const *params, store_cb cb,
               void *ud);

/* Like store_exec, but the parameters are only produced when a connection
 * takes the query: `build` then fills params[0..nparams) with strings that
 * `ud` owns and keeps alive until `cb` has run. Work that arrives while the
 * query waits for a connection can still join it (store/batch.c). If the
 * query fails before reaching a connection, cb runs without build having
 * been called. */
typedef void (*store_build_cb)(void *ud, const char **params);
int store_exec_lazy(store_pool *p, const store_stmt *stmt, store_build_cb build, store_cb cb,
                    void *ud);

/* Transactions hold one connection from BEGIN to COMMIT/ROLLBACK. Any failed
 * step leaves the transaction aborted: call store_txn_rollback. The begin
 * callback gets txn == NULL when err != 0 (nothing to release); begin returns
 * STORE_EUNAVAIL, without calling cb, if the wait queue is full. */
typedef void (*store_txn_cb)(void *ud, store_txn *txn, int err);
int store_txn_begin(store_pool *p, store_txn_cb cb, void *ud);
int store_txn_exec(store_txn *txn, const store_stmt *stmt, const char *const *params, store_cb cb,
                   void *ud);
/* Commit; `cb` gets STORE_OK or an error (the txn is gone either way). */
void store_txn_commit(store_txn *txn, void (*cb)(void *ud, int err), void *ud);
/* Roll back and release the connection; never fails from the caller's view. */
void store_txn_rollback(store_txn *txn);

/* A process-wide counter that moves whenever a row of oauth_clients or
 * admin_keys may have changed: on a notification from the triggers on those
 * tables (migrations 0013, 0017), which every pool connection listens for,
 * and whenever a connection starts listening (changes made while it was not
 * may have been missed). A change
 * made through any pool of this process has moved it before the callback of
 * the statement (or COMMIT) that made it runs; changes made by other
 * processes move it when their notification arrives, milliseconds later.
 * Caches of client records (protocol/client.c) and of admin keys
 * (store/system.c) compare it on every use. */
uint64_t store_clients_generation(void);

/* Pool gauges for /metrics and /readyz (loop thread only). */
typedef struct store_pool_stats {
    int size, connected, in_use, idle, queued;
    int outage; /* 1 during a known outage (queries fail at once) */
} store_pool_stats;
void store_pool_stats_get(const store_pool *p, store_pool_stats *out);

/* ---- start-up (blocking; main thread, before the loops start) ---- */

/* Migrations, under a PostgreSQL advisory lock so concurrent `shark`
 * processes serialise. Each mode looks at every embedded migration not yet
 * recorded in schema_migrations ("pending"):
 *   APPLY    applies each in its own transaction and records it
 *   CHECK    changes nothing (not even creating schema_migrations)
 *   DRY_RUN  runs them all in one transaction that is rolled back, so SQL
 *            that would fail is found without changing anything
 * `cb` (may be NULL) hears of each pending migration once it has run (or,
 * for CHECK, been found). A schema already migrated past this binary (a
 * newer shark ran) is refused by APPLY and DRY_RUN; CHECK reports it in
 * *newer (may be NULL; 0 otherwise), since serving on it is fine:
 * migrations stay backward compatible across one version. Returns the
 * number pending, or -1 with a message in err (size errlen). */
enum store_migrate_mode { STORE_MIGRATE_APPLY, STORE_MIGRATE_CHECK, STORE_MIGRATE_DRY_RUN };
typedef void (*store_migrate_cb)(void *ud, int version, const char *name);
int store_migrate_run(const char *conninfo, enum store_migrate_mode mode, store_migrate_cb cb,
                      void *ud, int *newer, char *err, size_t errlen);
/* APPLY without a report: 0 or -1. */
int store_migrate(const char *conninfo, char *err, size_t errlen);
/* 0 when every embedded migration is recorded, newer ones allowed (what
 * `serve --no-migrate` needs), else -1 saying how many are missing or why
 * the check failed. */
int store_schema_require(const char *conninfo, char *err, size_t errlen);

/* Highest migration version applied in the database of conninfo (its own
 * short connection), or -1 if unreachable / unmigrated. */
int store_schema_version(const char *conninfo);
/* Highest migration version embedded in this binary. */
int store_schema_latest(void);

#endif
