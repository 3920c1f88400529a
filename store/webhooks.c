#include "webhooks.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

/* The audit row a statement appends (as in store/agents.c): INSERT …
 * SELECT over a CTE, so it exists exactly when the change happened. */
#define AUDIT(event, target, meta, rid, ip)                                                    \
    "INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "         \
    "request_id, client_ip) SELECT shark_id('audit_'), '" event "', 'admin', 'admin', " target \
    ", " meta ", " rid ", " ip " "

/* NULL stays NULL (an update leaves the column alone), else text[]. */
#define EVENTS(p)                                                                              \
    "(CASE WHEN " p "::jsonb IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(" p \
    "::jsonb)) END)"

static void int_text(char out[16], long v)
{
    snprintf(out, 16, "%ld", v);
}

/* ---- endpoints ---- */

/* The URL stays out of the audit metadata: many webhook URLs carry a
 * credential (Slack, Teams), and audit events are themselves delivered. */
static store_stmt hook_create = {
    "hook_create",
    "WITH w AS (INSERT INTO webhooks (id, url, events, description, secret_sealed) "
    "  VALUES ($1, $2, " EVENTS("$3") ", coalesce($4, ''), decode($5, 'base64')) RETURNING *), "
              "ev AS (" AUDIT("webhook.created", "w.id", "jsonb_build_object('events', to_jsonb(w.events))",
                    "$6", "$7") "FROM w) "
                                    "SELECT shark_webhook_json(w)::text AS webhook FROM w",
                              7, 0};

int store_hook_create(store_pool *p, const store_hook_in *in, const store_actor *who, store_cb cb,
                      void *ud)
{
    const char *params[] = {in->id,          in->url,           in->events,
                            in->description, in->secret_sealed, who->request_id,
                            who->client_ip};
    return store_exec(p, &hook_create, params, cb, ud);
}

static store_stmt hook_list = {
    "hook_list",
    STORE_PAGE("shark_webhook_json(w)", "webhooks", "w", "true", "w.created_at", "w.id", ""), 5, 0};

int store_hook_list(store_pool *p, const store_page_q *q, store_cb cb, void *ud)
{
    store_page_args a;
    store_page_bind(q, &a);
    return store_exec(p, &hook_list, a.v, cb, ud);
}

static store_stmt hook_get = {
    "hook_get", "SELECT shark_webhook_json(w)::text AS webhook FROM webhooks w WHERE id = $1", 1,
    0};

int store_hook_get(store_pool *p, const char *id, store_cb cb, void *ud)
{
    const char *params[] = {id};
    return store_exec(p, &hook_get, params, cb, ud);
}

static store_stmt hook_update = {
    "hook_update",
    "WITH w AS (UPDATE webhooks SET url = coalesce($2, url), "
    "  events = coalesce(" EVENTS("$3") ", events), description = coalesce($4, description), "
              "  enabled = coalesce($5::boolean, enabled), "
              "  failing_since = CASE WHEN $5::boolean THEN NULL ELSE failing_since END, "
              "  disabled_at = CASE WHEN $5::boolean THEN NULL ELSE disabled_at END, updated_at = now() "
              "  WHERE id = $1 RETURNING *), "
              "ev AS (" AUDIT("webhook.updated", "w.id",
                    "jsonb_build_object('events', to_jsonb(w.events), 'enabled', w.enabled, "
                    "'url_changed', $2::text IS NOT NULL)",
                    "$6", "$7") "FROM w) "
                              "SELECT shark_webhook_json(w)::text AS webhook FROM w",
                  7, 0};

int store_hook_update(store_pool *p, const store_hook_in *in, const store_actor *who, store_cb cb,
                      void *ud)
{
    const char *params[] = {in->id,      in->url,         in->events,    in->description,
                            in->enabled, who->request_id, who->client_ip};
    return store_exec(p, &hook_update, params, cb, ud);
}

static store_stmt hook_delete = {
    "hook_delete",
    "WITH d AS (DELETE FROM webhooks WHERE id = $1 RETURNING id), "
    "ev AS (" AUDIT("webhook.deleted", "d.id", "'{}'::jsonb", "$2", "$3") "FROM d) "
                                                                          "SELECT id FROM d",
                    3, 0};

