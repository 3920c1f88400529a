/*
 * store/ against a real PostgreSQL: an embedded cluster in a temporary
 * directory, migrations, and the asynchronous pool (parameters, error
 * mapping, queueing, transactions, dropped connections, closing). Every wait
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

#include "store/embed.h"
#include "store/oauth.h"
#include "store/store.h"

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
        if (s.connected >= n)
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
static store_stmt st_insert = {"test_insert", "INSERT INTO store_test_kv (k, v) VALUES ($1, $2)",
                               2, 0};
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
    snprintf(pool_conninfo, sizeof(pool_conninfo), "%s application_name=store_test_pool",
             conninfo);
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
    PGconn *c;
    pid_t kids[4];
    int status;

    assert_int_equal(store_migrate(conninfo, err, sizeof(err)), 0);
    assert_int_equal(store_migrate(conninfo, err, sizeof(err)), 0);
    c = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    assert_int_equal(store_schema_version(c), store_schema_latest());
    PQfinish(c);

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
    c = PQconnectdb(ci);
    assert_int_equal(store_schema_version(c), store_schema_latest());
    PQfinish(c);

    /* A database ahead of the binary is refused with a clear message. */
    admin_query(ci, "INSERT INTO schema_migrations (version, name) VALUES (999999, 'future')",
                NULL, 0);
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
        store_token t = {.jti = jti[i], .client_id = "client_b", .subject = "client_b",
                         .scope = "", .audience = i == 3 ? "https://bad.example/\xff" : NULL,
                         .expires_at = (int64_t)time(NULL) + 600,
                         .event = "oauth.token_issued", .actor_id = "client_b",
                         .actor_type = "client", .metadata = "{}"};
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
                "SELECT count(*) FROM oauth_tokens WHERE jti LIKE 'tok\\_batch\\_refused\\_%'",
                v, sizeof(v));
    assert_string_equal(v, "5");
    admin_query(conninfo,
                "SELECT count(*) FROM audit_events WHERE target_id LIKE 'tok\\_batch\\_refused\\_%'",
                v, sizeof(v));
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
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, setup_cluster, teardown_cluster);
}
