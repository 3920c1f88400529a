#include "batch.h"

#include "nodes.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds one statement's size (and one transaction's row locks); records
 * beyond it start the next batch, which queues behind. */
#define BATCH_MAX 256
/* Batches of one pool (one loop) being written at once. PostgreSQL's cost of
 * a batch is mostly per statement (executor start-up, trigger, commit), so
 * while one is out new records gather in one held batch instead of each
 * taking an idle connection: under load statements grow instead of
 * multiplying. Measured on 2 cores: 1 beat 2 and 4 (the pool size) in
 * throughput and in PostgreSQL CPU per token. */
#define BATCH_INFLIGHT 1

/* The columns of one record, in the statement's parameter order. */
enum {
    COL_JTI,
    COL_CLIENT,
    COL_SUBJECT,
    COL_USER,
    COL_SCOPE,
    COL_JKT,
    COL_AUDIENCE,
    COL_ACT,
    COL_REPLAY,
    COL_TTL,
    COL_EXP,
    COL_EVENT,
    COL_ACTOR_ID,
    COL_ACTOR_TYPE,
    COL_METADATA,
    COL_REQUEST_ID,
    COL_CLIENT_IP,
    COL_PARENT,
    COL_PARENT_EXP,
    COL_FAMILY,
    NCOLS
};

typedef struct record {
    store_cb cb;
    void *ud;
    bool issued;
    const char *col[NCOLS]; /* NULL = SQL NULL; the strings follow the struct */
} record;

typedef struct batch {
    token_batcher *owner;
    record *rec[BATCH_MAX];
    int n;
    char *params[NCOLS]; /* array literals, once built */
} batch;

struct token_batcher {
    store_pool *pool;
    batch *open;  /* not yet taken by a connection (held or queued): new records join it */
    int inflight; /* submitted batches, BATCH_INFLIGHT at most */
    bool held;    /* open has not been submitted: it waits for an in-flight batch to end */
};

/* ON CONFLICT DO NOTHING skips a key already recorded; DISTINCT ON keeps the
 * first record of a key repeated inside the batch, and inserting in key order
 * means two batches sharing keys cannot deadlock. A record is written when it
 * has no replay key or its own replay row went in; `ok` is read twice, so it
 * is evaluated once and the token and audit rows cover the same records. The
 * event's metadata is stored without what its row repeats (migration 0039),
 * and its id is its jti's (one event per token: "audit_" and the jti's 22
 * time-ordered characters, 10 fewer than shark_id's).
 * The statement answers with the 1-based positions of the records written.
 *
 * It also adds the batch to token_counts (migration 0035: what a mark's
 * revoked_count sums; every writer of oauth_tokens must): an UPDATE, or an
 * INSERT for a new second, never both for one row, since the rows it touches
 * are its own connection's (stripe) and a connection runs one batch at a time
 * (cheaper than ON CONFLICT, which also logs a row lock). And it writes a child
 * whose parent is revoked already (per jti or by a mark: a node that had not
 * heard yet accepted the parent for an exchange) revoked, telling every node
 * as a revocation's trigger would. The parent is found first and its marks
 * are looked up once, inlined (shark_token_marked of migrations 0026 and
 * 0036, which this must follow): as a call the function's body was planned
 * anew on each execution, 30 us and more per exchanged token, and inside the
 * parent's index scan its cost counted once per partition, which made a
 * generic plan look dearer than replanning every batch. Records without a
 * parent never reach the lookup.
 * The arrays reach unnest through a subquery PostgreSQL keeps (OFFSET 0),
 * so a custom plan cannot see how long they are: custom and generic plans
 * cost the same and the generic one is kept after five. Otherwise a node
 * whose first batches hold one token each (any node at light load) planned
 * the statement anew for every batch, ~1 ms of PostgreSQL CPU each time. */
