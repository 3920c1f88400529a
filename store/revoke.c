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
    "AND w.revoked_before >= (SELECT since FROM pos) "                                      \
    "AND t.issued_at <= w.revoked_before AND t.revoked_at IS NULL AND t.expires_at > now()"

/* The live tokens a DPoP key mark set in the window covers (migration 0036). */
#define KEY_MARKED                                                                          \
    "SELECT t.jti, t.client_id, CASE WHEN w.keep_jkt IS DISTINCT FROM t.jkt AND "           \
    "t.issued_at <= w.revoked_before THEN w.revoked_before ELSE w.bound_before END AS rb, " \
    "t.expires_at FROM revocation_watermarks w JOIN oauth_tokens t ON t.client_id = "       \
    "w.subject_id AND t.jkt IS NOT NULL WHERE w.kind = 'key' AND w.revoked_before >= "      \
    "(SELECT since FROM pos) AND (t.issued_at <= w.bound_before "                           \
    "OR (w.keep_jkt IS DISTINCT FROM t.jkt AND t.issued_at <= w.revoked_before)) "          \
    "AND t.revoked_at IS NULL AND t.expires_at > now()"

/* A feed, so oldest first (a reader polls forward from its position); the
 * page row of store/page.h, with next_since and next_after_jti as extra. A
 * cursor ($3, $4) is a position like (since, after_jti). */
static store_stmt feed = {
    "revoke_feed",
    "WITH pos AS (SELECT coalesce($3::timestamptz, $6::timestamptz, now() - interval '1 day') "
    "  AS since, CASE WHEN $3::timestamptz IS NULL THEN $7::text ELSE $4::text END AS after), "
    "u AS (SELECT jti, client_id, revoked_at, expires_at FROM (SELECT jti, client_id, "
    "  revoked_at, expires_at FROM oauth_tokens "
    "  WHERE revoked_at >= (SELECT since FROM pos) "
    "  AND expires_at > now() "
    "  UNION ALL SELECT jti, client_id, min(rb), expires_at FROM (" MARKED("'client'", "t.client_id = w.subject_id") " UNION ALL " MARKED("'user'", "t.user_id = w.subject_id") " UNION ALL " MARKED(
        "'grant'",
        "t.user_id = split_part(w.subject_id, ' ', 1) AND t.client_id = "
        "substr(w.subject_id, strpos(w.subject_id, ' ') + 1)") " UNION ALL " KEY_MARKED ") m "
                                                               "  GROUP BY jti, client_id, expires_at) u0 "
                                                               "  WHERE CASE WHEN (SELECT after FROM pos) IS NULL "
                                                               "    THEN revoked_at > (SELECT since FROM pos) "
                                                               "    ELSE (revoked_at, jti) > ((SELECT since FROM pos), (SELECT after FROM pos)) END), "
                                                               "pg AS (SELECT * FROM u ORDER BY revoked_at, jti LIMIT $1::int + 1 OFFSET $2::int), "
                                                               "shown AS (SELECT * FROM pg ORDER BY revoked_at, jti LIMIT $1::int), "
                                                               "last AS (SELECT revoked_at, jti FROM shown ORDER BY revoked_at DESC, jti DESC LIMIT 1) "
                                                               "SELECT coalesce((SELECT json_agg(json_build_object('jti', jti, 'client_id', client_id, "
                                                               "  'revoked_at', " TS("revoked_at") ", 'expires_at', " TS("expires_at") ") "
                                                                                 "  ORDER BY revoked_at, jti) FROM shown), '[]')::text AS data, "
                                                                                 "  CASE WHEN (SELECT count(*) FROM pg) > $1::int THEN (SELECT " TS("revoked_at") " || ' ' || jti "
                                                                                                   "  FROM last) END AS next, "
                                                                                                   "  CASE WHEN $5::boolean THEN (SELECT count(*) FROM u) END AS total, "
                                                                                                   "  json_build_object('next_since', (SELECT " TS("revoked_at") " FROM last), "
                                                                                                                     "  'next_after_jti', (SELECT jti FROM last))::text AS extra",
                                                                                                       7,
                                                                                                       0};

int store_revocations(store_pool *p, const char *since, const char *after_jti,
                      const store_page_q *q, store_cb cb, void *ud)
{
    store_page_args a;
    store_page_bind(q, &a);
    const char *params[] = {a.v[0], a.v[1], a.v[2], a.v[3], a.v[4], since, after_jti};
    return store_exec(p, &feed, params, cb, ud);
}