int store_hook_delete(store_pool *p, const char *id, const store_actor *who, store_cb cb, void *ud)
{
    const char *params[] = {id, who->request_id, who->client_ip};
    return store_exec(p, &hook_delete, params, cb, ud);
}

static store_stmt hook_rotate = {
    "hook_rotate",
    "WITH w AS (UPDATE webhooks SET secret_sealed = decode($2, 'base64'), updated_at = now() "
    "  WHERE id = $1 RETURNING id, updated_at), "
    "ev AS (" AUDIT("webhook.secret_rotated", "w.id", "'{}'::jsonb", "$3", "$4") "FROM w) "
                          "SELECT shark_utc(updated_at) AS rotated_at FROM w",
                    4, 0};

int store_hook_rotate(store_pool *p, const char *id, const char *secret_sealed,
                      const store_actor *who, store_cb cb, void *ud)
{
    const char *params[] = {id, secret_sealed, who->request_id, who->client_ip};
    return store_exec(p, &hook_rotate, params, cb, ud);
}

/* Not an audit event (that would reach every '*' subscriber): a delivery
 * for this endpoint alone, shaped like the real ones. The notification is
 * referenced by the final SELECT so PostgreSQL runs it. */
static store_stmt hook_test = {
    "hook_test",
    "WITH w AS (SELECT id, enabled FROM webhooks WHERE id = $1), "
    "n AS (SELECT shark_id('whd_') AS id, now() AS at), "
    "d AS (INSERT INTO webhook_deliveries (id, webhook_id, event, payload) "
    "  SELECT n.id, w.id, 'webhook.test', jsonb_build_object('type', 'webhook.test', "
    "    'timestamp', shark_utc(n.at), 'data', jsonb_build_object('id', n.id, "
    "    'event', 'webhook.test', 'actor_id', 'admin', 'actor_type', 'admin', "
    "    'target_id', w.id, 'metadata', jsonb_build_object('message', "
    "    'test delivery from SharkAuth'), 'created_at', shark_utc(n.at))) "
    "  FROM w, n WHERE w.enabled RETURNING *), "
    "wake AS (SELECT pg_notify('shark_webhooks', '') FROM d) "
    "SELECT w.enabled::text AS enabled, (SELECT shark_delivery_json(d)::text FROM d) AS "
    "  delivery, (SELECT count(*) FROM wake) FROM w",
    1, 0};

int store_hook_test(store_pool *p, const char *id, store_cb cb, void *ud)
{
    const char *params[] = {id};
    return store_exec(p, &hook_test, params, cb, ud);
}

static store_stmt hook_deliveries = {
    "hook_deliveries",
    STORE_PAGE("shark_delivery_json(d)", "webhook_deliveries", "d",
               "d.webhook_id = $6 AND ($7::text IS NULL OR d.status = $7)", "d.created_at", "d.id",
               "FROM webhooks WHERE id = $6"),
    7, 0};

int store_hook_deliveries(store_pool *p, const char *id, const char *status, const store_page_q *q,
                          store_cb cb, void *ud)
{
    store_page_args a;
    store_page_bind(q, &a);
    const char *params[] = {a.v[0], a.v[1], a.v[2], a.v[3], a.v[4], id, status};
    return store_exec(p, &hook_deliveries, params, cb, ud);
}

static store_stmt hook_redeliver = {
    "hook_redeliver",
    "WITH cur AS (SELECT id, status FROM webhook_deliveries WHERE id = $1 FOR UPDATE), "
    "d AS (UPDATE webhook_deliveries d SET status = 'pending', next_attempt_at = now(), "
    "  locked_until = NULL, updated_at = now() FROM cur "
    "  WHERE d.id = cur.id AND cur.status <> 'sending' RETURNING d.*), "
    "ev AS (" AUDIT("webhook.redelivered", "d.webhook_id",
                    "jsonb_build_object('delivery_id', d.id, 'event', d.event)", "$2",
                    "$3") "FROM d), "
                          "wake AS (SELECT pg_notify('shark_webhooks', '') FROM d) "
                          "SELECT (cur.status = 'sending')::text AS sending, "
                          "  (SELECT shark_delivery_json(d)::text FROM d) AS delivery, "
                          "  (SELECT count(*) FROM wake) FROM cur",
                    3, 0};

