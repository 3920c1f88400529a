/*
 * store/ against a real PostgreSQL: an embedded cluster in a temporary
 * directory, migrations, the asynchronous pool (parameters, error mapping,
 * queueing, transactions, dropped connections, closing), and every public
 * function of store/users, agents, auth, revoke and vault. Every wait
 * on the loop has a timer guard so a hang fails instead of blocking.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "store/agents.h"
#include "store/audit.h"
#include "store/auth.h"
#include "store/embed.h"
#include "store/oauth.h"
#include "store/revoke.h"
#include "store/store.h"
#include "store/users.h"
#include "store/vault.h"

static char tmpdir[] = "/tmp/shark-store-test-XXXXXX";
static char conninfo[1024];
static char pool_conninfo[1200];
static store_embed *cluster;
static uv_loop_t loop;

/* ---- loop helpers ---- */

static bool timed_out;

static void on_guard(uv_timer_t *t)
{
    timed_out = true;
    uv_stop(t->loop);
}

/* Runs the loop until *flag becomes true, failing the test after ms. */
static void run_until(const bool *flag, uint64_t ms)
{
    uv_timer_t guard;

    timed_out = false;
    /* The loop's clock stands still while blocking test code runs; a guard
     * armed from a stale clock would fire at once. */
    uv_update_time(&loop);
    uv_timer_init(&loop, &guard);
    uv_timer_start(&guard, on_guard, ms, 0);
    while (!*flag && !timed_out)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_false(timed_out);
}

