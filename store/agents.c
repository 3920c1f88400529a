#include "agents.h"

#include <stdio.h>

/* The audit row every statement below appends: event $E, actor, target,
 * metadata, request id and address, as an INSERT … SELECT over a CTE. */
#define AUDIT(event, actor, actor_type, target, meta, rid, ip)                               \
    "INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "       \
    "request_id, client_ip) SELECT shark_id('audit_'), '" event "', " actor ", '" actor_type \
    "', " target ", " meta ", " rid ", " ip " "

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
    "app_list", STORE_PAGE("shark_app_json(a)", "apps", "a", "true", "a.created_at", "a.id", ""), 5,
    0};

int store_app_list(store_pool *p, const store_page_q *q, store_cb cb, void *ud)
{
    store_page_args a;
    store_page_bind(q, &a);
    return store_exec(p, &app_list, a.v, cb, ud);
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

/* One statement per leading filter, each a plain equality that an index
 * (…, created_at, client_id) serves even in a generic plan; the other
 * filters are checked on the rows that index yields. */
#define AGENT_PAGE(name, lead)                                                                  \
    {                                                                                           \
        name,                                                                                   \
            STORE_PAGE("shark_agent_json(c)", "oauth_clients", "c",                             \
                       "c.kind = 'agent' AND " lead " AND ($6::text IS NULL OR c.app_id = $6) " \
                       "AND ($7::text IS NULL OR c.created_by = $7) "                           \
                       "AND ($8::text IS NULL OR c.status = $8)",                               \
                       "c.created_at", "c.client_id", ""),                                      \
            8, 0                                                                                \
    }

static store_stmt agent_list = AGENT_PAGE("agent_list", "true");
static store_stmt agent_list_app = AGENT_PAGE("agent_list_app", "c.app_id = $6");
static store_stmt agent_list_creator = AGENT_PAGE("agent_list_creator", "c.created_by = $7");

int store_agent_list(store_pool *p, const char *app_id, const char *created_by, const char *status,
                     const store_page_q *q, store_cb cb, void *ud)
{
    store_page_args a;
    store_page_bind(q, &a);
    const char *params[] = {a.v[0], a.v[1], a.v[2], a.v[3], a.v[4], app_id, created_by, status};
    const store_stmt *st = app_id       ? &agent_list_app
                           : created_by ? &agent_list_creator
                                        : &agent_list;
    return store_exec(p, st, params, cb, ud);
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
 * this is their issuing order too). The agent's DPoP key marks (migration
 * 0036) hide the tokens a key rotation revoked. */
#define LIVE_TOKENS                                                                           \
    "t.client_id = $6 AND t.revoked_at IS NULL AND t.expires_at > now() "                     \
    "AND t.issued_at > coalesce((SELECT revoked_before FROM revocation_watermarks "           \
    "  WHERE kind = 'client' AND subject_id = $6), '-infinity') "                             \
    "AND (t.user_id IS NULL OR NOT shark_token_marked(t.client_id, t.user_id, t.issued_at)) " \
    "AND NOT shark_key_marked(t.client_id, t.jkt, t.issued_at)"
static store_stmt agent_tokens = {
    "agent_tokens",
    STORE_PAGE("json_build_object('token_id', t.jti, 'agent_id', t.client_id, 'jkt', t.jkt, "
               "'scope', t.scope, 'expires_at', t.expires_at, 'created_at', t.issued_at)",
               "oauth_tokens", "t", LIVE_TOKENS, "t.expires_at", "t.jti",
               "FROM oauth_clients WHERE client_id = $6 AND kind = 'agent'"),
    6, 0};

int store_agent_tokens(store_pool *p, const char *id, const store_page_q *q, store_cb cb, void *ud)
{
    store_page_args a;
    store_page_bind(q, &a);
    const char *params[] = {a.v[0], a.v[1], a.v[2], a.v[3], a.v[4], id};
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