int store_hook_redeliver(store_pool *p, const char *delivery_id, const store_actor *who,
                         store_cb cb, void *ud)
{
    const char *params[] = {delivery_id, who->request_id, who->client_ip};
    return store_exec(p, &hook_redeliver, params, cb, ud);
}

/* ---- the outbox ---- */

/* SKIP LOCKED lets every shark process run this at once: each takes rows
 * no other holds. A row is 'sending' only while its lock is fresh; past
 * locked_until its holder is presumed dead and the row is due again. */
static store_stmt hook_claim = {
    "hook_claim",
    "WITH due AS (SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
    "  WHERE w.enabled AND ((d.status IN ('pending', 'retrying') AND d.next_attempt_at <= now()) "
    "    OR (d.status = 'sending' AND d.locked_until < now())) "
    "  ORDER BY d.next_attempt_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED), "
    "c AS (UPDATE webhook_deliveries d SET status = 'sending', attempts = d.attempts + 1, "
    "  locked_until = now() + $2::int * interval '1 second', updated_at = now() "
    "  FROM due WHERE d.id = due.id RETURNING d.id, d.webhook_id, d.attempts, d.payload) "
    "SELECT c.id, c.webhook_id, w.url, translate(encode(w.secret_sealed, 'base64'), E'\\n', ''), "
    "  c.attempts, c.payload::text FROM c JOIN webhooks w ON w.id = c.webhook_id",
    2, 0};

/* The caller's callback and its data, between a query and its typed
 * answer. */
struct typed {
    void (*cb)(void);
    void *ud;
};

static struct typed *typed_new(void (*cb)(void), void *ud)
{
    struct typed *t = malloc(sizeof(*t));
    if (t != NULL) {
        t->cb = cb;
        t->ud = ud;
    }
    return t;
}

static int typed_exec(store_pool *p, const store_stmt *st, const char *const *params,
                      store_cb adapt, void (*cb)(void), void *ud)
{
    struct typed *t = typed_new(cb, ud);
    if (t == NULL)
        return STORE_EUNAVAIL;
    int rc = store_exec(p, st, params, adapt, t);
    if (rc != 0)
        free(t);
    return rc;
}

