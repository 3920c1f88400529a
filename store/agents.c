#include "agents.h"

#include <stdio.h>

/* The audit row every statement below appends: event $E, actor, target,
 * metadata, request id and address, as an INSERT … SELECT over a CTE. */
#define AUDIT(event, actor, actor_type, target, meta, rid, ip)                               \
    "INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "       \
    "request_id, client_ip) SELECT shark_id('audit_'), '" event "', " actor ", '" actor_type \
    "', " target ", " meta ", " rid ", " ip " "

/* A timestamp to the microsecond, as a cursor carries it. */
#define TS_US(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* NULL stays NULL (an update leaves the column alone), else text[]. */
#define JSON_TEXT_ARRAY(p)                                                                     \
    "(CASE WHEN " p "::jsonb IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(" p \
    "::jsonb)) END)"

/* ---- apps ---- */

static store_stmt app_create = {
    "app_create",
    "WITH a AS (INSERT INTO apps (id, name, description, scopes, redirect_uris, resources) "
    "  VALUES ($1, $2, coalesce($3, ''), coalesce(" JSON_TEXT_ARRAY("$4") ", '{}'), "
              "  coalesce(" JSON_TEXT_ARRAY("$5") ", '{}'), coalesce(" JSON_TEXT_ARRAY("$8") ", '{}')) "
                        "  RETURNING *), "
                        "ev AS (" AUDIT("app.created", "'admin'", "admin", "a.id",
                    "jsonb_build_object('name', a.name)", "$6", "$7") "FROM a) "
                                              "SELECT shark_app_json(a)::text AS app FROM a",
                                        8, 0};

int store_app_create(store_pool *p, const store_app_in *in, const store_actor *who, store_cb cb,
                     void *ud)
{
    const char *params[] = {in->id,         in->name,          in->description,
                            in->scopes,     in->redirect_uris, who->request_id,
                            who->client_ip, in->resources};
    return store_exec(p, &app_create, params, cb, ud);
}

static store_stmt app_list = {
    "app_list",
    "SELECT coalesce((SELECT json_agg(j) FROM (SELECT shark_app_json(a) j FROM apps a "
    "  ORDER BY a.created_at DESC, a.id LIMIT $1 OFFSET $2) x), '[]')::text AS data, "
    "  (SELECT count(*) FROM apps) AS total",
    2, 0};

int store_app_list(store_pool *p, int limit, int offset, store_cb cb, void *ud)
{
    char l[16], o[16];
    snprintf(l, sizeof(l), "%d", limit);
    snprintf(o, sizeof(o), "%d", offset);
    const char *params[] = {l, o};
    return store_exec(p, &app_list, params, cb, ud);
}

static store_stmt app_get = {
    "app_get", "SELECT shark_app_json(a)::text AS app FROM apps a WHERE id = $1", 1, 0};

int store_app_get(store_pool *p, const char *id, store_cb cb, void *ud)
{
    const char *params[] = {id};
    return store_exec(p, &app_get, params, cb, ud);
}

static store_stmt app_update = {
    "app_update",
    "WITH a AS (UPDATE apps SET name = coalesce($2, name), "
    "  description = coalesce($3, description), "
    "  scopes = coalesce(" JSON_TEXT_ARRAY("$4") ", scopes), "
              "  redirect_uris = coalesce(" JSON_TEXT_ARRAY("$5") ", redirect_uris), "
                        "  resources = coalesce(" JSON_TEXT_ARRAY("$8") ", resources), "
                                  "  updated_at = now() WHERE id = $1 RETURNING *), "
                                  "ev AS (" AUDIT("app.updated", "'admin'", "admin", "a.id", "'{}'::jsonb", "$6", "$7") "FROM a) "
                                                  "SELECT shark_app_json(a)::text AS app FROM a",
                                      8, 0};

int store_app_update(store_pool *p, const store_app_in *in, const store_actor *who, store_cb cb,
                     void *ud)
{
    const char *params[] = {in->id,         in->name,          in->description,
                            in->scopes,     in->redirect_uris, who->request_id,
                            who->client_ip, in->resources};
    return store_exec(p, &app_update, params, cb, ud);
}