static void on_tick(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

static void sleep_loop(uint64_t ms)
{
    uv_timer_t t;
    bool done = false;

    uv_timer_init(&loop, &t);
    t.data = &done;
    uv_timer_start(&t, on_tick, ms, 0);
    run_until(&done, ms + 5000);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

struct outcome {
    bool done;
    int calls;
    int err;
    int ntuples;
    char value[256];
    bool value_null;
    char msg[256];
};

static void on_result(void *ud, PGresult *res, int err, const char *msg)
{
    struct outcome *o = ud;

    o->done = true;
    o->calls++;
    o->err = err;
    snprintf(o->msg, sizeof(o->msg), "%s", msg ? msg : "");
    if (err == STORE_OK) {
        assert_non_null(res);
        o->ntuples = PQntuples(res);
        if (o->ntuples > 0 && PQnfields(res) > 0) {
            o->value_null = PQgetisnull(res, 0, 0);
            snprintf(o->value, sizeof(o->value), "%s", PQgetvalue(res, 0, 0));
        }
    } else {
        assert_null(res);
    }
}

/* store_exec and wait; asserts the callback did not run synchronously. */
static void exec_wait(store_pool *p, const store_stmt *st, const char *const *params,
                      struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    assert_int_equal(store_exec(p, st, params, on_result, o), 0);
    assert_false(o->done);
    run_until(&o->done, 10000);
    assert_int_equal(o->calls, 1);
}

static void on_pool_closed(void *ud)
{
    *(bool *)ud = true;
}

static void close_pool(store_pool *p)
{
    bool closed = false;

    store_pool_close(p, on_pool_closed, &closed);
    assert_false(closed);
    run_until(&closed, 10000);
}

static void wait_connected(store_pool *p, int n)
{
    store_pool_stats s;

    for (int i = 0; i < 200; i++) {
        store_pool_stats_get(p, &s);
        /* connected and idle: each new connection first runs its LISTEN */
        if (s.connected >= n && s.in_use == 0)
            return;
        sleep_loop(25);
    }
    fail_msg("pool did not connect");
}

/* ---- statements ---- */

static store_stmt st_create = {
    "test_create",
    "CREATE TABLE IF NOT EXISTS store_test_kv (k text PRIMARY KEY, v text,"
    " n int CHECK (n >= 0))",
    0, 0};
static store_stmt st_insert = {"test_insert", "INSERT INTO store_test_kv (k, v) VALUES ($1, $2)", 2,
                               0};
static store_stmt st_insert_n = {"test_insert_n",
                                 "INSERT INTO store_test_kv (k, n) VALUES ($1, $2::int)", 2, 0};
static store_stmt st_get = {"test_get", "SELECT v FROM store_test_kv WHERE k = $1", 1, 0};
static store_stmt st_echo = {"test_echo", "SELECT $1::int", 1, 0};
static store_stmt st_sleep = {"test_sleep", "SELECT $1::int FROM pg_sleep(0.01)", 1, 0};
static store_stmt st_sleep_long = {"test_sleep_long", "SELECT 1 FROM pg_sleep($1::float8)", 1, 0};
static store_stmt st_bad = {"test_bad", "SELEKT nonsense", 0, 0};
static store_stmt st_pid = {"test_pid", "SELECT pg_backend_pid()", 0, 0};

/* ---- setup ---- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int setup_cluster(void **state)
{
    char err[1024];

    if (!mkdtemp(tmpdir))
        return -1;
    /* As root, postgres runs as the postgres user and must enter the dir. */
    if (chmod(tmpdir, 0711) != 0)
        return -1;
    cluster = store_embed_start(tmpdir, conninfo, sizeof(conninfo), err, sizeof(err));
    if (!cluster) {
        fprintf(stderr, "store_embed_start: %s\n", err);
        return -1;
    }
    snprintf(pool_conninfo, sizeof(pool_conninfo), "%s application_name=store_test_pool", conninfo);
    return uv_loop_init(&loop);
}

static int teardown_cluster(void **state)
{
    int rc = uv_loop_close(&loop);

    store_embed_stop(cluster);
    nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc == 0 ? 0 : -1;
}

/* Runs sql on a fresh blocking connection; returns the first value or "". */
static void admin_query(const char *ci, const char *sql, char *out, size_t len)
{
    PGconn *c = PQconnectdb(ci);
    PGresult *r;

    assert_int_equal(PQstatus(c), CONNECTION_OK);
    r = PQexec(c, sql);
    assert_true(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK);
    if (out)
        snprintf(out, len, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
}

/* ---- migrations ---- */

static void test_migrate(void **state)
{
    char err[512], ci[1200], v[64];
    pid_t kids[4];
    int status;

    assert_int_equal(store_migrate(conninfo, err, sizeof(err)), 0);
    assert_int_equal(store_migrate(conninfo, err, sizeof(err)), 0);
    assert_int_equal(store_schema_version(conninfo), store_schema_latest());

    /* Concurrent processes on an empty database: all succeed, each
     * migration is recorded once. */
    admin_query(conninfo, "CREATE DATABASE store_test_m", NULL, 0);
    snprintf(ci, sizeof(ci), "%s dbname=store_test_m", conninfo);
    for (int i = 0; i < 4; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0)
            _exit(store_migrate(ci, err, sizeof(err)) == 0 ? 0 : 1);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    admin_query(ci, "SELECT count(*) - count(DISTINCT version) FROM schema_migrations", v,
                sizeof(v));
    assert_string_equal(v, "0");
    assert_int_equal(store_schema_version(ci), store_schema_latest());

    /* A database ahead of the binary is refused with a clear message. */
    admin_query(ci, "INSERT INTO schema_migrations (version, name) VALUES (999999, 'future')", NULL,
                0);
    err[0] = '\0';
    assert_int_equal(store_migrate(ci, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "999999"));
}

/* The tables every token writes keep a small ANALYZE sample (migration 0019);
 * a partition made later takes the parent's targets. */
static void test_analyze_sample(void **state)
{
    static const char count_default[] =
        "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "WHERE c.relkind IN ('r', 'p') "
        "  AND (c.relname IN ('audit_events', 'oauth_replay', 'oauth_tokens') "
        "       OR c.relname LIKE 'oauth_tokens\\_2%') "
        "  AND a.attnum > 0 AND NOT a.attisdropped AND a.attstattarget IS DISTINCT FROM 10";
    char v[64];
    (void)state;
    admin_query(conninfo, "SELECT shark_maintain_tokens()", NULL, 0);
    admin_query(conninfo,
                "DO $$ BEGIN EXECUTE format('DROP TABLE %I', 'oauth_tokens_' || "
                "to_char((now() AT TIME ZONE 'UTC')::date + 3, 'YYYYMMDD')); END $$",
                NULL, 0);
    admin_query(conninfo, "SELECT shark_maintain_tokens()", NULL, 0);
    admin_query(conninfo,
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'oauth_tokens'::regclass", v,
                sizeof(v));
    assert_string_equal(v, "9");
    admin_query(conninfo, count_default, v, sizeof(v));
    assert_string_equal(v, "0");
}

/* ---- queries ---- */

static void test_exec(void **state)
{
    store_pool *p = store_pool_new(&loop, pool_conninfo, 2, 5000);
    struct outcome o;
    const char *kv[] = {"a", "apple"};
    const char *knull[] = {"b", NULL};
    const char *key_a[] = {"a"};
    const char *key_b[] = {"b"};
    const char *key_none[] = {"zzz"};
    const char *bad_int[] = {"not a number"};
    const char *neg[] = {"c", "-1"};
    const char *n42[] = {"42"};

    assert_non_null(p);
    exec_wait(p, &st_create, NULL, &o);
    assert_int_equal(o.err, STORE_OK);
    exec_wait(p, &st_insert, kv, &o);
    assert_int_equal(o.err, STORE_OK);
    exec_wait(p, &st_insert, knull, &o);
    assert_int_equal(o.err, STORE_OK);

    exec_wait(p, &st_get, key_a, &o);
    assert_int_equal(o.err, STORE_OK);
    assert_int_equal(o.ntuples, 1);
    assert_string_equal(o.value, "apple");
    exec_wait(p, &st_get, key_b, &o);
    assert_int_equal(o.ntuples, 1);
    assert_true(o.value_null);
    exec_wait(p, &st_get, key_none, &o);
    assert_int_equal(o.err, STORE_OK);
    assert_int_equal(o.ntuples, 0);

    /* Error mapping. */
    exec_wait(p, &st_insert, kv, &o);
    assert_int_equal(o.err, STORE_ECONFLICT);
    assert_true(strlen(o.msg) > 0);
    exec_wait(p, &st_echo, bad_int, &o);
    assert_int_equal(o.err, STORE_EINVALID);
    exec_wait(p, &st_insert_n, neg, &o);
    assert_int_equal(o.err, STORE_EINVALID);
    exec_wait(p, &st_bad, NULL, &o);
    assert_int_equal(o.err, STORE_EINTERNAL);
    /* The connections are still healthy afterwards. */
    for (int i = 0; i < 4; i++) {
        exec_wait(p, &st_echo, n42, &o);
        assert_int_equal(o.err, STORE_OK);
        assert_string_equal(o.value, "42");
    }
    close_pool(p);
}

/* Callbacks of several queries: `all` turns true with the `want`-th. */
static struct {
    int want, done;
    bool all;
} counted;

static void count_from(int want)
{
    counted.want = want;
    counted.done = 0;
    counted.all = false;
}

static void on_counted(void *ud, PGresult *res, int err, const char *msg)
{
    on_result(ud, res, err, msg);
    if (++counted.done == counted.want)
        counted.all = true;
}

/* A record PostgreSQL refuses fails alone: the batch it shared is retried a
 * record at a time (store/batch.c), and the others are written. */
#define BATCHED 6

static void test_token_batch_refused_record(void **state)
{
    store_pool *p = store_pool_new(&loop, pool_conninfo, 1, 5000);
    struct outcome o[BATCHED];
    char jti[BATCHED][32], v[64];
    (void)state;
    assert_non_null(p);
    wait_connected(p, 1);
    memset(o, 0, sizeof(o));
    count_from(BATCHED);
    /* The first goes out at once; the rest gather in one batch behind it. */
    for (int i = 0; i < BATCHED; i++) {
        snprintf(jti[i], sizeof(jti[i]), "tok_batch_refused_%d", i);
        store_token t = {.jti = jti[i],
                         .client_id = "client_b",
                         .subject = "client_b",
                         .scope = "",
                         .audience = i == 3 ? "https://bad.example/\xff" : NULL,
                         .expires_at = (int64_t)time(NULL) + 600,
                         .event = "oauth.token_issued",
                         .actor_id = "client_b",
                         .actor_type = "client",
                         .metadata = "{}"};
        assert_int_equal(store_token_issue(p, &t, on_counted, &o[i]), 0);
    }
    run_until(&counted.all, 10000);
    for (int i = 0; i < BATCHED; i++) {
        assert_int_equal(o[i].calls, 1);
        if (i == 3) {
            assert_int_equal(o[i].err, STORE_EINVALID);
        } else {
            assert_int_equal(o[i].err, STORE_OK);
            assert_string_equal(o[i].value, "1");
        }
    }
    admin_query(conninfo,
                "SELECT count(*) FROM oauth_tokens WHERE jti LIKE 'tok\\_batch\\_refused\\_%'", v,
                sizeof(v));
    assert_string_equal(v, "5");
    admin_query(
        conninfo,
        "SELECT count(*) FROM audit_events WHERE target_id LIKE 'tok\\_batch\\_refused\\_%'", v,
        sizeof(v));
    assert_string_equal(v, "5");
    close_pool(p);
}

#define MANY 300

static void test_concurrency(void **state)
{
    store_pool *p = store_pool_new(&loop, pool_conninfo, 4, 10000);
    struct outcome *o = calloc(MANY, sizeof(*o));
    char args[MANY][16];
    store_pool_stats s;

    assert_non_null(p);
    wait_connected(p, 4);
    count_from(MANY);
    for (int i = 0; i < MANY; i++) {
        const char *params[] = {args[i]};
        snprintf(args[i], sizeof(args[i]), "%d", i);
        assert_int_equal(store_exec(p, &st_sleep, params, on_counted, &o[i]), 0);
    }
    /* Parameters are copied: clobbering them must not matter. */
    memset(args, 'x', sizeof(args));
    store_pool_stats_get(p, &s);
    assert_int_equal(s.size, 4);
    assert_int_equal(s.in_use, 4);
    assert_int_equal(s.queued, MANY - 4);
    run_until(&counted.all, 30000);
    for (int i = 0; i < MANY; i++) {
        char want[16];
        snprintf(want, sizeof(want), "%d", i);
        assert_int_equal(o[i].calls, 1);
        assert_int_equal(o[i].err, STORE_OK);
        assert_string_equal(o[i].value, want);
    }
    store_pool_stats_get(p, &s);
    assert_int_equal(s.queued, 0);
    assert_int_equal(s.idle, 4);
    close_pool(p);
    free(o);
}

static void test_queue_limits(void **state)
{
    store_pool *p = store_pool_new(&loop, pool_conninfo, 1, 300);
    struct outcome busy, *q = calloc(1100, sizeof(*q));
    const char *one_s[] = {"1"};
    const char *n1[] = {"1"};
    int accepted = 0, rejected = 0, timed = 0;

    assert_non_null(p);
    wait_connected(p, 1);
    memset(&busy, 0, sizeof(busy));
    assert_int_equal(store_exec(p, &st_sleep_long, one_s, on_result, &busy), 0);
    for (int i = 0; i < 1100; i++) {
        if (store_exec(p, &st_echo, n1, on_result, &q[i]) == 0)
            accepted++;
        else
            rejected++;
    }
    /* The wait queue is bounded; rejected requests get no callback. */
    assert_int_equal(accepted, 1024);
    assert_int_equal(rejected, 1100 - 1024);
    /* Queued requests time out while the only connection is busy. */
    run_until(&q[accepted - 1].done, 5000);
    for (int i = 0; i < 1100; i++) {
        if (i < accepted) {
            assert_int_equal(q[i].calls, 1);
            assert_int_equal(q[i].err, STORE_EUNAVAIL);
            timed++;
        } else {
            assert_int_equal(q[i].calls, 0);
        }
    }
    assert_int_equal(timed, 1024);
    run_until(&busy.done, 5000);
    assert_int_equal(busy.err, STORE_OK);
    close_pool(p);
    free(q);
}

/* ---- transactions ---- */

struct txn_state {
    bool begun, committed;
    store_txn *txn;
    int begin_err, commit_err;
};

static void on_begin(void *ud, store_txn *txn, int err)
{
    struct txn_state *t = ud;
    t->begun = true;
    t->txn = txn;
    t->begin_err = err;
}

static void on_commit(void *ud, int err)
{
    struct txn_state *t = ud;
    t->committed = true;
    t->commit_err = err;
}

static void begin_wait(store_pool *p, struct txn_state *t)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(store_txn_begin(p, on_begin, t), 0);
    assert_false(t->begun);
    run_until(&t->begun, 10000);
    assert_int_equal(t->begin_err, STORE_OK);
    assert_non_null(t->txn);
}

static void txn_exec_wait(store_txn *txn, const store_stmt *st, const char *const *params,
                          struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    assert_int_equal(store_txn_exec(txn, st, params, on_result, o), 0);
    assert_false(o->done);
    run_until(&o->done, 10000);
}

static void test_txn(void **state)
{
    store_pool *p = store_pool_new(&loop, pool_conninfo, 2, 5000);
    struct txn_state t;
    struct outcome o, o2;
    const char *kv1[] = {"txn1", "one"};
    const char *kv2[] = {"txn2", "two"};
    const char *kv3[] = {"txn3", "three"};
    const char *k1[] = {"txn1"};
    const char *k2[] = {"txn2"};
    const char *k3[] = {"txn3"};
    store_pool_stats s;

    assert_non_null(p);
    exec_wait(p, &st_create, NULL, &o);

    /* Commit: visible afterwards; invisible to others before. */
    begin_wait(p, &t);
    txn_exec_wait(t.txn, &st_insert, kv1, &o);
    assert_int_equal(o.err, STORE_OK);
    exec_wait(p, &st_get, k1, &o);
    assert_int_equal(o.ntuples, 0);
    store_txn_commit(t.txn, on_commit, &t);
    run_until(&t.committed, 10000);
    assert_int_equal(t.commit_err, STORE_OK);
    exec_wait(p, &st_get, k1, &o);
    assert_int_equal(o.ntuples, 1);

    /* Rollback: gone. Two steps queued at once run in order. */
    begin_wait(p, &t);
    memset(&o, 0, sizeof(o));
    memset(&o2, 0, sizeof(o2));
    assert_int_equal(store_txn_exec(t.txn, &st_insert, kv2, on_result, &o), 0);
    assert_int_equal(store_txn_exec(t.txn, &st_get, k2, on_result, &o2), 0);
    run_until(&o2.done, 10000);
    assert_true(o.done);
    assert_int_equal(o2.ntuples, 1);
    store_txn_rollback(t.txn);
    exec_wait(p, &st_get, k2, &o);
    assert_int_equal(o.ntuples, 0);

    /* A failed step aborts the transaction: commit reports an error and
     * nothing of it remains. */
    begin_wait(p, &t);
    txn_exec_wait(t.txn, &st_insert, kv3, &o);
    assert_int_equal(o.err, STORE_OK);
    txn_exec_wait(t.txn, &st_insert, kv1, &o);
    assert_int_equal(o.err, STORE_ECONFLICT);
    store_txn_commit(t.txn, on_commit, &t);
    run_until(&t.committed, 10000);
    assert_int_not_equal(t.commit_err, STORE_OK);
    exec_wait(p, &st_get, k3, &o);
    assert_int_equal(o.ntuples, 0);

    /* Every connection is back in the pool. */
    sleep_loop(20);
    store_pool_stats_get(p, &s);
    assert_int_equal(s.in_use, 0);
    assert_int_equal(s.idle, 2);
    close_pool(p);
}

/* ---- dropped connections ---- */

static int terminate_pool_backends(void)
{
    char v[32];
    admin_query(conninfo,
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = 'store_test_pool'",
                v, sizeof(v));
    return atoi(v);
}

/* Retries a query until it succeeds; each attempt may fail only with
 * STORE_EUNAVAIL while the pool reconnects. */
static void expect_recovery(store_pool *p)
{
    struct outcome o;
    const char *n7[] = {"7"};

    for (int i = 0; i < 100; i++) {
        exec_wait(p, &st_echo, n7, &o);
        if (o.err == STORE_OK) {
            assert_string_equal(o.value, "7");
            return;
        }
        assert_int_equal(o.err, STORE_EUNAVAIL);
        sleep_loop(50);
    }
    fail_msg("pool did not recover");
}

static void test_drop(void **state)
{
    store_pool *p = store_pool_new(&loop, pool_conninfo, 3, 2000);
    struct outcome inflight[3], queued, o;
    const char *five[] = {"5"};
    const char *kv[] = {"droptxn", "x"};
    struct txn_state t;

    assert_non_null(p);
    wait_connected(p, 3);
    exec_wait(p, &st_pid, NULL, &o); /* prepare something before the drop */
    exec_wait(p, &st_create, NULL, &o);

    /* In flight on every connection, plus one queued behind them. */
    memset(inflight, 0, sizeof(inflight));
    memset(&queued, 0, sizeof(queued));
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_exec(p, &st_sleep_long, five, on_result, &inflight[i]), 0);
    assert_int_equal(store_exec(p, &st_pid, NULL, on_result, &queued), 0);
    sleep_loop(100);
    assert_int_equal(terminate_pool_backends(), 3);
    for (int i = 0; i < 3; i++) {
        run_until(&inflight[i].done, 3000);
        assert_int_equal(inflight[i].err, STORE_EUNAVAIL);
    }
    run_until(&queued.done, 5000);
    assert_true(queued.err == STORE_OK || queued.err == STORE_EUNAVAIL);
    expect_recovery(p);

    /* Idle connections dropped: the next queries fail cleanly or succeed. */
    wait_connected(p, 3);
    assert_int_equal(terminate_pool_backends(), 3);
    sleep_loop(50);
    expect_recovery(p);

    /* Dropped mid-transaction: steps fail, commit reports an error. */
    wait_connected(p, 3);
    begin_wait(p, &t);
    assert_true(terminate_pool_backends() >= 1);
    txn_exec_wait(t.txn, &st_insert, kv, &o);
    assert_int_equal(o.err, STORE_EUNAVAIL);
    store_txn_commit(t.txn, on_commit, &t);
    run_until(&t.committed, 5000);
    assert_int_not_equal(t.commit_err, STORE_OK);
    expect_recovery(p);

    close_pool(p);
}

/* With no server at all, queries time out instead of hanging, and closing
 * a pool fails everything still queued. */
static void test_unreachable(void **state)
{
    char ci[1400];
    store_pool *p;
    struct outcome o, q[5];
    const char *n1[] = {"1"};
    struct txn_state t;
    bool closed = false;

    snprintf(ci, sizeof(ci), "host=%s/nonexistent dbname=shark user=shark", tmpdir);
    p = store_pool_new(&loop, ci, 2, 200);
    assert_non_null(p);
    exec_wait(p, &st_echo, n1, &o);
    assert_int_equal(o.err, STORE_EUNAVAIL);
    memset(&t, 0, sizeof(t));
    assert_int_equal(store_txn_begin(p, on_begin, &t), 0);
    run_until(&t.begun, 5000);
    assert_int_equal(t.begin_err, STORE_EUNAVAIL);
    assert_null(t.txn);

    memset(q, 0, sizeof(q));
    for (int i = 0; i < 5; i++)
        assert_int_equal(store_exec(p, &st_echo, n1, on_result, &q[i]), 0);
    store_pool_close(p, on_pool_closed, &closed);
    run_until(&closed, 5000);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(q[i].calls, 1);
        assert_int_equal(q[i].err, STORE_EUNAVAIL);
    }
}

