/*
 * store/audit: the audit log every mutating path appends to, in the same
 * transaction (or the same statement) as the change it records, and the
 * newest-first keyset-paginated query behind GET /api/v1/audit-logs.
 */
#ifndef SHARK_STORE_AUDIT_H
#define SHARK_STORE_AUDIT_H

#include <stdint.h>

#include "store.h"

typedef struct store_audit_event {
    const char *event;      /* canonical name, e.g. "agent.created" */
    const char *actor_id;   /* may be NULL */
    const char *actor_type; /* "admin", "agent", "user", "system" */
    const char *target_id;  /* may be NULL */
    const char *metadata;   /* JSON object text; NULL = {} */
    const char *request_id, *client_ip;
} store_audit_event;

/* Appends inside txn; the result row carries the new `id`. */
int store_audit_append(store_txn *txn, const store_audit_event *ev, store_cb cb, void *ud);
/* Appends on its own (an event with no change beside it, e.g. a refusal). */
int store_audit_record(store_pool *p, const store_audit_event *ev, store_cb cb, void *ud);

/* Summarizes the page ranges of the token events' jti index (BRIN, see
 * migration 0044) that inserts have moved past, so that a lookup by jti
 * skips them; one node at a time (another's call does nothing). Any node,
 * every few seconds. store_audit_summarized reads how many ranges it did. */
int store_audit_summarize(store_pool *p, store_cb cb, void *ud);
int64_t store_audit_summarized(const PGresult *res);

typedef struct store_audit_filter {
    const char *actor_id, *target_id;
    const char *event;         /* exact name, or NULL */
    const char *event_prefix;  /* "oauth." for "oauth.*", or NULL */
    const char *since, *until; /* timestamptz text, or NULL */
    const char *cursor_ts;     /* keyset position: created_at in microseconds since epoch */
    const char *cursor_id;
    int limit; /* rows wanted; one more is fetched to detect a next page */
} store_audit_filter;

/* Rows (store_audit_row_read): newest first, at most limit+1. Bad
 * timestamps fail with STORE_EINVALID. */
int store_audit_list(store_pool *p, const store_audit_filter *f, store_cb cb, void *ud);

/* Row i of a store_audit_list result; the strings live during the callback
 * only. */
typedef struct store_audit_row {
    const char *item; /* the event as JSON text */
    size_t item_len;
    const char *ts_us, *id; /* its keyset position: created_at in µs since the epoch, id */
} store_audit_row;
int store_audit_rows(const PGresult *res);
void store_audit_row_read(const PGresult *res, int i, store_audit_row *out);

#endif
