#include "audit.h"

#include <libpq-fe.h>
#include <stdio.h>

#include "rows_read.h"

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

static store_stmt summarize_stmt = {"audit_summarize", "SELECT shark_audit_summarize()", 0, 0};

int store_audit_summarize(store_pool *p, store_cb cb, void *ud)
{
    return store_exec(p, &summarize_stmt, NULL, cb, ud);
}

int64_t store_audit_summarized(const PGresult *res)
{
    return rows_first_int(res);
}

/* The statement for each filter combination, and its plan made with the
 * filters' values on every call, are shark_audit_list's (migrations 0038 to
 * 0040): a prepared statement's generic plan, costed for a typical actor,
 * reads every row of one that has most of them. */
static store_stmt list_stmt = {"audit_list",
                               "SELECT item, ts_us, id FROM shark_audit_list($1, $2, $3, $4, "
                               "$5::timestamptz, $6::timestamptz, $7::bigint, $8, $9::integer)",
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
