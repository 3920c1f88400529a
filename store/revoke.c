#include "revoke.h"

#include <stdio.h>

#define TS(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* starts_with rather than LIKE: the prefix needs no escaping. */
static store_stmt candidates = {
    "revoke_candidates",
    "SELECT client_id FROM oauth_clients WHERE starts_with(client_id, $1) ORDER BY client_id",
    1, 0};

int store_revoke_candidates(store_pool *p, const char *prefix, store_cb cb, void *ud)
{
    const char *params[] = {prefix};
    return store_exec(p, &candidates, params, cb, ud);
}

static store_stmt revoke_clients = {
    "revoke_clients",
    "WITH c AS (SELECT jsonb_array_elements_text($1::jsonb) AS client_id), "
    "t AS (UPDATE oauth_tokens SET revoked_at = now() WHERE revoked_at IS NULL "
    "  AND expires_at > now() AND client_id IN (SELECT client_id FROM c) RETURNING jti), "
    "rt AS (UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL "
    "  AND client_id IN (SELECT client_id FROM c)), "
    "ev AS (INSERT INTO audit_events (id, event, actor_type, metadata, request_id, client_ip) "
    "  SELECT shark_id('audit_'), 'oauth.tokens_revoked_by_pattern', 'admin', "
    "  jsonb_build_object('pattern', $2::text, 'reason', $3::text, 'layer', 4, "
    "  'revoked_count', (SELECT count(*) FROM t), "
    "  'matched_client_count', jsonb_array_length($1::jsonb), "
    "  'client_ids', (SELECT coalesce(jsonb_agg(client_id), '[]'::jsonb) "
    "    FROM (SELECT client_id FROM c LIMIT 1000) s)), $4, $5 RETURNING id) "
    "SELECT (SELECT count(*) FROM t) AS revoked_count, (SELECT id FROM ev) AS audit_event_id",
    5, 0};

int store_revoke_clients(store_pool *p, const char *client_ids, const char *pattern,
                         const char *reason, const store_actor *who, store_cb cb, void *ud)
{
    const char *params[] = {client_ids, pattern, reason, who->request_id, who->client_ip};
    return store_exec(p, &revoke_clients, params, cb, ud);
}

/* Bulk revocations stamp many tokens with the same instant, so the position
 * is (revoked_at, jti): a page may end inside such a group and the next one
 * resumes exactly there. */
static store_stmt feed = {
    "revoke_feed",
    "SELECT json_build_object('data', coalesce(json_agg(json_build_object('jti', jti, "
    "  'client_id', client_id, 'revoked_at', " TS("revoked_at") ", "
    "  'expires_at', " TS("expires_at") ") ORDER BY revoked_at, jti), '[]'::json), "
    "  'next_since', " TS("max(revoked_at)") ", "
    "  'next_after_jti', (array_agg(jti ORDER BY revoked_at DESC, jti DESC))[1])::text AS body "
    "FROM (SELECT jti, client_id, revoked_at, expires_at FROM oauth_tokens "
    "  WHERE revoked_at >= coalesce($1::timestamptz, now() - interval '1 day') "
    "  AND expires_at > now() "
    "  AND CASE WHEN $2::text IS NULL "
    "    THEN revoked_at > coalesce($1::timestamptz, now() - interval '1 day') "
    "    ELSE (revoked_at, jti) > (coalesce($1::timestamptz, now() - interval '1 day'), $2) END "
    "  ORDER BY revoked_at, jti LIMIT $3::int) r",
    3, 0};

int store_revocations(store_pool *p, const char *since, const char *after_jti, int limit,
                      store_cb cb, void *ud)
{
    char l[16];
    snprintf(l, sizeof(l), "%d", limit);
    const char *params[] = {since, after_jti, l};
    return store_exec(p, &feed, params, cb, ud);
}