/* Closing with queries in flight on live connections. */
static void test_close_inflight(void **state)
{
    store_pool *p = store_pool_new(&loop, pool_conninfo, 2, 5000);
    struct outcome o[4];
    const char *one[] = {"1"};
    bool closed = false;

    assert_non_null(p);
    wait_connected(p, 2);
    memset(o, 0, sizeof(o));
    for (int i = 0; i < 4; i++)
        assert_int_equal(store_exec(p, &st_sleep_long, one, on_result, &o[i]), 0);
    store_pool_close(p, on_pool_closed, &closed);
    run_until(&closed, 5000);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_int_equal(o[i].err, STORE_EUNAVAIL);
    }
}

/* Closing from inside a query callback, with requests still queued. */
struct reentrant {
    store_pool *p;
    struct outcome first, queued[3];
    bool closed;
};

static void on_first_then_close(void *ud, PGresult *res, int err, const char *msg)
{
    struct reentrant *r = ud;
    const char *n1[] = {"1"};

    on_result(&r->first, res, err, msg);
    store_pool_close(r->p, on_pool_closed, &r->closed);
    /* Submitting after close is refused without a callback. */
    assert_int_equal(store_exec(r->p, &st_echo, n1, on_result, &r->first), STORE_EUNAVAIL);
}

static void test_close_in_callback(void **state)
{
    struct reentrant r;
    const char *n1[] = {"1"};

    memset(&r, 0, sizeof(r));
    r.p = store_pool_new(&loop, pool_conninfo, 1, 5000);
    assert_non_null(r.p);
    assert_int_equal(store_exec(r.p, &st_echo, n1, on_first_then_close, &r), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_exec(r.p, &st_echo, n1, on_result, &r.queued[i]), 0);
    run_until(&r.closed, 5000);
    assert_int_equal(r.first.calls, 1);
    assert_int_equal(r.first.err, STORE_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r.queued[i].calls, 1);
        assert_int_equal(r.queued[i].err, STORE_EUNAVAIL);
    }
}

/* ---- typed store units: users, agents, auth, revoke, vault ----
 * Each public function of those headers against the migrated database,
 * through the pool as the server calls them. The rows a test needs are
 * made with the store functions themselves; SQL here only reads back. */

#define ROWS 16
#define COLS 16

/* A copy of a result: up to ROWS rows of COLS columns, NULL for SQL NULL. */
static struct rows {
    bool done;
    int calls, err, ntuples, nfields;
    char name[COLS][64];
    char *v[ROWS][COLS];
} R;

static const store_actor WHO = {"req_store_test", "127.0.0.1"};
static store_pool *tp;

static void rows_free(void)
{
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < COLS; j++)
            free(R.v[i][j]);
    memset(&R, 0, sizeof(R));
}

static void on_rows(void *ud, PGresult *res, int err, const char *msg)
{
    struct rows *r = ud;
    (void)msg;
    r->done = true;
    r->calls++;
    r->err = err;
    if (err != STORE_OK)
        return;
    r->ntuples = PQntuples(res);
    r->nfields = PQnfields(res);
    for (int j = 0; j < r->nfields && j < COLS; j++)
        snprintf(r->name[j], sizeof(r->name[j]), "%s", PQfname(res, j));
    for (int i = 0; i < r->ntuples && i < ROWS; i++)
        for (int j = 0; j < r->nfields && j < COLS; j++)
            r->v[i][j] = PQgetisnull(res, i, j) ? NULL : strdup(PQgetvalue(res, i, j));
}

/* One store call with on_rows/&R, waited for; its error is in R.err. */
#define DO(call)                      \
    do {                              \
        rows_free();                  \
        assert_int_equal((call), 0);  \
        run_until(&R.done, 10000);    \
        assert_int_equal(R.calls, 1); \
    } while (0)
/* The same, which must succeed. */
#define OK(call)                           \
    do {                                   \
        DO(call);                          \
        assert_int_equal(R.err, STORE_OK); \
    } while (0)

static const char *val(int row, int col)
{
    assert_true(row < R.ntuples && row < ROWS);
    assert_true(col < R.nfields && col < COLS);
    return R.v[row][col];
}

/* Row 0's column by name. */
static const char *col(const char *name)
{
    for (int j = 0; j < R.nfields && j < COLS; j++)
        if (strcmp(R.name[j], name) == 0)
            return val(0, j);
    fail_msg("no column %s", name);
    return NULL;
}

static json_t *js(const char *text)
{
    json_error_t e;
    assert_non_null(text);
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (j == NULL)
        fail_msg("not JSON (%s): %s", e.text, text);
    return j;
}

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static long long jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return (long long)json_integer_value(v);
}

/* A listing's page (store/page.h): limit and offset, with the total. */
static const store_page_q *page(int limit, int offset)
{
    static store_page_q q;
    q = (store_page_q){.limit = limit, .offset = offset, .total = true};
    return &q;
}

/* The value of one SQL read on a side connection. */
static const char *sql1(const char *fmt, ...)
{
    static char out[1024];
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    admin_query(conninfo, sql, out, sizeof(out));
    return out;
}

static void tp_open(void)
{
    tp = store_pool_new(&loop, pool_conninfo, 2, 5000);
    assert_non_null(tp);
}

static void tp_close(void)
{
    rows_free();
    close_pool(tp);
    tp = NULL;
}

static void issue_token(const char *jti, const char *client, const char *user, const char *jkt)
{
    struct outcome o;
    store_token t = {.jti = jti,
                     .client_id = client,
                     .subject = user ? user : client,
                     .user_id = user,
                     .scope = "",
                     .jkt = jkt,
                     .expires_at = (int64_t)time(NULL) + 600,
                     .event = "oauth.token_issued",
                     .actor_id = client,
                     .actor_type = "client",
                     .metadata = "{}"};
    memset(&o, 0, sizeof(o));
    assert_int_equal(store_token_issue(tp, &t, on_result, &o), 0);
    run_until(&o.done, 10000);
    assert_int_equal(o.err, STORE_OK);
    assert_string_equal(o.value, "1");
}

static bool token_active(const char *jti)
{
    OK(store_token_active(tp, jti, on_rows, &R));
    return strcmp(col("active"), "true") == 0;
}

/* A user by store_user_create; its id into id (64 bytes). */
static void make_user(const char *email, char *id)
{
    store_user_fields f = {.email = email, .name = "Store Test"};
    OK(store_user_create(tp, &f, &WHO, on_rows, &R));
    json_t *u = js(val(0, 0));
    snprintf(id, 64, "%s", jstr(u, "id"));
    json_decref(u);
    assert_true(strncmp(id, "usr_", 4) == 0);
}

static void make_app(const char *id, const char *scopes)
{
    store_app_in in = {.id = id, .name = id, .scopes = scopes};
    OK(store_app_create(tp, &in, &WHO, on_rows, &R));
}

static void make_agent(const char *id, const char *app, const char *created_by, const char *scopes)
{
    store_agent_in in = {.id = id,
                         .app_id = app,
                         .name = id,
                         .created_by = created_by,
                         .scopes = scopes,
                         .grant_types = "[\"client_credentials\"]",
                         .secret_hash = "hash-of-"
                                        "secret"};
    OK(store_agent_create(tp, &in, &WHO, on_rows, &R));
    assert_string_equal(col("scopes_ok"), "true");
    assert_non_null(col("agent"));
}

/* ---- store/users.c ---- */