static store_stmt app_delete = {
    "app_delete",
    "WITH a AS (SELECT id FROM apps WHERE id = $1 FOR UPDATE), "
    "ag AS (SELECT client_id FROM oauth_clients WHERE app_id = $1), "
    "go AS (SELECT 1 WHERE EXISTS (SELECT 1 FROM a) AND ($2 OR NOT EXISTS (SELECT 1 FROM ag))), "
    "dis AS (UPDATE oauth_clients SET status = 'disabled', app_id = NULL, updated_at = now() "
    "  WHERE app_id = $1 AND EXISTS (SELECT 1 FROM go) RETURNING client_id), "
    "rev AS (SELECT shark_revoke_mark('client', ARRAY(SELECT client_id FROM dis), false) AS n), "
    "rt AS (UPDATE refresh_tokens SET revoked_at = now() WHERE client_id IN (SELECT client_id "
    "  FROM dis) AND revoked_at IS NULL), "
    "del AS (DELETE FROM apps WHERE id = $1 AND EXISTS (SELECT 1 FROM go) "
    "  AND NOT EXISTS (SELECT 1 FROM oauth_clients WHERE app_id = $1 AND client_id NOT IN "
    "  (SELECT client_id FROM dis)) RETURNING id), "
    "ev AS (" AUDIT("app.deleted", "'admin'", "admin", "del.id",
                    "jsonb_build_object('cascade', $2, 'disabled_agents', (SELECT count(*) FROM dis), "
                    "'revoked_tokens', (SELECT n FROM rev))",
                    "$3", "$4") "FROM del) "
              "SELECT EXISTS (SELECT 1 FROM a)::text AS found, (SELECT count(*) FROM ag) AS agents, "
              "  EXISTS (SELECT 1 FROM go)::text AS deleted, (SELECT n FROM rev) AS revoked",
        4, 0};

int store_app_delete(store_pool *p, const char *id, int cascade, const store_actor *who,
                     store_cb cb, void *ud)
{
    const char *params[] = {id, cascade ? "true" : "false", who->request_id, who->client_ip};
    return store_exec(p, &app_delete, params, cb, ud);
}

/* ---- agents ---- */

static store_stmt agent_create = {
    "agent_create",
    /* The key-share lock waits out a concurrent delete of the app; a deleted
     * app then reads as absent (404) instead of failing the foreign key. */
    "WITH a AS (SELECT id, scopes FROM apps WHERE id = $2 FOR KEY SHARE), "
    "u AS (SELECT 1 WHERE $6::text IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = $6)), "
    "s AS (SELECT " JSON_TEXT_ARRAY("$7") " AS scopes), "
              "ok AS (SELECT a.id FROM a, s WHERE EXISTS (SELECT 1 FROM u) "
              "  AND (cardinality(a.scopes) = 0 OR s.scopes <@ a.scopes)), "
              "ins AS (INSERT INTO oauth_clients (client_id, kind, name, description, secret_hash, "
              "  auth_method, grant_types, scopes, app_id, created_by, dpop_jkt, resource_server) "
              "  SELECT $1, 'agent', $3, coalesce($4, ''), $5, 'client_secret_basic', "
              "  " JSON_TEXT_ARRAY("$8") ", s.scopes, ok.id, $6, $9, coalesce($12::boolean, false) "
                        "  FROM ok, s RETURNING *), "
                        "ev AS (" AUDIT("agent.created", "$2", "app", "ins.client_id",
                    "jsonb_build_object('name', ins.name, 'scopes', to_jsonb(ins.scopes), "
                    "'created_by', ins.created_by) || CASE WHEN ins.resource_server THEN "
                    "'{\"resource_server\": true}'::jsonb ELSE '{}' END",
                    "$10", "$11") "FROM ins) "
                                   "SELECT EXISTS (SELECT 1 FROM a)::text AS app_found, EXISTS (SELECT 1 FROM u)::text AS "
                                   "  user_found, EXISTS (SELECT 1 FROM ok)::text AS scopes_ok, "
                                   "  (SELECT shark_agent_json(ins)::text FROM ins) AS agent",
                            12, 0};

