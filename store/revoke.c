#include "revoke.h"

#include <stdio.h>

#define TS(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* starts_with rather than LIKE: the prefix needs no escaping. */
static store_stmt candidates = {
    "revoke_candidates",
    "SELECT client_id FROM oauth_clients WHERE starts_with(client_id, $1) ORDER BY client_id", 1,
    0};

int store_revoke_candidates(store_pool *p, const char *prefix, store_cb cb, void *ud)
{
    const char *params[] = {prefix};
    return store_exec(p, &candidates, params, cb, ud);
}

static store_stmt revoke_clients = {
    "revoke_clients",
    "WITH c AS (SELECT jsonb_array_elements_text($1::jsonb) AS client_id), "
    "t AS (SELECT shark_revoke_mark('client', ARRAY(SELECT client_id FROM c), $6) AS n), "
    "rt AS (UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL "
    "  AND client_id IN (SELECT client_id FROM c) AND NOT $6), "
    "ev AS (INSERT INTO audit_events (id, event, actor_type, metadata, request_id, client_ip) "
    "  SELECT shark_id('audit_'), 'oauth.tokens_revoked_by_pattern', 'admin', "
    "  jsonb_build_object('pattern', $2::text, 'reason', $3::text, 'layer', 4, "
    "  'revoked_count', (SELECT n FROM t), "
    "  'matched_client_count', jsonb_array_length($1::jsonb), "
    "  'client_ids', (SELECT coalesce(jsonb_agg(client_id), '[]'::jsonb) "
    "    FROM (SELECT client_id FROM c LIMIT 1000) s)), $4, $5 WHERE NOT $6 RETURNING id) "
    "SELECT (SELECT n FROM t) AS revoked_count, (SELECT id FROM ev) AS audit_event_id, "
    "  jsonb_array_length($1::jsonb) AS matched_client_count",
    6, 0};

int store_revoke_clients(store_pool *p, const char *client_ids, const char *pattern,
                         const char *reason, int dry_run, const store_actor *who, store_cb cb,
                         void *ud)
{
    const char *params[] = {client_ids,      pattern,        reason,
                            who->request_id, who->client_ip, dry_run ? "true" : "false"};
    return store_exec(p, &revoke_clients, params, cb, ud);
}

/* Tokens revoked one by one carry revoked_at; those a watermark covers
 * (migration 0026) are listed at the watermark's time. Bulk revocations
 * revoke many tokens at the same instant, so the position is (revoked_at,
 * jti): a page may end inside such a group and the next one resumes exactly
 * there. */
/* The live tokens a watermark of `kind` set in the window covers. */
#define MARKED(kind, join)                                                                  \
    "SELECT t.jti, t.client_id, w.revoked_before AS rb, t.expires_at "                      \
    "FROM revocation_watermarks w JOIN oauth_tokens t ON " join " WHERE w.kind = " kind " " \
    "AND w.revoked_before >= coalesce($1::timestamptz, now() - interval '1 day') "          \
    "AND t.issued_at <= w.revoked_before AND t.revoked_at IS NULL AND t.expires_at > now()"

/* The live tokens a DPoP key mark set in the window covers (migration 0036). */
#define KEY_MARKED                                                                            \
    "SELECT t.jti, t.client_id, CASE WHEN w.keep_jkt IS DISTINCT FROM t.jkt AND "             \
    "t.issued_at <= w.revoked_before THEN w.revoked_before ELSE w.bound_before END AS rb, "   \
    "t.expires_at FROM revocation_watermarks w JOIN oauth_tokens t ON t.client_id = "         \
    "w.subject_id AND t.jkt IS NOT NULL WHERE w.kind = 'key' AND w.revoked_before >= "        \
    "coalesce($1::timestamptz, now() - interval '1 day') AND (t.issued_at <= w.bound_before " \
    "OR (w.keep_jkt IS DISTINCT FROM t.jkt AND t.issued_at <= w.revoked_before)) "            \
    "AND t.revoked_at IS NULL AND t.expires_at > now()"

static store_stmt feed = {
    "revoke_feed",
    "SELECT json_build_object('data', coalesce(json_agg(json_build_object('jti', jti, "
    "  'client_id', client_id, 'revoked_at', " TS("revoked_at") ", "
                      "  'expires_at', " TS("expires_at") ") ORDER BY revoked_at, jti), '[]'::json), "
                                        "  'next_since', " TS("max(revoked_at)") ", "
                                                               "  'next_after_jti', (array_agg(jti ORDER BY revoked_at DESC, jti DESC))[1])::text AS body "
                                                               "FROM (SELECT jti, client_id, revoked_at, expires_at FROM (SELECT jti, client_id, "
                                                               "  revoked_at, expires_at FROM oauth_tokens "
                                                               "  WHERE revoked_at >= coalesce($1::timestamptz, now() - interval '1 day') "
                                                               "  AND expires_at > now() "
                                                               "  UNION ALL SELECT jti, client_id, min(rb), expires_at FROM (" MARKED("'client'", "t.client_id = w.subject_id") " UNION ALL " MARKED(
                                                                   "'user'",
                                                                   "t.user_id = w.subject_id") " UNION ALL " MARKED("'grant'",
                                                                                                                    "t.user_id = split_part(w.subject_id, ' ', 1) AND t.client_id = "
                                                                                                                    "substr(w.subject_id, strpos(w.subject_id, ' ') + 1)") " UNION ALL " KEY_MARKED
                                                                                                                                                                           ") m GROUP BY jti, client_id, expires_at) u "
                                                                                                                                                                           "  WHERE CASE WHEN $2::text IS NULL "
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