static void test_store_users(void **state)
{
    char ann[64], bob[64];
    (void)state;
    tp_open();
    make_user("Ann.Store@Example.test", ann);
    make_user("bob.store@example.test", bob);
    assert_string_equal(sql1("SELECT count(*) FROM audit_events WHERE event = 'user.created' "
                             "AND target_id = '%s' AND request_id = 'req_store_test'",
                             ann),
                        "1");

    /* create: the email is unique whatever its case */
    store_user_fields dup = {.email = "ANN.STORE@example.TEST"};
    DO(store_user_create(tp, &dup, &WHO, on_rows, &R));
    assert_int_equal(R.err, STORE_ECONFLICT);

    /* list: a plain substring, any case; % is an ordinary character */
    OK(store_user_list(tp, "ann.STORE@", page(10, 0), on_rows, &R));
    assert_string_equal(col("total"), "1");
    json_t *d = js(col("data"));
    assert_int_equal(json_array_size(d), 1);
    assert_string_equal(jstr(json_array_get(d, 0), "id"), ann);
    json_decref(d);
    OK(store_user_list(tp, "%.store@", page(10, 0), on_rows, &R));
    assert_string_equal(col("total"), "0");
    OK(store_user_list(tp, ".store@example.test", page(1, 1), on_rows, &R));
    assert_string_equal(col("total"), "2");
    d = js(col("data"));
    assert_int_equal(json_array_size(d), 1);
    assert_string_equal(jstr(json_array_get(d, 0), "id"), ann); /* newest first: bob, ann */
    json_decref(d);

    /* get */
    OK(store_user_get(tp, bob, on_rows, &R));
    assert_int_equal(R.ntuples, 1);
    json_t *u = js(val(0, 0));
    assert_string_equal(jstr(u, "email"), "bob.store@example.test");
    assert_true(json_is_false(json_object_get(u, "email_verified")));
    json_decref(u);
    OK(store_user_get(tp, "usr_nobody", on_rows, &R));
    assert_int_equal(R.ntuples, 0);

    /* update: fields kept unless given; a new address is unverified */
    store_user_fields verify = {.email_verified = "true"};
    OK(store_user_update(tp, bob, &verify, &WHO, on_rows, &R));
    u = js(val(0, 0));
    assert_true(json_is_true(json_object_get(u, "email_verified")));
    assert_string_equal(jstr(u, "name"), "Store Test");
    json_decref(u);
    store_user_fields moved = {.email = "bob.moved@example.test", .name = "Bob"};
    OK(store_user_update(tp, bob, &moved, &WHO, on_rows, &R));
    u = js(val(0, 0));
    assert_string_equal(jstr(u, "email"), "bob.moved@example.test");
    assert_string_equal(jstr(u, "name"), "Bob");
    assert_true(json_is_false(json_object_get(u, "email_verified")));
    json_decref(u);
    store_user_fields taken = {.email = "ann.store@example.test"};
    DO(store_user_update(tp, bob, &taken, &WHO, on_rows, &R));
    assert_int_equal(R.err, STORE_ECONFLICT);
    OK(store_user_update(tp, "usr_nobody", &moved, &WHO, on_rows, &R));
    assert_int_equal(R.ntuples, 0);

    /* agents of a user: created, authorized (a consent), all */
    make_app("app_users_t", "[]");
    make_agent("shark_agent_users_own", "app_users_t", ann, "[]");
    make_agent("shark_agent_users_other", "app_users_t", bob, "[]");
    OK(store_consent_grant(tp, ann, "shark_agent_users_other", "mcp:read", &WHO, on_rows, &R));
    char consent[64];
    snprintf(consent, sizeof(consent), "%s", col("id"));
    assert_true(strncmp(consent, "cns_", 4) == 0);
    OK(store_user_agents(tp, ann, "created", page(10, 0), on_rows, &R));
    assert_string_equal(col("total"), "1");
    json_t *b = js(col("data"));
    assert_string_equal(jstr(json_array_get(b, 0), "id"), "shark_agent_users_own");
    json_decref(b);
    OK(store_user_agents(tp, ann, "authorized", page(10, 0), on_rows, &R));
    assert_string_equal(col("total"), "1");
    b = js(col("data"));
    assert_string_equal(jstr(json_array_get(b, 0), "id"), "shark_agent_users_other");
    json_decref(b);
    OK(store_user_agents(tp, ann, "all", page(10, 0), on_rows, &R));
    assert_string_equal(col("total"), "2");
    OK(store_user_agents(tp, "usr_nobody", "all", page(10, 0), on_rows, &R));
    assert_int_equal(R.ntuples, 0);

    /* consents: listed, revoked once with the tokens its client holds for the user */
    OK(store_user_consents(tp, ann, page(10, 0), on_rows, &R));
    assert_string_equal(col("total"), "1");
    b = js(col("data"));
    json_t *c0 = json_array_get(b, 0);
    assert_string_equal(jstr(c0, "id"), consent);
    assert_string_equal(json_string_value(json_array_get(json_object_get(c0, "scopes"), 0)),
                        "mcp:read");
    json_decref(b);
    OK(store_user_consents(tp, "usr_nobody", page(10, 0), on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    issue_token("tok_users_for_ann", "shark_agent_users_other", ann, NULL);
    issue_token("tok_users_for_bob", "shark_agent_users_other", bob, NULL);
    OK(store_consent_revoke(tp, bob, consent, &WHO, on_rows, &R)); /* not bob's */
    assert_string_equal(col("revoked"), "0");
    OK(store_consent_revoke(tp, ann, consent, &WHO, on_rows, &R));
    assert_string_equal(col("revoked"), "1");
    OK(store_consent_revoke(tp, ann, consent, &WHO, on_rows, &R));
    assert_string_equal(col("revoked"), "0");
    assert_false(token_active("tok_users_for_ann"));
    assert_true(token_active("tok_users_for_bob"));
    assert_string_equal(sql1("SELECT metadata->>'revoked_token_count' FROM audit_events "
                             "WHERE event = 'user.consent_revoked' AND target_id = '%s'",
                             consent),
                        "1");

    /* Layer 3: a refused id changes nothing; then all of ann's agents */
    issue_token("tok_users_own", "shark_agent_users_own", ann, NULL);
    OK(store_user_revoke_agents(tp, ann, "[\"shark_agent_users_own\", \"shark_agent_nope\"]", "r",
                                0, &WHO, on_rows, &R));
    assert_string_equal(col("found"), "true");
    assert_string_equal(col("refused"), "[\"shark_agent_nope\"]");
    assert_true(token_active("tok_users_own"));
    OK(store_user_revoke_agents(tp, ann, NULL, "cancelled", 1, &WHO, on_rows, &R)); /* dry */
    b = js(col("body"));
    assert_int_equal(jint(b, "revoked_token_count"), 1);
    assert_int_equal(jint(b, "disabled_count"), 1);
    json_decref(b);
    assert_true(token_active("tok_users_own"));
    assert_string_equal(sql1("SELECT status FROM oauth_clients WHERE client_id = "
                             "'shark_agent_users_own'"),
                        "active");
    OK(store_user_revoke_agents(tp, ann, NULL, "cancelled", 0, &WHO, on_rows, &R));
    assert_string_equal(col("refused"), "[]");
    b = js(col("body"));
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(b, "revoked_agent_ids"), 0)),
        "shark_agent_users_own");
    assert_int_equal(json_array_size(json_object_get(b, "revoked_agent_ids")), 1);
    assert_int_equal(jint(b, "revoked_consent_count"), 0);
    assert_true(strncmp(jstr(b, "audit_event_id"), "audit_", 6) == 0);
    json_decref(b);
    assert_false(token_active("tok_users_own"));
    assert_string_equal(sql1("SELECT status FROM oauth_clients WHERE client_id = "
                             "'shark_agent_users_own'"),
                        "disabled");
    assert_string_equal(sql1("SELECT status FROM oauth_clients WHERE client_id = "
                             "'shark_agent_users_other'"),
                        "active");
    OK(store_user_revoke_agents(tp, "usr_nobody", NULL, NULL, 0, &WHO, on_rows, &R));
    assert_string_equal(col("found"), "false");

    /* delete: the user's tokens die, agents they created stay without them */
    issue_token("tok_users_bob_own", "shark_agent_users_other", bob, NULL);
    OK(store_user_delete(tp, bob, &WHO, on_rows, &R));
    assert_string_equal(col("deleted"), "1");
    OK(store_user_delete(tp, bob, &WHO, on_rows, &R));
    assert_string_equal(col("deleted"), "0");
    assert_false(token_active("tok_users_bob_own"));
    assert_false(token_active("tok_users_for_bob"));
    OK(store_agent_get(tp, "shark_agent_users_other", on_rows, &R));
    json_t *a = js(col("agent"));
    assert_true(json_is_null(json_object_get(a, "created_by")));
    json_decref(a);
    tp_close();
}

/* ---- store/agents.c ---- */