int store_agent_create(store_pool *p, const store_agent_in *in, const store_actor *who, store_cb cb,
                       void *ud)
{
    const char *params[] = {in->id,          in->app_id,      in->name,       in->description,
                            in->secret_hash, in->created_by,  in->scopes,     in->grant_types,
                            in->dpop_jkt,    who->request_id, who->client_ip, in->resource_server};
    return store_exec(p, &agent_create, params, cb, ud);
}

static store_stmt agent_list = {
    "agent_list",
    "WITH f AS (SELECT * FROM oauth_clients c WHERE kind = 'agent' "
    "  AND ($1::text IS NULL OR app_id = $1) AND ($2::text IS NULL OR created_by = $2) "
    "  AND ($3::text IS NULL OR status = $3)) "
    "SELECT coalesce((SELECT json_agg(j) FROM (SELECT shark_agent_json(f) j FROM f "
    "  ORDER BY f.created_at DESC, f.client_id LIMIT $4 OFFSET $5) x), '[]')::text AS data, "
    "  (SELECT count(*) FROM f) AS total",
    5, 0};

int store_agent_list(store_pool *p, const char *app_id, const char *created_by, const char *status,
                     int limit, int offset, store_cb cb, void *ud)
{
    char l[16], o[16];
    snprintf(l, sizeof(l), "%d", limit);
    snprintf(o, sizeof(o), "%d", offset);
    const char *params[] = {app_id, created_by, status, l, o};
    return store_exec(p, &agent_list, params, cb, ud);
}

static store_stmt agent_get = {"agent_get",
                               "SELECT shark_agent_json(c)::text AS agent FROM oauth_clients c "
                               "WHERE client_id = $1 AND kind = 'agent'",
                               1, 0};

int store_agent_get(store_pool *p, const char *id, store_cb cb, void *ud)
{
    const char *params[] = {id};
    return store_exec(p, &agent_get, params, cb, ud);
}

static store_stmt agent_update = {
    "agent_update",
    /* An agent whose app was deleted (app_scopes NULL) may only narrow its
     * scopes: nothing else bounds them any more. */
    "WITH cur AS (SELECT c.client_id, c.status, c.scopes AS own_scopes, a.scopes AS app_scopes "
    "  FROM oauth_clients c LEFT JOIN apps a ON a.id = c.app_id WHERE c.client_id = $1 "
    "  AND c.kind = 'agent' FOR UPDATE OF c), "
    "s AS (SELECT " JSON_TEXT_ARRAY("$4") " AS scopes), "
              "ok AS (SELECT cur.client_id FROM cur, s WHERE s.scopes IS NULL "
              "  OR (cur.app_scopes IS NULL AND s.scopes <@ cur.own_scopes) "
              "  OR cardinality(cur.app_scopes) = 0 OR s.scopes <@ cur.app_scopes), "
              "up AS (UPDATE oauth_clients c SET name = coalesce($2, c.name), "
              "  description = coalesce($3, c.description), scopes = coalesce(s.scopes, c.scopes), "
              "  status = coalesce($5, c.status), "
              "  resource_server = coalesce($8::boolean, c.resource_server), updated_at = now() FROM s, ok "
              "  WHERE c.client_id = ok.client_id RETURNING c.*), "
              "rev AS (SELECT shark_revoke_mark('client', "
              "  ARRAY(SELECT client_id FROM up WHERE status = 'disabled'), false) AS n), "
              "rt AS (UPDATE refresh_tokens SET revoked_at = now() WHERE client_id IN "
              "  (SELECT client_id FROM up WHERE status = 'disabled') AND revoked_at IS NULL), "
              "ev AS (" AUDIT("agent.updated", "'admin'", "admin", "up.client_id",
                    "jsonb_build_object('status', up.status, 'revoked_tokens', "
                    "(SELECT n FROM rev)) || CASE WHEN $8::boolean IS NULL THEN '{}' "
                    "ELSE jsonb_build_object('resource_server', up.resource_server) END",
                    "$6", "$7") "FROM up) "
                        "SELECT EXISTS (SELECT 1 FROM ok)::text AS scopes_ok, "
                        "  (SELECT shark_agent_json(up)::text FROM up) AS agent, (SELECT n FROM rev) AS revoked "
                        "FROM cur",
                  8, 0};