static store_stmt batch_issue = {
    "oauth_token_issue_batch",
    "WITH v AS (SELECT u.* FROM (SELECT $1::text[] a1, $2::text[] a2, $3::text[] a3, "
    "  $4::text[] a4, $5::text[] a5, $6::text[] a6, $7::text[] a7, $8::text[] a8, $9::text[] a9, "
    "  $10::text[] a10, $11::text[] a11, $12::text[] a12, $13::text[] a13, $14::text[] a14, "
    "  $15::text[] a15, $16::text[] a16, $17::text[] a17, $18::text[] a18, $19::text[] a19, "
    "  $20::text[] a20 OFFSET 0) a, unnest(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, "
    "  a13, a14, a15, a16, a17, a18, a19, a20) WITH ORDINALITY AS u(jti, client_id, subject, "
    "  user_id, scope, jkt, audience, act, replay_key, ttl, exp, event, actor_id, actor_type, "
    "  metadata, request_id, client_ip, parent_jti, parent_exp, family_id, n)), "
    "first AS (SELECT DISTINCT ON (replay_key) replay_key, ttl, n FROM v "
    "  WHERE replay_key IS NOT NULL ORDER BY replay_key, n), "
    "r AS (INSERT INTO oauth_replay (key, expires_at) "
    "  SELECT replay_key, now() + ttl::int * interval '1 second' FROM first "
    "  ORDER BY replay_key ON CONFLICT DO NOTHING RETURNING key), "
    "ok AS (SELECT * FROM v WHERE replay_key IS NULL "
    "  OR n IN (SELECT first.n FROM first JOIN r ON r.key = first.replay_key)), "
    "dead AS (SELECT n, ok.jti, exp FROM ok CROSS JOIN LATERAL (SELECT p.client_id, p.user_id, "
    "  p.jkt, p.issued_at, p.revoked_at FROM oauth_tokens p WHERE p.jti = ok.parent_jti "
    "  AND p.expires_at = to_timestamp(ok.parent_exp::double precision) LIMIT 1) p "
    "  WHERE ok.parent_jti IS NOT NULL AND (p.revoked_at IS NOT NULL "
    "  OR EXISTS (SELECT 1 FROM revocation_watermarks w WHERE w.kind = 'client' "
    "    AND w.subject_id = p.client_id AND w.revoked_before >= p.issued_at) "
    "  OR (p.user_id IS NOT NULL AND (EXISTS (SELECT 1 FROM revocation_watermarks w "
    "    WHERE w.kind = 'user' AND w.subject_id = p.user_id AND w.revoked_before >= p.issued_at) "
    "    OR EXISTS (SELECT 1 FROM revocation_watermarks w WHERE w.kind = 'grant' "
    "    AND w.subject_id = p.user_id || ' ' || p.client_id "
    "    AND w.revoked_before >= p.issued_at))) "
    "  OR (nullif(p.jkt, '') IS NOT NULL AND EXISTS (SELECT 1 FROM revocation_watermarks w "
    "    WHERE w.kind = 'key' AND w.subject_id = p.client_id AND (w.bound_before >= p.issued_at "
    "    OR (w.keep_jkt IS DISTINCT FROM p.jkt AND w.revoked_before >= p.issued_at)))))), "
    "t AS (INSERT INTO oauth_tokens (jti, client_id, subject, user_id, scope, jkt, audience, "
    "  act, expires_at, parent_jti, family_id, revoked_at) SELECT jti, client_id, subject, "
    "  user_id, scope, jkt, audience, act::jsonb, to_timestamp(exp::double precision), "
    "  parent_jti, family_id, CASE WHEN n IN (SELECT n FROM dead) THEN now() END FROM ok), "
    "agg AS (SELECT client_id, to_timestamp(exp::double precision) AS ex, coalesce(jkt, '') AS k, "
    "  count(*) AS c FROM ok WHERE user_id IS NULL AND n NOT IN (SELECT n FROM dead) "
    "  GROUP BY 1, 2, 3), "
    "up AS (UPDATE token_counts t SET n = t.n + agg.c FROM agg WHERE t.client_id = agg.client_id "
    "  AND t.issued_sec = shark_second(now()) AND t.expires_at = agg.ex AND t.jkt = agg.k "
    "  AND t.stripe = pg_backend_pid() RETURNING t.client_id, t.expires_at, t.jkt), "
    "cnt AS (INSERT INTO token_counts (client_id, issued_sec, expires_at, jkt, stripe, n) "
    "  SELECT client_id, shark_second(now()), ex, k, pg_backend_pid(), c FROM agg "
    "  WHERE NOT EXISTS (SELECT 1 FROM up WHERE up.client_id = agg.client_id "
    "  AND up.expires_at = agg.ex AND up.jkt = agg.k)), "
    "nt AS (SELECT pg_notify('shark_revoked', string_agg(jti || ' ' || exp, E'\\n')) FROM dead "
    "  HAVING count(*) > 0), "
    "ev AS (INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "
    "  request_id, client_ip) SELECT CASE WHEN jti ~ '^tok_[0-9A-Za-z]{22}$' "
    "  THEN 'audit_' || substr(jti, 5) ELSE shark_id('audit_') END, event, actor_id, actor_type, "
    "  jti, "
    "  shark_audit_compact(event, actor_id, coalesce(metadata::jsonb, '{}'::jsonb)), request_id, "
    "  client_ip FROM ok) "
    "SELECT n FROM ok WHERE (SELECT count(*) FROM nt) >= 0",
    NCOLS, 0};