static void test_store_apps_and_agents(void **state)
{
    char owner[64];
    (void)state;
    tp_open();
    make_user("agents.owner@example.test", owner);

    /* apps */
    make_app("app_st_agents", "[\"mcp:read\", \"mcp:write\"]");
    json_t *a = js(col("app"));
    assert_string_equal(jstr(a, "id"), "app_st_agents");
    assert_int_equal(json_array_size(json_object_get(a, "scopes")), 2);
    json_decref(a);
    store_app_in again = {.id = "app_st_agents", .name = "x"};
    DO(store_app_create(tp, &again, &WHO, on_rows, &R));
    assert_int_equal(R.err, STORE_ECONFLICT);
    OK(store_app_get(tp, "app_st_agents", on_rows, &R));
    assert_int_equal(R.ntuples, 1);
    OK(store_app_get(tp, "app_nope", on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    OK(store_app_list(tp, page(1, 0), on_rows, &R));
    json_t *d = js(col("data"));
    assert_int_equal(json_array_size(d), 1);
    json_decref(d);
    assert_true(atoi(col("total")) >= 1);
    store_app_in rename = {.id = "app_st_agents", .name = "renamed"};
    OK(store_app_update(tp, &rename, &WHO, on_rows, &R));
    a = js(col("app"));
    assert_string_equal(jstr(a, "name"), "renamed");
    assert_int_equal(json_array_size(json_object_get(a, "scopes")), 2); /* kept */
    json_decref(a);
    rename.id = "app_nope";
    OK(store_app_update(tp, &rename, &WHO, on_rows, &R));
    assert_int_equal(R.ntuples, 0);

    /* agent create: unknown app, unknown user, scopes outside the app's */
    store_agent_in in = {.id = "shark_agent_st_x",
                         .app_id = "app_nope",
                         .name = "x",
                         .scopes = "[]",
                         .grant_types = "[\"client_credentials\"]",
                         .secret_hash = "h"};
    OK(store_agent_create(tp, &in, &WHO, on_rows, &R));
    assert_string_equal(col("app_found"), "false");
    assert_null(col("agent"));
    in.app_id = "app_st_agents";
    in.created_by = "usr_nobody";
    OK(store_agent_create(tp, &in, &WHO, on_rows, &R));
    assert_string_equal(col("user_found"), "false");
    assert_null(col("agent"));
    in.created_by = owner;
    in.scopes = "[\"admin:all\"]";
    OK(store_agent_create(tp, &in, &WHO, on_rows, &R));
    assert_string_equal(col("scopes_ok"), "false");
    assert_null(col("agent"));
    assert_string_equal(sql1("SELECT count(*) FROM oauth_clients WHERE client_id = "
                             "'shark_agent_st_x'"),
                        "0");
    make_agent("shark_agent_st_a", "app_st_agents", owner, "[\"mcp:read\"]");
    make_agent("shark_agent_st_b", "app_st_agents", NULL, "[\"mcp:write\"]");
    in.scopes = "[]";
    in.id = "shark_agent_st_a";
    DO(store_agent_create(tp, &in, &WHO, on_rows, &R));
    assert_int_equal(R.err, STORE_ECONFLICT);

    /* list and get */
    OK(store_agent_list(tp, "app_st_agents", NULL, NULL, page(10, 0), on_rows, &R));
    assert_string_equal(col("total"), "2");
    OK(store_agent_list(tp, "app_st_agents", owner, "active", page(10, 0), on_rows, &R));
    assert_string_equal(col("total"), "1");
    d = js(col("data"));
    assert_string_equal(jstr(json_array_get(d, 0), "id"), "shark_agent_st_a");
    json_decref(d);
    OK(store_agent_get(tp, "shark_agent_st_b", on_rows, &R));
    a = js(col("agent"));
    assert_string_equal(jstr(a, "app_id"), "app_st_agents");
    assert_true(json_is_null(json_object_get(a, "created_by")));
    json_decref(a);
    OK(store_agent_get(tp, "app_st_agents", on_rows, &R)); /* not an agent id */
    assert_int_equal(R.ntuples, 0);

    /* tokens, Layer 2, rotations */
    issue_token("tok_st_a1", "shark_agent_st_a", NULL, "jkt-one");
    issue_token("tok_st_a2", "shark_agent_st_a", NULL, NULL);
    OK(store_agent_tokens(tp, "shark_agent_st_a", page(100, 0), on_rows, &R));
    assert_string_equal(col("total"), "2");
    assert_null(col("next"));
    OK(store_agent_tokens(tp, "shark_agent_st_a", page(1, 0), on_rows, &R));
    assert_string_equal(col("total"), "2");
    assert_non_null(col("next"));
    OK(store_agent_tokens(tp, "shark_agent_nope", page(100, 0), on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    /* the next page from the position the first one ends at; no total unless asked */
    store_page_q q = {.limit = 1};
    OK(store_agent_tokens(tp, "shark_agent_st_a", &q, on_rows, &R));
    assert_null(col("total"));
    char pos[128];
    snprintf(pos, sizeof(pos), "%s", col("next"));
    json_t *one = js(col("data"));
    char first[64];
    snprintf(first, sizeof(first), "%s", jstr(json_array_get(one, 0), "token_id"));
    json_decref(one);
    char *sp = strchr(pos, ' ');
    assert_non_null(sp);
    *sp = '\0';
    q.after_ts = pos;
    q.after_id = sp + 1;
    assert_string_equal(q.after_id, first);
    OK(store_agent_tokens(tp, "shark_agent_st_a", &q, on_rows, &R));
    assert_null(col("next"));
    one = js(col("data"));
    assert_int_equal(json_array_size(one), 1);
    assert_true(strcmp(jstr(json_array_get(one, 0), "token_id"), first) != 0);
    json_decref(one);
    OK(store_agent_rotate_secret(tp, "shark_agent_st_a", "new-hash", 60, &WHO, on_rows, &R));
    assert_non_null(col("rotated_at"));
    assert_string_equal(sql1("SELECT secret_hash || '|' || prev_secret_hash FROM oauth_clients "
                             "WHERE client_id = 'shark_agent_st_a'"),
                        "new-hash|hash-of-secret");
    OK(store_agent_rotate_secret(tp, "shark_agent_st_a", "newer-hash", 0, &WHO, on_rows, &R));
    assert_string_equal(sql1("SELECT secret_hash || '|' || coalesce(prev_secret_hash, 'none') "
                             "FROM oauth_clients WHERE client_id = 'shark_agent_st_a'"),
                        "newer-hash|none");
    OK(store_agent_rotate_secret(tp, "shark_agent_nope", "h", 0, &WHO, on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    OK(store_agent_rotate_dpop(tp, "shark_agent_st_a", "jkt-two", "lost", 0, &WHO, on_rows, &R));
    assert_string_equal(col("old_jkt"), "");
    assert_string_equal(col("revoked_token_count"), "1"); /* the one bound to jkt-one */
    assert_true(strncmp(col("audit_event_id"), "audit_", 6) == 0);
    assert_false(token_active("tok_st_a1"));
    assert_true(token_active("tok_st_a2"));
    OK(store_agent_rotate_dpop(tp, "shark_agent_st_a", "jkt-three", NULL, 0, &WHO, on_rows, &R));
    assert_string_equal(col("old_jkt"), "jkt-two");
    OK(store_agent_revoke_all(tp, "shark_agent_st_a", 1, &WHO, on_rows, &R)); /* dry run */
    assert_string_equal(col("revoked_count"), "1");
    assert_true(token_active("tok_st_a2"));
    OK(store_agent_revoke_all(tp, "shark_agent_st_a", 0, &WHO, on_rows, &R));
    assert_string_equal(col("revoked_count"), "1");
    assert_false(token_active("tok_st_a2"));
    OK(store_agent_revoke_all(tp, "shark_agent_st_a", 0, &WHO, on_rows, &R));
    assert_string_equal(col("revoked_count"), "0"); /* the watermark covers it already */
    OK(store_agent_revoke_all(tp, "shark_agent_nope", 0, &WHO, on_rows, &R));
    assert_int_equal(R.ntuples, 0);

    /* update: scopes bounded by the app; disabling revokes */
    issue_token("tok_st_b1", "shark_agent_st_b", NULL, NULL);
    store_agent_in up = {.id = "shark_agent_st_b", .scopes = "[\"root:all\"]"};
    OK(store_agent_update(tp, &up, &WHO, on_rows, &R));
    assert_string_equal(col("scopes_ok"), "false");
    assert_null(col("agent"));
    up.scopes = NULL;
    up.status = "disabled";
    up.name = "b renamed";
    OK(store_agent_update(tp, &up, &WHO, on_rows, &R));
    assert_string_equal(col("scopes_ok"), "true");
    a = js(col("agent"));
    assert_string_equal(jstr(a, "status"), "disabled");
    assert_string_equal(jstr(a, "name"), "b renamed");
    json_decref(a);
    assert_false(token_active("tok_st_b1"));
    up.id = "shark_agent_nope";
    OK(store_agent_update(tp, &up, &WHO, on_rows, &R));
    assert_int_equal(R.ntuples, 0);

    /* app delete: kept while it has agents, unless cascading */
    OK(store_app_delete(tp, "app_st_agents", 0, &WHO, on_rows, &R));
    assert_string_equal(col("found"), "true");
    assert_string_equal(col("agents"), "2");
    assert_string_equal(col("deleted"), "false");
    issue_token("tok_st_a3", "shark_agent_st_a", NULL, NULL);
    OK(store_app_delete(tp, "app_st_agents", 1, &WHO, on_rows, &R));
    assert_string_equal(col("deleted"), "true");
    assert_false(token_active("tok_st_a3"));
    assert_string_equal(sql1("SELECT status || '|' || coalesce(app_id, 'none') FROM "
                             "oauth_clients WHERE client_id = 'shark_agent_st_a'"),
                        "disabled|none");
    OK(store_app_delete(tp, "app_st_agents", 1, &WHO, on_rows, &R));
    assert_string_equal(col("found"), "false");

    /* agent delete */
    issue_token("tok_st_a4", "shark_agent_st_a", NULL, NULL);
    OK(store_agent_delete(tp, "shark_agent_st_a", &WHO, on_rows, &R));
    assert_int_equal(R.ntuples, 1);
    assert_string_equal(sql1("SELECT count(*) FROM oauth_clients WHERE client_id = "
                             "'shark_agent_st_a'"),
                        "0");
    /* by a watermark, not by rewriting the token's row */
    assert_false(token_active("tok_st_a4"));
    assert_string_equal(sql1("SELECT (revoked_at IS NULL)::text || '|' || (SELECT count(*) FROM "
                             "revocation_watermarks WHERE kind = 'client' AND subject_id = "
                             "'shark_agent_st_a') FROM oauth_tokens WHERE jti = 'tok_st_a4'"),
                        "true|1");
    OK(store_agent_delete(tp, "shark_agent_st_a", &WHO, on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    tp_close();
}

/* ---- store/auth.c ---- */

static void test_store_accounts_and_sessions(void **state)
{
    (void)state;
    tp_open();
    OK(store_auth_signup(tp, "usr_st_signup", "Signup@Example.test", NULL, "argon-hash", &WHO,
                         on_rows, &R));
    json_t *u = js(col("user"));
    assert_string_equal(jstr(u, "id"), "usr_st_signup");
    assert_string_equal(jstr(u, "name"), "");
    json_decref(u);
    DO(store_auth_signup(tp, "usr_st_signup2", "signup@example.TEST", "x", "h", &WHO, on_rows, &R));
    assert_int_equal(R.err, STORE_ECONFLICT);
    /* every attempt is counted before the password is checked: the pair
     * (email, address) allows 3 in the window, then refuses */
    for (int i = 1; i <= 3; i++) {
        OK(store_auth_login_begin(tp, "SIGNUP@example.test", "127.0.0.1", 3, 50, 60, on_rows, &R));
        assert_string_equal(val(0, 0), "true");
        assert_string_equal(val(0, 1), "usr_st_signup");
        assert_string_equal(val(0, 2), "argon-hash");
        assert_int_equal(atoi(val(0, 3)), i);
        OK(store_auth_login_end(tp, "signup@example.test", "127.0.0.1", "usr_st_signup", 0, i,
                                i == 3, "req-st", on_rows, &R));
    }
    OK(store_auth_login_begin(tp, "signup@example.test", "127.0.0.1", 3, 50, 60, on_rows, &R));
    assert_string_equal(val(0, 0), "false");
    /* another address is its own pair; unknown emails are counted alike */
    OK(store_auth_login_begin(tp, "signup@example.test", "10.9.9.9", 3, 50, 60, on_rows, &R));
    assert_string_equal(val(0, 0), "true");
    OK(store_auth_login_end(tp, "signup@example.test", "10.9.9.9", "usr_st_signup", 1, 1, 0,
                            "req-st", on_rows, &R));
    OK(store_auth_login_begin(tp, "nobody@example.test", "127.0.0.1", 3, 50, 60, on_rows, &R));
    assert_string_equal(val(0, 0), "true");
    assert_null(val(0, 1));
    assert_string_equal(sql1("SELECT string_agg(event, ',' ORDER BY created_at, id) FROM "
                             "audit_events WHERE target_id = 'usr_st_signup'"),
                        "user.signed_up,user.login_failed,user.login_failed,user.login_failed,"
                        "user.locked,user.login");

    /* sessions */
    OK(store_session_create(tp, "sess_hash_1", "ses_st_1", "usr_st_signup", "csrf-1", 600, 3600,
                            "127.0.0.1", "agent/1", on_rows, &R));
    OK(store_session_create(tp, "sess_hash_2", "ses_st_2", "usr_st_signup", "csrf-2", 600, 3600,
                            NULL, NULL, on_rows, &R));
    OK(store_session_create(tp, "sess_hash_idle", "ses_st_idle", "usr_st_signup", "csrf-3", 0, 3600,
                            NULL, NULL, on_rows, &R));
    DO(store_session_create(tp, "sess_hash_x", "ses_st_1", "usr_st_signup", "c", 600, 3600, NULL,
                            NULL, on_rows, &R)); /* public ids are unique */
    assert_int_equal(R.err, STORE_ECONFLICT);
    OK(store_session_get(tp, "sess_hash_1", 600, on_rows, &R));
    assert_int_equal(R.ntuples, 1);
    assert_string_equal(val(0, 0), "true");
    assert_string_equal(val(0, 1), "usr_st_signup");
    assert_string_equal(val(0, 2), "ses_st_1");
    assert_string_equal(val(0, 3), "csrf-1");
    assert_true(atoll(val(0, 4)) > 0);
    assert_string_equal(val(0, 5), "Signup@Example.test");
    OK(store_session_get(tp, "sess_hash_idle", 600, on_rows, &R));
    assert_string_equal(val(0, 0), "false"); /* idle expiry passed */
    OK(store_session_get(tp, "sess_hash_none", 600, on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    OK(store_session_list(tp, "usr_st_signup", page(100, 0), on_rows, &R));
    json_t *l = js(val(0, 0));
    assert_int_equal(json_array_size(l), 2); /* not the idle one */
    json_decref(l);
    OK(store_session_end_public(tp, "usr_someone", "ses_st_2", on_rows, &R));
    assert_string_equal(val(0, 0), "0");
    OK(store_session_end_public(tp, "usr_st_signup", "ses_st_2", on_rows, &R));
    assert_string_equal(val(0, 0), "1");
    OK(store_session_end(tp, "sess_hash_1", on_rows, &R));
    assert_string_equal(val(0, 0), "1");
    OK(store_session_end(tp, "sess_hash_1", on_rows, &R));
    assert_string_equal(val(0, 0), "0");
    OK(store_session_get(tp, "sess_hash_1", 600, on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    OK(store_session_list(tp, "usr_st_signup", page(100, 0), on_rows, &R));
    assert_string_equal(val(0, 0), "[]");

    OK(store_user_claims(tp, "usr_st_signup", on_rows, &R));
    u = js(val(0, 0));
    assert_string_equal(jstr(u, "sub"), "usr_st_signup");
    assert_string_equal(jstr(u, "email"), "Signup@Example.test");
    json_decref(u);
    OK(store_user_claims(tp, "usr_nobody", on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    tp_close();
}

static void test_store_requests_consents_codes(void **state)
{
    (void)state;
    tp_open();
    OK(store_auth_signup(tp, "usr_st_flow", "flow@example.test", "F", "h", &WHO, on_rows, &R));
    make_app("app_st_flow", "[]");
    make_agent("shark_agent_st_flow", "app_st_flow", NULL, "[]");

    /* authorization requests: live once, until used or expired */
    OK(store_authreq_create(tp, "areq_st_1", "shark_agent_st_flow", "{\"scope\": \"a\"}", 1, 60,
                            on_rows, &R));
    OK(store_authreq_create(tp, "areq_st_old", "shark_agent_st_flow", "{}", 0, 0, on_rows, &R));
    DO(store_authreq_create(tp, "areq_st_2", "no_such_client", "{}", 0, 60, on_rows, &R));
    assert_int_equal(R.err, STORE_EINVALID);
    OK(store_authreq_get(tp, "areq_st_1", on_rows, &R));
    assert_string_equal(val(0, 0), "shark_agent_st_flow");
    json_t *pj = js(val(0, 1));
    assert_string_equal(jstr(pj, "scope"), "a");
    json_decref(pj);
    assert_string_equal(val(0, 2), "true");
    OK(store_authreq_get(tp, "areq_st_old", on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    OK(store_authreq_consume(tp, "areq_st_old", on_rows, &R));
    assert_string_equal(val(0, 0), "0");
    OK(store_authreq_consume(tp, "areq_st_1", on_rows, &R));
    assert_string_equal(val(0, 0), "1");
    OK(store_authreq_consume(tp, "areq_st_1", on_rows, &R));
    assert_string_equal(val(0, 0), "0");
    OK(store_authreq_get(tp, "areq_st_1", on_rows, &R));
    assert_int_equal(R.ntuples, 0);

    /* consents: granting again adds to the one live consent */
    OK(store_consent_get(tp, "usr_st_flow", "shark_agent_st_flow", on_rows, &R));
    assert_int_equal(R.ntuples, 1);
    assert_null(val(0, 0));
    OK(store_consent_grant(tp, "usr_st_flow", "shark_agent_st_flow", "a b", &WHO, on_rows, &R));
    char cid[64];
    snprintf(cid, sizeof(cid), "%s", col("id"));
    OK(store_consent_grant(tp, "usr_st_flow", "shark_agent_st_flow", "b c", &WHO, on_rows, &R));
    assert_string_equal(col("id"), cid);
    assert_string_equal(sql1("SELECT array_to_string(ARRAY(SELECT unnest(scopes) ORDER BY 1), "
                             "' ') FROM consents WHERE id = '%s'",
                             cid),
                        "a b c");
    OK(store_consent_get(tp, "usr_st_flow", "shark_agent_st_flow", on_rows, &R));
    assert_non_null(val(0, 0));
    assert_int_equal((int)strlen(val(0, 0)), 5);
    assert_string_equal(sql1("SELECT count(*) FROM audit_events WHERE event = "
                             "'user.consent_granted' AND actor_id = 'usr_st_flow'"),
                        "2");

    /* codes: redeemed once; a replay revokes what the first produced */
    int64_t at = (int64_t)time(NULL) - 5;
    store_code c = {.code_hash = "code_hash_st_1",
                    .client_id = "shark_agent_st_flow",
                    .user_id = "usr_st_flow",
                    .redirect_uri = "https://a.example/cb",
                    .scope = "a b",
                    .challenge = "chal",
                    .nonce = "n-1",
                    .auth_time = at,
                    .ttl_s = 60};
    OK(store_code_create(tp, &c, on_rows, &R));
    OK(store_code_redeem(tp, "code_hash_st_1", "tok_st_code", "fam_st_code", on_rows, &R));
    assert_int_equal(R.ntuples, 1);
    assert_string_equal(val(0, 0), "false"); /* reused */
    assert_string_equal(val(0, 1), "false"); /* expired */
    assert_string_equal(val(0, 2), "shark_agent_st_flow");
    assert_string_equal(val(0, 3), "usr_st_flow");
    assert_string_equal(val(0, 4), "https://a.example/cb");
    assert_string_equal(val(0, 5), "a b");
    assert_string_equal(val(0, 6), "chal");
    assert_string_equal(val(0, 7), "n-1");
    assert_null(val(0, 8));
    assert_int_equal(atoll(val(0, 9)), at);
    issue_token("tok_st_code", "shark_agent_st_flow", "usr_st_flow", NULL);
    store_refresh rt = {.token_hash = "rt_hash_st_code",
                        .family_id = "fam_st_code",
                        .client_id = "shark_agent_st_flow",
                        .user_id = "usr_st_flow",
                        .subject = "usr_st_flow",
                        .scope = "a b",
                        .auth_time = at,
                        .ttl_s = 600};
    OK(store_refresh_create(tp, &rt, on_rows, &R));
    OK(store_code_confirm(tp, "code_hash_st_1", on_rows, &R));
    assert_string_equal(col("replayed"), "false");
    OK(store_code_redeem(tp, "code_hash_st_1", "tok_st_code_2", "fam_st_code_2", on_rows, &R));
    assert_string_equal(val(0, 0), "true");
    assert_string_equal(val(0, 10), "2"); /* the access token and the refresh token */
    assert_false(token_active("tok_st_code"));
    OK(store_refresh_peek(tp, "rt_hash_st_code", on_rows, &R));
    assert_string_equal(val(0, 0), "true");
    OK(store_code_confirm(tp, "code_hash_st_1", on_rows, &R));
    assert_string_equal(col("replayed"), "true");
    OK(store_code_redeem(tp, "code_hash_none", "j", "f", on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    OK(store_code_confirm(tp, "code_hash_none", on_rows, &R));
    assert_string_equal(col("replayed"), "true"); /* unknown: never hand out tokens */
    c.code_hash = "code_hash_st_old";
    c.ttl_s = 0;
    OK(store_code_create(tp, &c, on_rows, &R));
    OK(store_code_redeem(tp, "code_hash_st_old", "j2", "f2", on_rows, &R));
    assert_string_equal(val(0, 1), "true");
    tp_close();
}

static void test_store_refresh_tokens(void **state)
{
    (void)state;
    tp_open();
    int64_t at = (int64_t)time(NULL) - 60;
    store_refresh r1 = {.token_hash = "rt_st_1",
                        .family_id = "fam_st_r",
                        .client_id = "cl_r",
                        .user_id = "usr_r",
                        .subject = "usr_r",
                        .scope = "s",
                        .jkt = "jkt-r",
                        .audience = "https://rs.example",
                        .auth_time = at,
                        .ttl_s = 600};
    OK(store_refresh_create(tp, &r1, on_rows, &R));
    DO(store_refresh_create(tp, &r1, on_rows, &R));
    assert_int_equal(R.err, STORE_ECONFLICT);
    OK(store_refresh_peek(tp, "rt_st_1", on_rows, &R));
    assert_string_equal(val(0, 0), "false");
    assert_string_equal(val(0, 1), "false");
    assert_string_equal(val(0, 2), "fam_st_r");
    assert_string_equal(val(0, 3), "cl_r");
    assert_string_equal(val(0, 4), "usr_r");
    assert_string_equal(val(0, 5), "usr_r");
    assert_string_equal(val(0, 6), "s");
    assert_string_equal(val(0, 7), "jkt-r");
    assert_string_equal(val(0, 8), "https://rs.example");
    assert_int_equal(atoll(val(0, 9)), at);
    OK(store_refresh_peek(tp, "rt_st_none", on_rows, &R));
    assert_int_equal(R.ntuples, 0);

    /* rotation: used once; using it again revokes the family (its successor) */
    OK(store_refresh_use(tp, "rt_st_1", on_rows, &R));
    assert_string_equal(col("used"), "1");
    OK(store_refresh_peek(tp, "rt_st_1", on_rows, &R));
    assert_string_equal(val(0, 0), "true");
    store_refresh r2 = r1;
    r2.token_hash = "rt_st_2";
    OK(store_refresh_create(tp, &r2, on_rows, &R));
    OK(store_refresh_use(tp, "rt_st_1", on_rows, &R));
    assert_string_equal(col("used"), "0");
    OK(store_refresh_peek(tp, "rt_st_2", on_rows, &R));
    assert_string_equal(val(0, 0), "true");
    OK(store_refresh_use(tp, "rt_st_2", on_rows, &R));
    assert_string_equal(col("used"), "0");

    store_refresh old = r1;
    old.token_hash = "rt_st_old";
    old.family_id = "fam_st_old";
    old.ttl_s = 0;
    OK(store_refresh_create(tp, &old, on_rows, &R));
    OK(store_refresh_peek(tp, "rt_st_old", on_rows, &R));
    assert_string_equal(val(0, 1), "true");

    /* RFC 7009: by its client (or the admin, NULL) the whole family goes */
    store_refresh g1 = r1, g2 = r1;
    g1.token_hash = "rt_st_g1";
    g1.family_id = "fam_st_g";
    g2.token_hash = "rt_st_g2";
    g2.family_id = "fam_st_g";
    OK(store_refresh_create(tp, &g1, on_rows, &R));
    OK(store_refresh_create(tp, &g2, on_rows, &R));
    OK(store_refresh_revoke(tp, "rt_st_g1", "another_client", "req_r", NULL, on_rows, &R));
    assert_string_equal(col("found"), "false");
    OK(store_refresh_peek(tp, "rt_st_g2", on_rows, &R));
    assert_string_equal(val(0, 0), "false");
    OK(store_refresh_revoke(tp, "rt_st_g1", "cl_r", "req_r", "127.0.0.1", on_rows, &R));
    assert_string_equal(col("found"), "true");
    OK(store_refresh_peek(tp, "rt_st_g2", on_rows, &R));
    assert_string_equal(val(0, 0), "true");
    assert_string_equal(sql1("SELECT actor_id || '|' || actor_type FROM audit_events WHERE "
                             "event = 'oauth.token_revoked' AND target_id = 'fam_st_g'"),
                        "cl_r|client");
    OK(store_refresh_revoke(tp, "rt_st_none", NULL, NULL, NULL, on_rows, &R));
    assert_string_equal(col("found"), "false");
    tp_close();
}

/* ---- store/revoke.c ---- */

static void test_store_revoke_layer4_and_feed(void **state)
{
    (void)state;
    tp_open();
    make_app("app_st_l4", "[]");
    make_agent("shark_agent_l4_v1_a", "app_st_l4", NULL, "[]");
    make_agent("shark_agent_l4_v1_b", "app_st_l4", NULL, "[]");
    make_agent("shark_agent_l4_v2_a", "app_st_l4", NULL, "[]");
    make_agent("shark_agent_l4%_x", "app_st_l4", NULL, "[]");

    OK(store_revoke_candidates(tp, "shark_agent_l4_v1_", on_rows, &R));
    assert_int_equal(R.ntuples, 2);
    assert_string_equal(val(0, 0), "shark_agent_l4_v1_a");
    assert_string_equal(val(1, 0), "shark_agent_l4_v1_b");
    OK(store_revoke_candidates(tp, "shark_agent_l4%", on_rows, &R)); /* no wildcard */
    assert_int_equal(R.ntuples, 1);
    assert_string_equal(val(0, 0), "shark_agent_l4%_x");

    issue_token("tok_l4_1", "shark_agent_l4_v1_a", NULL, NULL);
    issue_token("tok_l4_2", "shark_agent_l4_v1_a", NULL, NULL);
    issue_token("tok_l4_3", "shark_agent_l4_v1_b", NULL, NULL);
    issue_token("tok_l4_4", "shark_agent_l4_v2_a", NULL, NULL);
    char since[64];
    snprintf(since, sizeof(since), "%s",
             sql1("SELECT to_char(now() AT TIME ZONE 'UTC', "
                  "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"));
    OK(store_revoke_clients(tp, "[\"shark_agent_l4_v1_a\", \"shark_agent_l4_v1_b\"]",
                            "shark_agent_l4_v1_*", "rollback", 0, &WHO, on_rows, &R));
    assert_string_equal(col("revoked_count"), "3");
    char ev[64];
    snprintf(ev, sizeof(ev), "%s", col("audit_event_id"));
    assert_true(strncmp(ev, "audit_", 6) == 0);
    assert_false(token_active("tok_l4_1"));
    assert_false(token_active("tok_l4_3"));
    assert_true(token_active("tok_l4_4"));
    assert_string_equal(sql1("SELECT (metadata->>'matched_client_count') || '|' || "
                             "(metadata->>'pattern') FROM audit_events WHERE id = '%s'",
                             ev),
                        "2|shark_agent_l4_v1_*");
    OK(store_revoke_clients(tp, "[\"shark_agent_l4_v1_a\"]", "p", "again", 0, &WHO, on_rows, &R));
    assert_string_equal(col("revoked_count"), "0");

    /* the feed: in (revoked_at, jti) order, paged exactly */
    OK(store_revocations(tp, since, NULL, page(100, 0), on_rows, &R));
    json_t *data = js(col("data"));
    int seen = 0;
    for (size_t i = 0; i < json_array_size(data); i++) {
        const char *j = jstr(json_array_get(data, i), "jti");
        seen += strncmp(j, "tok_l4_", 7) == 0;
        assert_true(strcmp(j, "tok_l4_4") != 0);
    }
    assert_int_equal(seen, 3);
    json_decref(data);
    char cursor[64] = "", after[64] = "";
    int paged = 0;
    for (int i = 0; i < 20; i++) {
        OK(store_revocations(tp, i ? cursor : since, i ? after : NULL, page(1, 0), on_rows, &R));
        json_t *b = js(col("extra"));
        data = js(col("data"));
        if (json_array_size(data) == 0) {
            assert_true(json_is_null(json_object_get(b, "next_since")));
            json_decref(b);
            json_decref(data);
            break;
        }
        assert_int_equal(json_array_size(data), 1);
        paged += strncmp(jstr(json_array_get(data, 0), "jti"), "tok_l4_", 7) == 0;
        snprintf(cursor, sizeof(cursor), "%s", jstr(b, "next_since"));
        snprintf(after, sizeof(after), "%s", jstr(b, "next_after_jti"));
        json_decref(b);
        json_decref(data);
    }
    assert_int_equal(paged, 3);
    DO(store_revocations(tp, "not a time", NULL, page(10, 0), on_rows, &R));
    assert_int_equal(R.err, STORE_EINVALID);
    tp_close();
}

/* ---- store/vault.c ---- */

static int resealed;
static char last_ad[256];

/* A reseal that keeps the box as it is and records the AD it was given. */
static long reseal_same(void *ud, const uint8_t *box, size_t n, const char *ad, uint8_t *out,
                        size_t outsz)
{
    (void)ud;
    if (n > outsz)
        return -1;
    memcpy(out, box, n);
    resealed++;
    if (strchr(ad, '|') != NULL)
        snprintf(last_ad, sizeof(last_ad), "%s", ad);
    return (long)n;
}

static long reseal_fail(void *ud, const uint8_t *box, size_t n, const char *ad, uint8_t *out,
                        size_t outsz)
{
    (void)ud, (void)box, (void)n, (void)ad, (void)out, (void)outsz;
    return -1;
}

static void test_store_vault(void **state)
{
    char owner[64], other[64];
    (void)state;
    tp_open();
    make_user("vault.owner@example.test", owner);
    make_user("vault.other@example.test", other);

    /* providers: custom ones change freely; a built-in keeps its endpoints */
    store_vault_provider_in pin = {.id = "st_prov",
                                   .name = "St",
                                   .authorize_url = "https://p.example/authorize",
                                   .token_url = "https://p.example/token",
                                   .scopes = "[\"read\", \"write\"]",
                                   .client_id = "cid",
                                   .secret_sealed = "c2VhbGVkLXNlY3JldA=="};
    OK(store_vault_provider_create(tp, &pin, &WHO, on_rows, &R));
    json_t *pj = js(val(0, 0));
    assert_string_equal(jstr(pj, "id"), "st_prov");
    assert_true(json_is_true(json_object_get(pj, "client_secret_set")));
    assert_null(strstr(val(0, 0), "c2VhbGVk"));
    json_decref(pj);
    DO(store_vault_provider_create(tp, &pin, &WHO, on_rows, &R));
    assert_int_equal(R.err, STORE_ECONFLICT);
    store_vault_provider_in bare = {.id = "st_prov_bare",
                                    .name = "Bare",
                                    .authorize_url = "https://b.example/a",
                                    .token_url = "https://b.example/t"};
    OK(store_vault_provider_create(tp, &bare, &WHO, on_rows, &R));
    OK(store_vault_provider_get(tp, "st_prov", on_rows, &R));
    assert_int_equal(R.ntuples, 1);
    OK(store_vault_provider_get(tp, "st_nope", on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    OK(store_vault_provider_list(tp, page(1000, 0), on_rows, &R));
    json_t *items = js(col("data"));
    assert_int_equal((long)json_array_size(items), atol(col("total")));
    json_decref(items);
    store_vault_provider_in pup = {.id = "st_prov", .name = "Renamed"};
    OK(store_vault_provider_update(tp, &pup, false, &WHO, on_rows, &R));
    assert_string_equal(col("found"), "true");
    assert_string_equal(col("allowed"), "true");
    pj = js(col("provider"));
    assert_string_equal(jstr(pj, "name"), "Renamed");
    assert_string_equal(jstr(pj, "token_url"), "https://p.example/token");
    json_decref(pj);
    store_vault_provider_in bup = {.id = "google_gmail", .token_url = "https://evil.example/t"};
    OK(store_vault_provider_update(tp, &bup, true, &WHO, on_rows, &R));
    assert_string_equal(col("allowed"), "false");
    assert_null(col("provider"));
    pup.id = "st_nope";
    OK(store_vault_provider_update(tp, &pup, false, &WHO, on_rows, &R));
    assert_string_equal(col("found"), "false");

    /* connections */
    OK(store_vault_conn_prepare(tp, owner, "st_prov", on_rows, &R));
    assert_string_equal(col("user_found"), "true");
    assert_string_equal(col("provider_found"), "true");
    assert_null(col("existing"));
    OK(store_vault_conn_prepare(tp, "usr_nobody", "st_nope", on_rows, &R));
    assert_string_equal(col("user_found"), "false");
    assert_string_equal(col("provider_found"), "false");
    store_vault_conn_in cin = {.id = "conn_st_1",
                               .user_id = owner,
                               .provider_id = "st_prov",
                               .scopes = "[\"read\"]",
                               .access_sealed = "YWNjZXNzLTE=",
                               .refresh_sealed = "cmVmcmVzaC0x",
                               .expires_in = "3600",
                               .actor_id = "admin",
                               .actor_type = "admin"};
    OK(store_vault_conn_upsert(tp, &cin, &WHO, on_rows, &R));
    assert_int_equal(R.ntuples, 1);
    json_t *cj = js(val(0, 0));
    assert_string_equal(jstr(cj, "id"), "conn_st_1");
    assert_true(json_is_false(json_object_get(cj, "needs_reauth")));
    assert_null(strstr(val(0, 0), "YWNjZXNz"));
    json_decref(cj);
    OK(store_vault_conn_prepare(tp, owner, "st_prov", on_rows, &R));
    assert_string_equal(col("existing"), "conn_st_1");
    /* a reconnect replaces the same row's tokens; another id loses the race */
    cin.access_sealed = "YWNjZXNzLTI=";
    cin.refresh_sealed = NULL;
    OK(store_vault_conn_upsert(tp, &cin, &WHO, on_rows, &R));
    assert_int_equal(R.ntuples, 1);
    assert_string_equal(sql1("SELECT encode(access_sealed, 'base64') || '|' || "
                             "encode(refresh_sealed, 'base64') || '|' || refresh_gen FROM "
                             "vault_connections WHERE id = 'conn_st_1'"),
                        "YWNjZXNzLTI=|cmVmcmVzaC0x|1");
    cin.id = "conn_st_racer";
    OK(store_vault_conn_upsert(tp, &cin, &WHO, on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    store_vault_conn_filter by_prov = {.provider_id = "st_prov"};
    OK(store_vault_conn_list(tp, &by_prov, page(10, 0), on_rows, &R));
    assert_string_equal(col("total"), "1");
    store_vault_conn_filter by_user = {.user_id = other};
    OK(store_vault_conn_list(tp, &by_user, page(10, 0), on_rows, &R));
    assert_string_equal(col("total"), "0");
    /* needs_reauth, alone or beside the provider, has its own statement */
    store_vault_conn_filter fresh = {.provider_id = "st_prov", .needs_reauth = "false"};
    OK(store_vault_conn_list(tp, &fresh, page(10, 0), on_rows, &R));
    assert_string_equal(col("total"), "1");
    store_vault_conn_filter stale = {.provider_id = "st_prov", .needs_reauth = "true"};
    OK(store_vault_conn_list(tp, &stale, page(10, 0), on_rows, &R));
    assert_string_equal(col("total"), "0");
    OK(store_vault_conn_get(tp, "conn_st_1", on_rows, &R));
    assert_int_equal(R.ntuples, 1);
    OK(store_vault_conn_get(tp, "conn_nope", on_rows, &R));
    assert_int_equal(R.ntuples, 0);

    /* the agent path: who the token acts for and whether the client is theirs */
    make_app("app_st_vault", "[]");
    make_agent("shark_agent_st_vault", "app_st_vault", owner, "[]");
    make_agent("shark_agent_st_vault_orphan", "app_st_vault", NULL, "[]");
    OK(store_vault_fetch_lookup(tp, "shark_agent_st_vault", "shark_agent_st_vault", "st_prov", 60,
                                on_rows, &R));
    assert_string_equal(val(0, 0), owner);
    assert_string_equal(val(0, 1), "true");
    assert_string_equal(val(0, 2), "conn_st_1");
    assert_string_equal(val(0, 3), "false");
    assert_string_equal(val(0, 4), "YWNjZXNzLTI=");
    assert_string_equal(val(0, 6), "false"); /* not due */
    OK(store_vault_fetch_lookup(tp, "shark_agent_st_vault_orphan", "shark_agent_st_vault_orphan",
                                "st_prov", 60, on_rows, &R));
    assert_null(val(0, 0));
    assert_string_equal(val(0, 1), "false");
    assert_null(val(0, 2));
    OK(store_vault_fetch_lookup(tp, owner, "shark_agent_st_vault_orphan", "st_prov", 60, on_rows,
                                &R)); /* the user's token, but their consent is missing */
    assert_string_equal(val(0, 1), "false");
    OK(store_consent_grant(tp, owner, "shark_agent_st_vault_orphan", "vault:read", &WHO, on_rows,
                           &R));
    OK(store_vault_fetch_lookup(tp, owner, "shark_agent_st_vault_orphan", "st_prov", 60, on_rows,
                                &R));
    assert_string_equal(val(0, 1), "true");
    assert_string_equal(val(0, 2), "conn_st_1");
    OK(store_vault_fetch_lookup(tp, other, "shark_agent_st_vault", "st_prov", 60, on_rows, &R));
    assert_string_equal(val(0, 1), "false");

    /* single-flight refresh: only one claim while due */
    OK(store_vault_refresh_claim(tp, "conn_st_1", 60, on_rows, &R));
    assert_int_equal(R.ntuples, 0);                                /* not due yet */
    OK(store_vault_conn_poll(tp, "conn_st_1", 7200, on_rows, &R)); /* due inside a 2 h skew */
    assert_string_equal(val(0, 3), "true");
    OK(store_vault_refresh_claim(tp, "conn_st_1", 7200, on_rows, &R));
    assert_int_equal(R.ntuples, 1);
    assert_string_equal(val(0, 0), "cmVmcmVzaC0x");
    assert_string_equal(val(0, 1), "https://p.example/token");
    assert_string_equal(val(0, 2), "cid");
    assert_string_equal(val(0, 3), "c2VhbGVkLXNlY3JldA==");
    OK(store_vault_refresh_claim(tp, "conn_st_1", 7200, on_rows, &R));
    assert_int_equal(R.ntuples, 0); /* held */
    OK(store_vault_conn_poll(tp, "conn_st_1", 7200, on_rows, &R));
    assert_string_equal(val(0, 4), "true"); /* refreshing */
    OK(store_vault_refresh_store(tp, "conn_st_1", "YWNjZXNzLTM=", "100000", NULL,
                                 "[\"read\", "
                                 "\"write\"]",
                                 on_rows, &R));
    assert_int_equal(R.ntuples, 1);
    assert_non_null(val(0, 0));
    OK(store_vault_conn_poll(tp, "conn_st_1", 60, on_rows, &R));
    assert_string_equal(val(0, 0), "false");
    assert_string_equal(val(0, 1), "YWNjZXNzLTM=");
    assert_string_equal(val(0, 3), "false");
    assert_string_equal(val(0, 4), "false");
    assert_string_equal(sql1("SELECT encode(refresh_sealed, 'base64') || '|' || "
                             "array_to_string(scopes, ' ') FROM vault_connections WHERE id = "
                             "'conn_st_1'"),
                        "cmVmcmVzaC0x|read write"); /* not rotated: kept */
    OK(store_vault_refresh_store(tp, "conn_nope", "eA==", "1", NULL, NULL, on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    OK(store_vault_refresh_claim(tp, "conn_st_1", 200000, on_rows, &R));
    assert_int_equal(R.ntuples, 1);
    OK(store_vault_refresh_failed(tp, "conn_st_1", true, "invalid_grant", "shark_agent_st_vault",
                                  &WHO, on_rows, &R));
    assert_string_equal(val(0, 0), "1");
    OK(store_vault_conn_poll(tp, "conn_st_1", 200000, on_rows, &R));
    assert_string_equal(val(0, 0), "true"); /* needs_reauth */
    assert_string_equal(val(0, 4), "false");
    OK(store_vault_refresh_claim(tp, "conn_st_1", 200000, on_rows, &R));
    assert_int_equal(R.ntuples, 0); /* never while it needs re-authorisation */
    OK(store_vault_conn_list(tp, &stale, page(10, 0), on_rows, &R));
    assert_string_equal(col("total"), "1");
    OK(store_vault_conn_list(tp, &fresh, page(10, 0), on_rows, &R));
    assert_string_equal(col("total"), "0");
    OK(store_vault_conn_poll(tp, "conn_nope", 60, on_rows, &R));
    assert_int_equal(R.ntuples, 0);

    /* fetch records */
    OK(store_vault_record_fetch(tp, "conn_st_1", "shark_agent_st_vault", false, &WHO, on_rows, &R));
    assert_string_equal(col("found"), "true");
    OK(store_vault_record_fetch(tp, "conn_st_1", "shark_agent_st_vault", true, &WHO, on_rows, &R));
    assert_string_equal(sql1("SELECT fetches FROM vault_access WHERE connection_id = "
                             "'conn_st_1' AND client_id = 'shark_agent_st_vault'"),
                        "2");
    OK(store_vault_record_fetch(tp, "conn_nope", "shark_agent_st_vault", false, &WHO, on_rows, &R));
    assert_string_equal(col("found"), "false");

    /* connect flow states: single use, bound to the user */
    OK(store_vault_state_create(tp, "state_st_1", owner, "st_prov", "verifier-1", on_rows, &R));
    assert_string_equal(val(0, 0), "https://p.example/authorize");
    assert_string_equal(val(0, 1), "cid");
    assert_string_equal(val(0, 2), "read write");
    assert_string_equal(val(0, 4), "true");
    OK(store_vault_state_create(tp, "state_st_bare", owner, "st_prov_bare", "v", on_rows, &R));
    assert_string_equal(val(0, 4), "false"); /* no client_id: nothing stored */
    OK(store_vault_state_create(tp, "state_st_x", owner, "st_nope", "v", on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    OK(store_vault_state_consume(tp, "state_st_1", other, on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    OK(store_vault_state_consume(tp, "state_st_1", owner, on_rows, &R));
    assert_int_equal(R.ntuples, 1);
    assert_string_equal(val(0, 0), "st_prov");
    assert_string_equal(val(0, 1), "verifier-1");
    assert_string_equal(val(0, 2), "true");
    assert_string_equal(val(0, 3), "https://p.example/token");
    assert_string_equal(val(0, 9), "conn_st_1");
    OK(store_vault_state_consume(tp, "state_st_1", owner, on_rows, &R));
    assert_int_equal(R.ntuples, 0);

    /* rekey: every sealed value goes through the function with its AD, in one
     * transaction; a value that does not open changes nothing */
    char before[256];
    snprintf(before, sizeof(before), "%s",
             sql1("SELECT md5(string_agg(encode(access_sealed, 'hex'), ',' ORDER BY id)) FROM "
                  "vault_connections"));
    char err[256] = "";
    resealed = 0;
    long n = store_vault_rekey(conninfo, reseal_same, NULL, err, sizeof(err));
    assert_true(n >= 3); /* the provider's secret and the connection's two tokens */
    assert_int_equal(n, resealed);
    assert_string_equal(last_ad, "conn_st_1|st_prov");
    assert_string_equal(sql1("SELECT md5(string_agg(encode(access_sealed, 'hex'), ',' ORDER BY "
                             "id)) FROM vault_connections"),
                        before);
    err[0] = '\0';
    assert_int_equal(store_vault_rekey(conninfo, reseal_fail, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "does not open"));
    char bad[1400];
    snprintf(bad, sizeof(bad), "host=%s/nonexistent dbname=shark", tmpdir);
    err[0] = '\0';
    assert_int_equal(store_vault_rekey(bad, reseal_same, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "database"));

    /* provider delete: not while connected, never a built-in */
    OK(store_vault_provider_delete(tp, "st_prov", &WHO, on_rows, &R));
    assert_string_equal(col("found"), "true");
    assert_string_equal(col("conns"), "1");
    assert_string_equal(col("deleted"), "false");
    OK(store_vault_provider_delete(tp, "google_gmail", &WHO, on_rows, &R));
    assert_string_equal(col("builtin"), "true");
    assert_string_equal(col("deleted"), "false");

    /* disconnect (Layer 5): the agents that fetched lose their tokens */
    issue_token("tok_st_vault_fetcher", "shark_agent_st_vault", owner, NULL);
    issue_token("tok_st_vault_orphan", "shark_agent_st_vault_orphan", NULL, NULL);
    OK(store_vault_conn_delete(tp, "conn_st_1", true, &WHO, on_rows, &R));
    assert_int_equal(R.ntuples, 1);
    assert_string_equal(val(0, 0), "conn_st_1");
    assert_string_equal(val(0, 1), "[\"shark_agent_st_vault\"]");
    assert_string_equal(val(0, 2), "1");
    assert_true(strncmp(val(0, 3), "audit_", 6) == 0);
    assert_string_equal(val(0, 9), "cmVmcmVzaC0x"); /* for the provider's revocation */
    assert_false(token_active("tok_st_vault_fetcher"));
    assert_true(token_active("tok_st_vault_orphan"));
    OK(store_vault_conn_delete(tp, "conn_st_1", true, &WHO, on_rows, &R));
    assert_int_equal(R.ntuples, 0);
    OK(store_vault_provider_delete(tp, "st_prov", &WHO, on_rows, &R));
    assert_string_equal(col("deleted"), "true");
    OK(store_vault_provider_delete(tp, "st_nope", &WHO, on_rows, &R));
    assert_string_equal(col("found"), "false");
    tp_close();
}

/* ---- audit jti index summary (migration 0044) ---- */

struct summarized {
    bool done;
    int err;
    int64_t n;
};

static void on_summarized(void *ud, PGresult *res, int err, const char *msg)
{
    struct summarized *s = ud;
    (void)msg;
    s->done = true;
    s->err = err;
    s->n = err == STORE_OK ? store_audit_summarized(res) : -1;
}

static int64_t summarize(store_pool *p)
{
    struct summarized s = {0};
    assert_int_equal(store_audit_summarize(p, on_summarized, &s), 0);
    run_until(&s.done, 10000);
    assert_int_equal(s.err, STORE_OK);
    return s.n;
}

/* Token events with time-ordered jtis (as the server's are) after those there. */
static void add_token_events(int from, int to)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO audit_events (id, event, actor_id, actor_type, target_id) "
             "SELECT 'audit_sum' || g, 'oauth.token_issued', 'client_sum', 'agent', "
             "'tok_' || lpad(g::text, 11, '0') || 'AbCdEfGhIjK' FROM generate_series(%d, %d) g",
             from, to);
    admin_query(conninfo, sql, NULL, 0);
}

/* The ranges behind the insert point get summarized, the one being filled
 * and the one before it do not (inserts there would each update its summary);
 * one caller at a time, and a partition another session holds is skipped. */
static void test_audit_summarize(void **state)
{
    store_pool *p = store_pool_new(&loop, pool_conninfo, 1, 5000);
    char idx[128], sql[512], v[64];
    (void)state;
    assert_non_null(p);
    wait_connected(p, 1);
    add_token_events(1, 12000);
    admin_query(conninfo,
                "SELECT i.indexrelid::regclass FROM pg_inherits t "
                "JOIN pg_index i ON i.indexrelid = t.inhrelid "
                "WHERE t.inhparent = 'audit_events_token_target'::regclass AND i.indrelid = "
                "(SELECT tableoid FROM audit_events WHERE actor_id = 'client_sum' LIMIT 1)",
                idx, sizeof(idx));
    assert_true(idx[0] != '\0');
    assert_true(summarize(p) > 0);
    assert_int_equal(summarize(p), 0);

    /* another node's call under way: this one does nothing, at once */
    add_token_events(12001, 16000);
    PGconn *other = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(other), CONNECTION_OK);
    PQclear(PQexec(other, "SELECT pg_advisory_lock(7344)"));
    assert_int_equal(summarize(p), 0);
    PQclear(PQexec(other, "SELECT pg_advisory_unlock(7344)"));
    /* the partition held (as VACUUM holds it): skipped, not waited for */
    PQclear(PQexec(other, "BEGIN"));
    PGresult *r = PQexec(other, "DO $$ BEGIN EXECUTE format('LOCK TABLE %s IN SHARE UPDATE "
                                "EXCLUSIVE MODE', (SELECT tableoid::regclass FROM audit_events "
                                "WHERE actor_id = 'client_sum' LIMIT 1)); END $$");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    assert_int_equal(summarize(p), 0);
    PQclear(PQexec(other, "ROLLBACK")); /* released when it answers */
    PQfinish(other);
    assert_true(summarize(p) > 0);

    /* every range behind the newest row's range and the one before it was done */
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(brin_summarize_range('%s', r * 32)), 0) FROM "
             "generate_series(0, (SELECT max((ctid::text::point)[0])::bigint / 32 - 2 "
             "FROM audit_events WHERE actor_id = 'client_sum')) r",
             idx);
    admin_query(conninfo, sql, v, sizeof(v));
    assert_string_equal(v, "0");
    snprintf(sql, sizeof(sql),
             "SELECT brin_summarize_range('%s', (SELECT max((ctid::text::point)[0])::bigint "
             "FROM audit_events WHERE actor_id = 'client_sum'))",
             idx);
    admin_query(conninfo, sql, v, sizeof(v));
    assert_string_equal(v, "1");
    /* and a jti is still found through the summaries */
    admin_query(conninfo,
                "SET enable_seqscan = off; SELECT count(*) FROM audit_events "
                "WHERE left(target_id, 15) COLLATE \"C\" = left('tok_00000000042AbCdEfGhIjK', 15) "
                "AND target_id = 'tok_00000000042AbCdEfGhIjK' AND event = 'oauth.token_issued'",
                v, sizeof(v));
    assert_string_equal(v, "1");
    admin_query(conninfo, "DELETE FROM audit_events WHERE actor_id = 'client_sum'", NULL, 0);
    close_pool(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate),
        cmocka_unit_test(test_analyze_sample),
        cmocka_unit_test(test_token_batch_refused_record),
        cmocka_unit_test(test_exec),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_queue_limits),
        cmocka_unit_test(test_txn),
        cmocka_unit_test(test_drop),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_close_inflight),
        cmocka_unit_test(test_close_in_callback),
        cmocka_unit_test(test_store_users),
        cmocka_unit_test(test_store_apps_and_agents),
        cmocka_unit_test(test_store_accounts_and_sessions),
        cmocka_unit_test(test_store_requests_consents_codes),
        cmocka_unit_test(test_store_refresh_tokens),
        cmocka_unit_test(test_store_revoke_layer4_and_feed),
        cmocka_unit_test(test_store_vault),
        cmocka_unit_test(test_audit_summarize),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, setup_cluster, teardown_cluster);
}