int store_agent_update(store_pool *p, const store_agent_in *in, const store_actor *who, store_cb cb,
                       void *ud)
{
    const char *params[] = {in->id,     in->name,        in->description, in->scopes,
                            in->status, who->request_id, who->client_ip,  in->resource_server};
    return store_exec(p, &agent_update, params, cb, ud);
}

static store_stmt agent_delete = {
    "agent_delete",
    "WITH d AS (DELETE FROM oauth_clients WHERE client_id = $1 AND kind = 'agent' "
    "  RETURNING client_id, name), "
    "rev AS (SELECT shark_revoke_mark('client', ARRAY(SELECT client_id FROM d), false) AS n), "
    "rt AS (UPDATE refresh_tokens SET revoked_at = now() WHERE client_id IN (SELECT client_id "
    "  FROM d) AND revoked_at IS NULL), "
    "ev AS (" AUDIT("agent.deleted", "'admin'", "admin", "d.client_id",
                    "jsonb_build_object('name', d.name, 'revoked_tokens', "
                    "(SELECT n FROM rev))",
                    "$2", "$3") "FROM d) "
                                "SELECT (SELECT n FROM rev) AS revoked_count FROM d",
                    3, 0};

int store_agent_delete(store_pool *p, const char *id, const store_actor *who, store_cb cb, void *ud)
{
    const char *params[] = {id, who->request_id, who->client_ip};
    return store_exec(p, &agent_delete, params, cb, ud);
}

/* Newest first by (expires_at, jti): the order of oauth_tokens_client
 * (client_id, expires_at), so a page reads its rows off the index instead of
 * sorting all of an agent's tokens (tokens of one agent share a lifetime, so
 * this is their issuing order too). A page asks for one row more than it
 * shows to know whether another follows. The agent's own marks (client and
 * key) are read once, not per token. */
static store_stmt agent_tokens = {
    "agent_tokens",
    "WITH k AS (SELECT keep_jkt, revoked_before, coalesce(bound_before, '-infinity') AS bb "
    "  FROM revocation_watermarks WHERE kind = 'key' AND subject_id = $1), "
    "t AS (SELECT jti, client_id, jkt, scope, expires_at, issued_at FROM oauth_tokens "
    "  WHERE client_id = $1 AND revoked_at IS NULL AND expires_at > now() "
    "  AND issued_at > coalesce((SELECT revoked_before FROM revocation_watermarks "
    "    WHERE kind = 'client' AND subject_id = $1), '-infinity') "
    "  AND (user_id IS NULL OR NOT shark_token_marked(client_id, user_id, issued_at)) "
    "  AND (jkt IS NULL OR NOT EXISTS (SELECT 1 FROM k WHERE issued_at <= k.bb "
    "    OR (k.keep_jkt IS DISTINCT FROM jkt AND issued_at <= k.revoked_before)))), "
    "pg AS (SELECT * FROM t WHERE $3::timestamptz IS NULL OR (expires_at, jti) < ($3, $4) "
    "  ORDER BY expires_at DESC, jti DESC LIMIT $2::int + 1), "
    "shown AS (SELECT * FROM pg ORDER BY expires_at DESC, jti DESC LIMIT $2::int) "
    "SELECT coalesce((SELECT json_agg(json_build_object('token_id', jti, 'agent_id', "
    "  client_id, 'jkt', jkt, 'scope', scope, 'expires_at', expires_at, 'created_at', "
    "  issued_at) ORDER BY expires_at DESC, jti DESC) FROM shown), '[]')::text AS data, "
    "  (SELECT count(*) FROM t) AS total, "
    "  CASE WHEN (SELECT count(*) FROM pg) > $2::int THEN (SELECT " TS_US(
        "expires_at") "  || ' ' || jti FROM shown ORDER BY expires_at, jti LIMIT 1) END AS next "
                      "FROM oauth_clients WHERE client_id = $1 AND kind = 'agent'",
    4, 0};

int store_agent_tokens(store_pool *p, const char *id, int limit, const char *after_ts,
                       const char *after_jti, store_cb cb, void *ud)
{
    char l[16];
    snprintf(l, sizeof(l), "%d", limit);
    const char *params[] = {id, l, after_ts, after_jti};
    return store_exec(p, &agent_tokens, params, cb, ud);
}

