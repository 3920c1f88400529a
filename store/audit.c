#include "audit.h"

#include <stdio.h>
#include <string.h>

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

/* NULL parameters switch filters off. Each filter a query leads with is a
 * plain condition in a statement of its own that names its index (migration
 * 0038), so that even a generic plan (PostgreSQL's choice after five runs)
 * walks that index; a "$n IS NULL OR col = $n" condition alone would leave it
 * a scan of everything. The actor is looked up by the hash its index holds,
 * then compared as text. The three token events are in an index each and in
 * none of the others': a query without actor, target or event takes the first
 * page of each of the four and merges them (a branch whose event the prefix
 * excludes is skipped once, before it reads anything); one by target merges
 * the token events' index with the others'. The
 * time bounds and the keyset position are ranges on created_at, which every
 * index ends with; rows of equal created_at are ordered by id on top. A token
 * event's metadata is answered in full (migration 0039). */
#define AUDIT_TAIL                                                            \
    "  AND ($1::text IS NULL OR actor_id = $1) "                              \
    "  AND ($2::text IS NULL OR target_id = $2) "                             \
    "  AND ($3::text IS NULL OR event = $3) "                                 \
    "  AND ($4::text IS NULL OR starts_with(event, $4)) "                     \
    "  AND created_at >= coalesce($5::timestamptz, '-infinity') "             \
    "  AND created_at < coalesce($6::timestamptz, 'infinity') "               \
    "  AND (created_at, id) < (coalesce('epoch'::timestamptz + $7::bigint * " \
    "       interval '1 microsecond', 'infinity'), coalesce($8::text, '')) "
#define AUDIT_BRANCH(lead)                               \
    "(SELECT * FROM audit_events WHERE " lead AUDIT_TAIL \
    "ORDER BY created_at DESC, id DESC LIMIT $9)"
#define AUDIT_SELECT(from)                                                          \
    "SELECT json_build_object('id', id, 'event', event, 'actor_id', actor_id, "     \
    "  'actor_type', actor_type, 'target_id', target_id, "                          \
    "  'metadata', shark_audit_metadata(event, actor_id, metadata), "               \
    "  'request_id', request_id, 'client_request_id', client_request_id, "          \
    "  'client_ip', client_ip, "                                                    \
    "  'created_at', to_char(created_at AT TIME ZONE 'UTC', "                       \
    "    'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text AS item, "                     \
    "  ((extract(epoch FROM created_at) * 1000000)::numeric)::bigint AS ts_us, id " \
    "FROM (" from ") e ORDER BY created_at DESC, id DESC LIMIT $9"
#define TOKEN_EVENTS "('oauth.token_issued', 'oauth.token_exchanged', 'oauth.token_refreshed')"
#define TOKEN_BRANCH(name) \
    AUDIT_BRANCH("event = '" name "' AND ($4::text IS NULL OR starts_with('" name "', $4)) ")
#define AUDIT_LIST(name, from)         \
    {                                  \
        name, AUDIT_SELECT(from), 9, 0 \
    }

static store_stmt list_by_actor = AUDIT_LIST(
    "audit_list_actor",
    AUDIT_BRANCH("hashtextextended(actor_id, 0) = hashtextextended($1::text, 0) "
                 "AND actor_id = $1 "));
static store_stmt list_by_target = AUDIT_LIST(
    "audit_list_target",
    AUDIT_BRANCH("target_id = $2 AND event IN " TOKEN_EVENTS " ") " UNION ALL " AUDIT_BRANCH(
        "target_id = $2 AND event NOT IN " TOKEN_EVENTS " "));
static store_stmt list_by_event = AUDIT_LIST(
    "audit_list_event", AUDIT_BRANCH("event = $3 AND event NOT IN " TOKEN_EVENTS " "));
static store_stmt list_issued = AUDIT_LIST("audit_list_issued", TOKEN_BRANCH("oauth.token_issued"));
static store_stmt list_exchanged = AUDIT_LIST("audit_list_exchanged",
                                              TOKEN_BRANCH("oauth.token_exchanged"));
static store_stmt list_refreshed = AUDIT_LIST("audit_list_refreshed",
                                              TOKEN_BRANCH("oauth.token_refreshed"));
#define ALL_EVENTS                                                                  \
    TOKEN_BRANCH("oauth.token_issued")                                              \
    " UNION ALL " TOKEN_BRANCH("oauth.token_exchanged") " UNION ALL " TOKEN_BRANCH( \
        "oauth.token_refreshed") " UNION ALL " AUDIT_BRANCH("event NOT IN " TOKEN_EVENTS " ")
static store_stmt list_all = AUDIT_LIST("audit_list", ALL_EVENTS);

static const store_stmt *event_stmt(const char *event)
{
    if (strcmp(event, "oauth.token_issued") == 0)
        return &list_issued;
    if (strcmp(event, "oauth.token_exchanged") == 0)
        return &list_exchanged;
    if (strcmp(event, "oauth.token_refreshed") == 0)
        return &list_refreshed;
    return &list_by_event;
}

int store_audit_list(store_pool *p, const store_audit_filter *f, store_cb cb, void *ud)
{
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", f->limit + 1);
    const char *params[] = {f->actor_id,     f->target_id, f->event,
                            f->event_prefix, f->since,     f->until,
                            f->cursor_ts,    f->cursor_id, limit};
    const store_stmt *st = f->actor_id    ? &list_by_actor
                           : f->target_id ? &list_by_target
                           : f->event     ? event_stmt(f->event)
                                          : &list_all;
    return store_exec(p, st, params, cb, ud);
}
