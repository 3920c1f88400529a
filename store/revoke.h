/*
 * store/revoke: Layer 4 (revoke every live token of a set of clients, with
 * its audit event, in one statement that writes a watermark per client) and the revocation feed
 * resource servers poll.
 */
#ifndef SHARK_STORE_REVOKE_H
#define SHARK_STORE_REVOKE_H

#include "agents.h"
#include "page.h"
#include "store.h"

/* Rows: `client_id` of every client whose id starts with `prefix`. */
int store_revoke_candidates(store_pool *p, const char *prefix, store_cb cb, void *ud);

/* Revokes the live tokens of the clients in `client_ids` (JSON array of
 * strings) by one watermark each (migration 0026) and appends
 * oauth.tokens_revoked_by_pattern. Row: `revoked_count`, `audit_event_id`
 * (NULL on a dry run, which only counts), `matched_client_count`. */
int store_revoke_clients(store_pool *p, const char *client_ids, const char *pattern,
                         const char *reason, int dry_run, const store_actor *who, store_cb cb,
                         void *ud);

/* A page (store/page.h) of revoked, unexpired tokens {jti, client_id,
 * revoked_at, expires_at}, oldest first by (revoked_at, jti), after `since`
 * (default: a day ago), after (since, after_jti) when after_jti is given,
 * or after the page's cursor; its extra members are next_since and
 * next_after_jti (the last row shown, null on an empty page). Bad
 * timestamps fail with STORE_EINVALID. */
int store_revocations(store_pool *p, const char *since, const char *after_jti,
                      const store_page_q *q, store_cb cb, void *ud);

#endif