void token_batcher_free(token_batcher *b)
{
    free(b);
}

static record *record_new(const store_token *t, store_cb cb, void *ud)
{
    char ttl[16], exp[24], pexp[24];
    snprintf(ttl, sizeof(ttl), "%d", t->replay_ttl_s);
    snprintf(exp, sizeof(exp), "%lld", (long long)t->expires_at);
    snprintf(pexp, sizeof(pexp), "%lld", (long long)t->parent_exp);
    /* A subject that is the client is stored as NULL (migration 0043) once
     * every live node reads it back as the client. */
    bool same = t->subject != NULL && t->client_id != NULL &&
                strcmp(t->subject, t->client_id) == 0 && store_nodes_all(STORE_NODE_SUBJECT);
    const char *v[NCOLS] = {
        [COL_JTI] = t->jti,
        [COL_CLIENT] = t->client_id,
        [COL_SUBJECT] = same ? NULL : t->subject,
        [COL_USER] = t->user_id,
        [COL_SCOPE] = t->scope,
        [COL_JKT] = t->jkt,
        [COL_AUDIENCE] = t->audience,
        [COL_ACT] = t->act,
        [COL_REPLAY] = t->replay_key,
        [COL_TTL] = ttl,
        [COL_EXP] = exp,
        [COL_EVENT] = t->event,
        [COL_ACTOR_ID] = t->actor_id,
        [COL_ACTOR_TYPE] = t->actor_type,
        [COL_METADATA] = t->metadata,
        [COL_REQUEST_ID] = t->request_id,
        [COL_CLIENT_IP] = t->client_ip,
        [COL_PARENT] = t->parent_jti,
        [COL_PARENT_EXP] = t->parent_jti ? pexp : NULL,
        [COL_FAMILY] = t->family_id,
    };
    size_t bytes = sizeof(record);
    for (int i = 0; i < NCOLS; i++)
        bytes += v[i] ? strlen(v[i]) + 1 : 0;
    record *r = calloc(1, bytes);
    if (r == NULL)
        return NULL;
    r->cb = cb;
    r->ud = ud;
    char *s = (char *)(r + 1);
    for (int i = 0; i < NCOLS; i++) {
        if (v[i] == NULL)
            continue;
        size_t len = strlen(v[i]) + 1;
        memcpy(s, v[i], len);
        r->col[i] = s;
        s += len;
    }
    return r;
}

/* A text[] literal: {"a","b\"c",NULL}. Inside double quotes only `"` and
 * `\` need a backslash. NULL on allocation failure. */