static store_stmt agent_revoke_all = {
    "agent_revoke_all",
    "WITH c AS (SELECT client_id FROM oauth_clients WHERE client_id = $1 AND kind = 'agent'), "
    "rev AS (SELECT shark_revoke_mark('client', ARRAY(SELECT client_id FROM c), $4) AS n), "
    "rt AS (UPDATE refresh_tokens SET revoked_at = now() WHERE client_id IN (SELECT client_id "
    "  FROM c) AND revoked_at IS NULL AND NOT $4), "
    "ev AS (" AUDIT("agent.tokens_revoked_all", "'admin'", "admin", "c.client_id",
                    "jsonb_build_object('revoked_count', (SELECT n FROM rev), "
                    "'layer', 2)",
                    "$2", "$3") "FROM c WHERE NOT $4) "
                                "SELECT (SELECT n FROM rev) AS revoked_count FROM c",
                    4, 0};

int store_agent_revoke_all(store_pool *p, const char *id, int dry_run, const store_actor *who,
                           store_cb cb, void *ud)
{
    const char *params[] = {id, who->request_id, who->client_ip, dry_run ? "true" : "false"};
    return store_exec(p, &agent_revoke_all, params, cb, ud);
}

static store_stmt agent_rotate_secret = {
    "agent_rotate_secret",
    "WITH up AS (UPDATE oauth_clients SET prev_secret_hash = CASE WHEN $3::int > 0 "
    "  THEN secret_hash END, prev_secret_expires = CASE WHEN $3::int > 0 THEN now() + "
    "  $3::int * interval '1 second' END, secret_hash = $2, updated_at = now() "
    "  WHERE client_id = $1 AND kind = 'agent' RETURNING client_id, updated_at), "
    "ev AS (" AUDIT("agent.secret_rotated", "'admin'", "admin", "up.client_id",
                    "jsonb_build_object('grace_period_seconds', $3::int)", "$4", "$5") "FROM up) "
                          "SELECT to_jsonb(updated_at) #>> '{}' AS rotated_at FROM up",
                    5, 0};

int store_agent_rotate_secret(store_pool *p, const char *id, const char *secret_hash, int grace_s,
                              const store_actor *who, store_cb cb, void *ud)
{
    char g[16];
    snprintf(g, sizeof(g), "%d", grace_s);
    const char *params[] = {id, secret_hash, g, who->request_id, who->client_ip};
    return store_exec(p, &agent_rotate_secret, params, cb, ud);
}

/* Tokens bound to any key but the new one die with the old binding: one key
 * mark (migration 0036) covers the agent's access and refresh tokens. */
static store_stmt agent_rotate_dpop = {
    "agent_rotate_dpop",
    "WITH old AS (SELECT client_id, dpop_jkt FROM oauth_clients WHERE client_id = $1 "
    "  AND kind = 'agent' FOR UPDATE), "
    "up AS (UPDATE oauth_clients SET dpop_jkt = $2, updated_at = now() WHERE client_id IN "
    "  (SELECT client_id FROM old) AND NOT $6 RETURNING client_id), "
    "rev AS (SELECT shark_revoke_key(client_id, $2, $6) AS n FROM old), "
    "ev AS (" AUDIT("agent.dpop_key_rotated", "'admin'", "admin", "old.client_id",
                    "jsonb_build_object('old_jkt', old.dpop_jkt, 'new_jkt', $2::text, "
                    "'reason', $3::text, 'revoked_token_count', (SELECT n FROM rev))",
                    "$4", "$5") "FROM old WHERE NOT $6 RETURNING id) "
                    "SELECT coalesce(old.dpop_jkt, '') AS old_jkt, (SELECT n FROM rev) "
                    "  AS revoked_token_count, (SELECT id FROM ev) AS audit_event_id FROM old",
        6, 0};

int store_agent_rotate_dpop(store_pool *p, const char *id, const char *new_jkt, const char *reason,
                            int dry_run, const store_actor *who, store_cb cb, void *ud)
{
    const char *params[] = {
        id, new_jkt, reason, who->request_id, who->client_ip, dry_run ? "true" : "false"};
    return store_exec(p, &agent_rotate_dpop, params, cb, ud);
}