static void on_claim(void *ud, PGresult *res, int err, const char *msg)
{
    struct typed t = *(struct typed *)ud;
    free(ud);
    store_hook_due_cb cb = (store_hook_due_cb)t.cb;
    int n = err == STORE_OK ? PQntuples(res) : 0;
    store_hook_due *rows = n > 0 ? calloc((size_t)n, sizeof(*rows)) : NULL;
    if (n > 0 && rows == NULL) {
        cb(t.ud, NULL, 0, STORE_EINTERNAL, "out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        rows[i].id = PQgetvalue(res, i, 0);
        rows[i].webhook_id = PQgetvalue(res, i, 1);
        rows[i].url = PQgetvalue(res, i, 2);
        rows[i].secret_sealed = PQgetvalue(res, i, 3);
        rows[i].attempt = atoi(PQgetvalue(res, i, 4));
        rows[i].payload = PQgetvalue(res, i, 5);
    }
    cb(t.ud, rows, n, err, msg);
    free(rows);
}

int store_hook_claim(store_pool *p, int limit, int lock_s, store_hook_due_cb cb, void *ud)
{
    char l[16], s[16];
    int_text(l, limit);
    int_text(s, lock_s);
    const char *params[] = {l, s};
    return typed_exec(p, &hook_claim, params, on_claim, (void (*)(void))cb, ud);
}

/* The attempt is written only if this process still holds the row (same
 * attempt number, still 'sending'). The failure run is tracked on the
 * endpoint: failing_since starts at its first failure, a success clears
 * it, and a failure after disable_after seconds of it disables the
 * endpoint, fails what it had queued and audits webhook.disabled (which
 * the trigger may deliver to other endpoints; this one is disabled by the
 * time the trigger looks). */
static store_stmt hook_record = {
    "hook_record",
    /* a failed attempt on an endpoint that is (or this attempt makes it)
     * disabled fails its delivery in d: q's snapshot still sees that row,
     * and any other attempt in flight, as 'sending' */
    "WITH cur AS (SELECT id FROM webhook_deliveries "
    "  WHERE id = $1 AND status = 'sending' AND attempts = $3::int FOR UPDATE), "
    "old AS (SELECT id, failing_since, enabled, coalesce(enabled AND $8 <> 'delivered' "
    "  AND failing_since < now() - $10::int * interval '1 second', false) AS disable "
    "  FROM webhooks WHERE id = $2 AND EXISTS (SELECT 1 FROM cur) FOR UPDATE), "
    "st AS (SELECT CASE WHEN $8 = 'retrying' "
    "  AND coalesce((SELECT disable OR NOT enabled FROM old), false) "
    "  THEN 'failed' ELSE $8 END AS status), "
    "d AS (UPDATE webhook_deliveries SET status = st.status, "
    "  next_attempt_at = CASE WHEN st.status = 'retrying' "
    "    THEN now() + $9::float8 * interval '1 second' ELSE next_attempt_at END, "
    "  locked_until = NULL, last_status_code = $4::int, last_error = $7, "
    "  delivered_at = CASE WHEN $8 = 'delivered' THEN now() END, updated_at = now() "
    "  FROM st WHERE id IN (SELECT id FROM cur) RETURNING id), "
    "att AS (INSERT INTO webhook_attempts (delivery_id, attempt, status_code, latency_ms, "
    "  response_body, error) SELECT d.id, $3::int, $4::int, $5::int, $6, $7 FROM d), "
    "w AS (UPDATE webhooks w SET failing_since = CASE WHEN $8 = 'delivered' THEN NULL "
    "    ELSE coalesce(old.failing_since, now()) END, "
    "  enabled = w.enabled AND NOT old.disable, "
    "  disabled_at = CASE WHEN old.disable THEN now() ELSE w.disabled_at END "
    "  FROM old WHERE w.id = old.id RETURNING w.id, old.disable, old.failing_since), "
    "q AS (UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint disabled', "
    "  updated_at = now() WHERE webhook_id IN (SELECT id FROM w WHERE disable) "
    "  AND status IN ('pending', 'retrying') RETURNING 1), "
    "ev AS (INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata) "
    "  SELECT shark_id('audit_'), 'webhook.disabled', 'system', 'system', w.id, "
    "  jsonb_build_object('reason', 'failing continuously', 'failing_since', "
    "  shark_utc(w.failing_since), 'dropped_deliveries', (SELECT count(*) FROM q)) "
    "  FROM w WHERE w.disable) "
    "SELECT $2 AS webhook_id, coalesce((SELECT disable FROM w), false)::text AS disabled",
    10, 0};

static void on_record(void *ud, PGresult *res, int err, const char *msg)
{
    struct typed t = *(struct typed *)ud;
    free(ud);
    bool ok = err == STORE_OK && PQntuples(res) == 1;
    ((store_hook_recorded_cb)t.cb)(t.ud, err, msg, ok ? PQgetvalue(res, 0, 0) : "",
                                   ok && PQgetvalue(res, 0, 1)[0] == 't');
}

int store_hook_record(store_pool *p, const store_hook_attempt *a, store_hook_recorded_cb cb,
                      void *ud)
{
    char attempt[16], code[16], latency[16], retry[32], disable[16];
    int_text(attempt, a->attempt);
    int_text(code, a->status_code);
    int_text(latency, a->latency_ms);
    snprintf(retry, sizeof(retry), "%.3f", a->retry_in_s);
    int_text(disable, a->disable_after_s);
    const char *params[] = {
        a->delivery_id, a->webhook_id,    attempt,  a->status_code ? code : NULL,
        latency,        a->response_body, a->error, a->status,
        retry,          disable};
    return typed_exec(p, &hook_record, params, on_record, (void (*)(void))cb, ud);
}

static store_stmt hook_queued = {
    "hook_queued",
    "SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'retrying', 'sending')", 0,
    0};

static void on_queued(void *ud, PGresult *res, int err, const char *msg)
{
    struct typed t = *(struct typed *)ud;
    free(ud);
    long n = err == STORE_OK && PQntuples(res) == 1 ? atol(PQgetvalue(res, 0, 0)) : -1;
    ((store_hook_queued_cb)t.cb)(t.ud, err, n);
}

int store_hook_queued(store_pool *p, store_hook_queued_cb cb, void *ud)
{
    return typed_exec(p, &hook_queued, NULL, on_queued, (void (*)(void))cb, ud);
}