static char *array_literal(const batch *b, int col)
{
    size_t len = 3;
    for (int i = 0; i < b->n; i++) {
        const char *v = b->rec[i]->col[col];
        len += 1 + (v ? 2 + 2 * strlen(v) : 4);
    }
    char *out = malloc(len), *o = out;
    if (out == NULL)
        return NULL;
    *o++ = '{';
    for (int i = 0; i < b->n; i++) {
        const char *v = b->rec[i]->col[col];
        if (i > 0)
            *o++ = ',';
        if (v == NULL) {
            memcpy(o, "NULL", 4);
            o += 4;
            continue;
        }
        *o++ = '"';
        for (; *v; v++) {
            if (*v == '"' || *v == '\\')
                *o++ = '\\';
            *o++ = *v;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return out;
}

/* A connection took the batch: it is closed to new records. A column that
 * cannot be built stays NULL; unnest of NULL yields no rows, so no record
 * would be written: the result then fails every record (see on_done). */
static void on_build(void *ud, const char **params)
{
    batch *b = ud;
    if (b->owner->open == b)
        b->owner->open = NULL;
    for (int c = 0; c < NCOLS; c++)
        params[c] = b->params[c] = array_literal(b, c);
}

/* The one-row `issued` result each record's callback gets, as a single
 * token's statement would have answered. */
static PGresult *issued_result(const char *value)
{
    PGresAttDesc att = {.name = "issued", .typid = 25 /* text */, .typlen = -1, .atttypmod = -1};
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    if (r == NULL || !PQsetResultAttrs(r, 1, &att) || !PQsetvalue(r, 0, 0, (char *)value, 1)) {
        PQclear(r);
        return NULL;
    }
    return r;
}

static void on_done(void *ud, PGresult *res, int err, const char *msg);

/* Fails every record of a batch that never reached the database. */
static void batch_fail(batch *b, int err, const char *msg)
{
    for (int i = 0; i < b->n; i++) {
        b->rec[i]->cb(b->rec[i]->ud, NULL, err, msg);
        free(b->rec[i]);
    }
    free(b);
}

static int batch_submit(token_batcher *tb, batch *b)
{
    if (store_exec_lazy(tb->pool, &batch_issue, on_build, on_done, b) != 0)
        return STORE_EUNAVAIL;
    tb->inflight++;
    return 0;
}

/* A batch ended: the held one, if any, goes out in its place. */
static void batch_release(token_batcher *tb)
{
    tb->inflight--;
    if (!tb->held)
        return;
    batch *b = tb->open;
    tb->held = false;
    if (batch_submit(tb, b) != 0) {
        if (tb->open == b)
            tb->open = NULL;
        batch_fail(b, STORE_EUNAVAIL, "database unavailable");
    }
}

/* PostgreSQL refused the statement for its data (SQLSTATE class 22 or 23),
 * which one record is enough to cause. The statement was one transaction, so
 * nothing of it was written: each record goes again in a statement of its
 * own, and only the record at fault fails. */
static bool retry_each(batch *b, int err)
{
    token_batcher *tb = b->owner;
    if (b->n < 2 || (err != STORE_EINVALID && err != STORE_ECONFLICT))
        return false;
    for (int i = 0; i < b->n; i++) {
        record *r = b->rec[i];
        batch *one = calloc(1, sizeof(*one));
        if (one != NULL) {
            one->owner = tb;
            one->rec[one->n++] = r;
            if (batch_submit(tb, one) == 0)
                continue;
            free(one);
        }
        r->cb(r->ud, NULL, STORE_EUNAVAIL, "database unavailable");
        free(r);
    }
    return true;
}

static void on_done(void *ud, PGresult *res, int err, const char *msg)
{
    batch *b = ud;
    token_batcher *tb = b->owner;
    PGresult *yes = NULL, *no = NULL;
    if (tb->open == b) /* failed while still waiting for a connection */
        tb->open = NULL;
    if (err != STORE_OK && retry_each(b, err)) {
        for (int c = 0; c < NCOLS; c++)
            free(b->params[c]);
        free(b);
        batch_release(tb);
        return;
    }
    for (int c = 0; c < NCOLS && err == STORE_OK; c++)
        if (b->params[c] == NULL) {
            err = STORE_EINTERNAL;
            msg = "out of memory";
        }
    if (err == STORE_OK) {
        yes = issued_result("1");
        no = issued_result("0");
        if (yes == NULL || no == NULL) {
            err = STORE_EINTERNAL;
            msg = "out of memory";
        }
    }
    for (int i = 0; err == STORE_OK && i < PQntuples(res); i++) {
        long n = strtol(PQgetvalue(res, i, 0), NULL, 10);
        if (n >= 1 && n <= b->n)
            b->rec[n - 1]->issued = true;
    }
    for (int i = 0; i < b->n; i++) {
        record *r = b->rec[i];
        if (err != STORE_OK)
            r->cb(r->ud, NULL, err, msg);
        else
            r->cb(r->ud, r->issued ? yes : no, STORE_OK, "");
        free(r);
    }
    PQclear(yes);
    PQclear(no);
    for (int c = 0; c < NCOLS; c++)
        free(b->params[c]);
    free(b);
    batch_release(tb);
}

int store_token_issue(store_pool *p, const store_token *t, store_cb cb, void *ud)
{
    token_batcher **slot = store_pool_batcher(p);
    if (*slot == NULL) {
        if ((*slot = calloc(1, sizeof(**slot))) == NULL)
            return STORE_EUNAVAIL;
        (*slot)->pool = p;
    }
    token_batcher *tb = *slot;
    record *r = record_new(t, cb, ud);
    if (r == NULL)
        return STORE_EUNAVAIL;
    batch *b = tb->open;
    if (b != NULL && b->n < BATCH_MAX) {
        b->rec[b->n++] = r;
        return 0;
    }
    if (b != NULL && tb->held) { /* a full held batch goes out beyond the cap */
        tb->held = false;
        if (batch_submit(tb, b) != 0) {
            tb->open = NULL;
            batch_fail(b, STORE_EUNAVAIL, "database unavailable");
            free(r);
            return STORE_EUNAVAIL;
        }
    }
    /* A new batch; submitting it may hand it to an idle connection at once,
     * which builds it (and closes it) before batch_submit returns. */
    if ((b = calloc(1, sizeof(*b))) == NULL) {
        free(r);
        return STORE_EUNAVAIL;
    }
    b->owner = tb;
    b->rec[b->n++] = r;
    tb->open = b;
    if (tb->inflight >= BATCH_INFLIGHT) {
        tb->held = true;
        return 0;
    }
    if (batch_submit(tb, b) != 0) {
        if (tb->open == b)
            tb->open = NULL;
        free(r);
        free(b);
        return STORE_EUNAVAIL;
    }
    return 0;
}
