#include "audit.h"

#include <libpq-fe.h>
#include <stdio.h>

static store_stmt append_stmt = {
    "audit_append",
    "INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "
    "request_id, client_ip) VALUES (shark_id('audit_'), $1, $2, coalesce($3, 'system'), $4, "
    "coalesce($5::jsonb, '{}'::jsonb), $6, $7) RETURNING id",
    7, 0};

#define EVENT_PARAMS(ev)                                                                \
    {                                                                                   \
        (ev)->event, (ev)->actor_id, (ev)->actor_type, (ev)->target_id, (ev)->metadata, \
            (ev)->request_id, (ev)->client_ip                                           \
    }

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

/* NULL parameters switch filters off. The filter a query leads with is a
 * plain equality in a statement of its own, so that even a generic plan
 * (PostgreSQL's choice after five runs) walks the index of that filter; a
 * "$n IS NULL OR col = $n" condition would leave it a scan of everything.
 * The time bounds and the keyset position are ranges on (created_at, id),
 * which every audit index ends with. */
#define AUDIT_LIST(name, lead)                                                              \
    {                                                                                       \
        name,                                                                               \
            "SELECT json_build_object('id', id, 'event', event, 'actor_id', actor_id, "     \
            "  'actor_type', actor_type, 'target_id', target_id, 'metadata', metadata, "    \
            "  'request_id', request_id, 'client_request_id', client_request_id, "          \
            "  'client_ip', client_ip, "                                                    \
            "  'created_at', to_char(created_at AT TIME ZONE 'UTC', "                       \
            "    'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text AS item, "                     \
            "  ((extract(epoch FROM created_at) * 1000000)::numeric)::bigint AS ts_us, id " \
            "FROM audit_events WHERE " lead " "                                             \
            "  AND ($1::text IS NULL OR actor_id = $1) "                                    \
            "  AND ($2::text IS NULL OR target_id = $2) "                                   \
            "  AND ($3::text IS NULL OR event = $3) "                                       \
            "  AND ($4::text IS NULL OR starts_with(event, $4)) "                           \
            "  AND created_at >= coalesce($5::timestamptz, '-infinity') "                   \
            "  AND created_at < coalesce($6::timestamptz, 'infinity') "                     \
            "  AND (created_at, id) < (coalesce('epoch'::timestamptz + $7::bigint * "       \
            "       interval '1 microsecond', 'infinity'), coalesce($8::text, '')) "        \
            "ORDER BY created_at DESC, id DESC LIMIT $9",                                   \
            9, 0                                                                            \
    }

static store_stmt list_by_actor = AUDIT_LIST("audit_list_actor", "actor_id = $1");
static store_stmt list_by_target = AUDIT_LIST("audit_list_target", "target_id = $2");
static store_stmt list_by_event = AUDIT_LIST("audit_list_event", "event = $3");
static store_stmt list_all = AUDIT_LIST("audit_list", "true");

int store_audit_list(store_pool *p, const store_audit_filter *f, store_cb cb, void *ud)
{
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", f->limit + 1);
    const char *params[] = {f->actor_id,     f->target_id, f->event,
                            f->event_prefix, f->since,     f->until,
                            f->cursor_ts,    f->cursor_id, limit};
    const store_stmt *st = f->actor_id    ? &list_by_actor
                           : f->target_id ? &list_by_target
                           : f->event     ? &list_by_event
                                          : &list_all;
    return store_exec(p, st, params, cb, ud);
}

enum { AUDIT_ITEM, AUDIT_TS_US, AUDIT_ID };

int store_audit_rows(const PGresult *res)
{
    return PQntuples(res);
}

void store_audit_row_read(const PGresult *res, int i, store_audit_row *out)
{
    out->item = PQgetvalue(res, i, AUDIT_ITEM);
    out->item_len = (size_t)PQgetlength(res, i, AUDIT_ITEM);
    out->ts_us = PQgetvalue(res, i, AUDIT_TS_US);
    out->id = PQgetvalue(res, i, AUDIT_ID);
}
