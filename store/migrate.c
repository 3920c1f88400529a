/*
 * Start-up migrations (see store.h). Blocking libpq on the main thread.
 * Every process takes the same session advisory lock before looking at
 * schema_migrations, so concurrent starts serialise and each migration is
 * applied exactly once, each in its own transaction.
 */
#include "store.h"
#include "migrations.h"

#include <libpq-fe.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* Advisory lock key shared by every shark process: "SHRKMIGR" as a bigint. */
#define MIGRATE_LOCK_KEY "6001136986843858770"

static int max_applied(PGconn *conn);
static int is_applied(PGconn *conn, int version);

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* CREATE TABLE IF NOT EXISTS and friends emit NOTICEs; start-up stays quiet. */
static void ignore_notice(void *arg, const char *message)
{
}

/* Runs `sql` (possibly several statements) and reports failure in err. */
static int run(PGconn *conn, const char *sql, const char *what, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        errf(err, errlen, "%s: %s", what, PQerrorMessage(conn));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

static int apply(PGconn *conn, const struct store_migration *m, char *err, size_t errlen)
{
    char version[16];
    const char *params[2] = {version, m->name};
    PGresult *res = NULL;
    char what[128];

    snprintf(version, sizeof(version), "%d", m->version);
    snprintf(what, sizeof(what), "migration %s", m->name);
    if (run(conn, "BEGIN", what, err, errlen) != 0)
        goto fail;
    if (run(conn, m->sql, what, err, errlen) != 0)
        goto fail;
    res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                       NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        errf(err, errlen, "%s: recording it: %s", what, PQerrorMessage(conn));
        goto fail;
    }
    PQclear(res);
    return run(conn, "COMMIT", what, err, errlen);
fail:
    PQclear(res);
    PQclear(PQexec(conn, "ROLLBACK"));
    return -1;
}

/* 1 when schema_migrations exists, 0 when not, -1 on error. */
static int has_table(PGconn *conn)
{
    PGresult *res = PQexec(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? PQgetvalue(res, 0, 0)[0] == 't' : -1;
    PQclear(res);
    return rc;
}

/* Runs `sql` inside the dry run's transaction, reporting failure in err. */
static int try_one(PGconn *conn, const struct store_migration *m, char *err, size_t errlen)
{
    char what[128];
    snprintf(what, sizeof(what), "migration %s (dry run; rolled back)", m->name);
    return run(conn, m->sql, what, err, errlen);
}

int store_migrate_run(const char *conninfo, enum store_migrate_mode mode, store_migrate_cb cb,
                      void *ud, int *newer, char *err, size_t errlen)
{
    PGconn *conn = PQconnectdb(conninfo);
    int applied = 0, latest = store_schema_latest(), rc = -1, pending = 0, table;
    bool in_txn = false;

    if (newer)
        *newer = 0;
    if (PQstatus(conn) != CONNECTION_OK) {
        errf(err, errlen, "connecting to the database: %s", PQerrorMessage(conn));
        goto fail;
    }
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    /* Lock first: concurrent CREATE TABLE IF NOT EXISTS can still collide. */
    if (run(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", "taking the migration lock", err,
            errlen) != 0)
        goto fail;
    if ((table = has_table(conn)) < 0) {
        errf(err, errlen, "looking for schema_migrations: %s", PQerrorMessage(conn));
        goto fail;
    }
    if (mode == STORE_MIGRATE_DRY_RUN) {
        if (run(conn, "BEGIN", "dry run", err, errlen) != 0)
            goto fail;
        in_txn = true;
    }
    if (mode != STORE_MIGRATE_CHECK && run(conn,
                                           "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                           " version int PRIMARY KEY,"
                                           " name text NOT NULL,"
                                           " applied_at timestamptz NOT NULL DEFAULT now())",
                                           "creating schema_migrations", err, errlen) != 0)
        goto fail;
    if (table || mode != STORE_MIGRATE_CHECK) {
        applied = max_applied(conn);
        if (applied < 0) {
            errf(err, errlen, "reading schema_migrations: %s", PQerrorMessage(conn));
            goto fail;
        }
    }
    /* A newer shark migrated already (a rolling upgrade). Serving on that
     * schema is fine (--no-migrate checks with CHECK), changing it is not. */
    if (applied > latest && mode != STORE_MIGRATE_CHECK) {
        errf(err, errlen,
             "the database schema is at version %d but this shark only knows up to %d; "
             "run a newer shark",
             applied, latest);
        goto fail;
    }
    if (newer && applied > latest)
        *newer = applied;
    /* Every embedded version not yet recorded, not only those above the
     * highest: a migration merged with a lower number still gets applied. */
    for (int i = 0; i < store_migrations_count; i++) {
        const struct store_migration *m = &store_migrations[i];
        int have = applied > 0 ? is_applied(conn, m->version) : 0;
        if (have < 0) {
            errf(err, errlen, "reading schema_migrations: %s", PQerrorMessage(conn));
            goto fail;
        }
        if (have)
            continue;
        pending++;
        if (mode == STORE_MIGRATE_APPLY && apply(conn, m, err, errlen) != 0)
            goto fail;
        if (mode == STORE_MIGRATE_DRY_RUN && try_one(conn, m, err, errlen) != 0)
            goto fail;
        if (cb)
            cb(ud, m->version, m->name);
    }
    rc = pending;
fail:
    if (in_txn)
        PQclear(PQexec(conn, "ROLLBACK"));
    /* The lock is per session; closing the connection releases it too. */
    if (PQstatus(conn) == CONNECTION_OK)
        PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
    PQfinish(conn);
    return rc;
}

int store_migrate(const char *conninfo, char *err, size_t errlen)
{
    return store_migrate_run(conninfo, STORE_MIGRATE_APPLY, NULL, NULL, NULL, err, errlen) < 0 ? -1
                                                                                               : 0;
}

int store_schema_require(const char *conninfo, char *err, size_t errlen)
{
    int pending = store_migrate_run(conninfo, STORE_MIGRATE_CHECK, NULL, NULL, NULL, err, errlen);
    if (pending > 0)
        errf(err, errlen,
             "%d migration%s of this shark %s not applied; run `shark migrate` first (or "
             "serve without --no-migrate)",
             pending, pending == 1 ? "" : "s", pending == 1 ? "is" : "are");
    return pending == 0 ? 0 : -1;
}

/* 1 when version is recorded, 0 when not, -1 on error. */
static int is_applied(PGconn *conn, int version)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", version);
    const char *params[] = {v};
    PGresult *res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1::int", 1,
                                 NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) == 1 : -1;
    PQclear(res);
    return rc;
}

/* Highest applied version, 0 when none, -1 on error (no table). */
static int max_applied(PGconn *conn)
{
    PGresult *res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    int v = -1;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        v = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

int store_schema_version(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    int v = -1;

    if (PQstatus(conn) == CONNECTION_OK)
        v = max_applied(conn);
    PQfinish(conn);
    return v > 0 ? v : -1;
}

int store_schema_latest(void)
{
    return store_migrations_count > 0 ? store_migrations[store_migrations_count - 1].version : 0;
}
