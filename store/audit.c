#include "audit.h"

#include <stdio.h>

static store_stmt append_stmt = {
    "audit_append",
    "INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "
    "request_id, client_ip) VALUES (shark_id('audit_'), $1, $2, coalesce($3, 'system'), $4, "
    "coalesce($5::jsonb, '{}'::jsonb), $6, $7) RETURNING id",
    7, 0};

#define EVENT_PARAMS(ev)                                                                       \
    {(ev)->event,    (ev)->actor_id,   (ev)->actor_type, (ev)->target_id,                          \
     (ev)->metadata, (ev)->request_id, (ev)->client_ip}

int store_audit_append(store_txn *txn, const store_audit_event *ev, store_cb cb, void *ud)
{
    const char *params[] = EVENT_PARAMS(ev);
    return store_txn_exec(txn, &append_stmt, params, cb, ud);
}

int store_audit_record(store_pool *p, const store_audit_event *ev, store_cb cb, void *ud)
{
    const char *params[] = EVENT_PARAMS(ev);
    return store_exec(p, &append_stmt, params, cb, ud);
}


/* NULL parameters switch filters off; the keyset condition is a row
 * comparison so the (created_at, id) indexes serve every page. */
static store_stmt list_stmt = {
    "audit_list",
    "SELECT json_build_object('id', id, 'event', event, 'actor_id', actor_id, "
    "  'actor_type', actor_type, 'target_id', target_id, 'metadata', metadata, "
    "  'request_id', request_id, 'client_request_id', client_request_id, "
    "  'client_ip', client_ip, "
    "  'created_at', to_char(created_at AT TIME ZONE 'UTC', "
    "    'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text AS item, "
    "  ((extract(epoch FROM created_at) * 1000000)::numeric)::bigint AS ts_us, id "
    "FROM audit_events "
    "WHERE ($1::text IS NULL OR actor_id = $1) "
    "  AND ($2::text IS NULL OR target_id = $2) "
    "  AND ($3::text IS NULL OR event = $3) "
    "  AND ($4::text IS NULL OR starts_with(event, $4)) "
    "  AND ($5::timestamptz IS NULL OR created_at >= $5) "
    "  AND ($6::timestamptz IS NULL OR created_at < $6) "
    "  AND ($7::bigint IS NULL OR (created_at, id) < "
    "       ('epoch'::timestamptz + $7::bigint * interval '1 microsecond', $8::text)) "
    "ORDER BY created_at DESC, id DESC LIMIT $9",
    9, 0};

int store_audit_list(store_pool *p, const store_audit_filter *f, store_cb cb, void *ud)
{
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", f->limit + 1);
    const char *params[] = {f->actor_id,     f->target_id, f->event,
                            f->event_prefix, f->since,     f->until,
                            f->cursor_ts,    f->cursor_id, limit};
    return store_exec(p, &list_stmt, params, cb, ud);
}
