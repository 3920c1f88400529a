#include "chain.h"

/* A hop is revoked by its own revoked_at or by a watermark covering it (a
 * bulk revocation of its client, its user, that user's grant to it or its
 * DPoP key, as the token check reads them): the mark's time is when it was
 * revoked. A NULL subject is the client's (migration 0043). */
#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

static store_stmt chain_stmt = {
    "token_chain",
    "WITH RECURSIVE up AS ("
    "  (SELECT jti, parent_jti, 0 AS depth FROM oauth_tokens WHERE jti = $1 LIMIT 1) "
    "  UNION ALL "
    "  SELECT p.jti, p.parent_jti, up.depth + 1 FROM up "
    "  JOIN oauth_tokens p ON p.jti = up.parent_jti WHERE up.depth < 31), "
    "hops AS (SELECT DISTINCT ON (up.depth) up.depth, t.*, c.name AS client_name, "
    "  c.kind AS client_kind, coalesce(t.revoked_at, greatest((SELECT max(w.revoked_before) "
    "    FROM revocation_watermarks w WHERE w.revoked_before >= t.issued_at AND ("
    "    (w.kind = 'client' AND w.subject_id = t.client_id) OR (t.user_id IS NOT NULL AND ("
    "    (w.kind = 'user' AND w.subject_id = t.user_id) OR "
    "    (w.kind = 'grant' AND w.subject_id = t.user_id || ' ' || t.client_id))))), "
    "    (SELECT CASE WHEN w.keep_jkt IS DISTINCT FROM t.jkt AND w.revoked_before >= "
    "      t.issued_at THEN w.revoked_before WHEN w.bound_before >= t.issued_at "
    "      THEN w.bound_before END FROM revocation_watermarks w WHERE w.kind = 'key' "
    "      AND w.subject_id = t.client_id AND t.jkt IS NOT NULL))) AS revoked "
    "  FROM up JOIN oauth_tokens t ON t.jti = up.jti "
    "  LEFT JOIN oauth_clients c ON c.client_id = t.client_id ORDER BY up.depth) "
    "SELECT CASE WHEN count(*) = 0 THEN NULL ELSE json_build_object('jti', $1::text, "
    "  'principal', (SELECT json_build_object('subject', coalesce(subject, client_id), "
    "    'user_id', user_id) "
    "    FROM hops ORDER BY depth DESC LIMIT 1), "
    "  'hops', json_agg(json_build_object('jti', h.jti, 'parent_jti', h.parent_jti, "
    "    'client_id', h.client_id, 'client_name', h.client_name, 'client_kind', h.client_kind, "
    "    'subject', coalesce(h.subject, h.client_id), 'scope', h.scope, 'jkt', h.jkt, 'audience', h.audience, "
    "    'issued_at', " ISO("h.issued_at") ", 'expires_at', " ISO("h.expires_at") ", "
                        "    'revoked_at', " ISO("h.revoked") ", "
                                         "    'events', (SELECT coalesce(json_agg(json_build_object('id', e.id, 'event', e.event, "
                                         "      'actor_id', e.actor_id, 'actor_type', e.actor_type, 'metadata', e.metadata, "
                                         "      'created_at', " ISO("e.created_at") ") ORDER BY e.created_at, e.id), '[]'::json) "
                                                             "      FROM (SELECT * FROM audit_events WHERE target_id = h.jti "
                                                             "            ORDER BY created_at, id LIMIT 50) e)) "
                                                             "    ORDER BY h.depth DESC))::text END AS chain FROM hops h",
                                             1, 0};

int store_token_chain(store_pool *p, const char *jti, store_cb cb, void *ud)
{
    const char *params[] = {jti};
    return store_exec(p, &chain_stmt, params, cb, ud);
}
