#include "users.h"

#include <stdio.h>

/* ISO-8601 UTC with microseconds, the format every admin response uses. */
#define TS(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

#define USER_JSON(u)                                                               \
    "json_build_object('id', " u ".id, 'email', " u ".email, 'name', " u ".name, " \
    "'email_verified', " u                                                         \
    ".email_verified, 'created_at', " TS(u ".created_at") ", "                     \
                                                          "'updated_at', " TS(u ".updated_at") ")"

#define AUDIT_COLS                                                         \
    "audit_events (id, event, actor_id, actor_type, target_id, metadata, " \
    "request_id, client_ip)"

static store_stmt user_create = {
    "users_create",
    "WITH u AS (INSERT INTO users (id, email, name, email_verified) VALUES (shark_id('usr_'), "
    "  $1, coalesce($2, ''), coalesce($3::boolean, false)) RETURNING *), "
    "ev AS (INSERT INTO " AUDIT_COLS " SELECT shark_id('audit_'), 'user.created', NULL, "
    "  'admin', u.id, jsonb_build_object('email', u.email), $4, $5 FROM u) "
    "SELECT " USER_JSON("u") "::text AS item FROM u", 5, 0};

int store_user_create(store_pool *p, const store_user_fields *f, const store_actor *o, store_cb cb,
                      void *ud)
{
    const char *params[] = {f->email, f->name, f->email_verified, o->request_id, o->client_ip};
    return store_exec(p, &user_create, params, cb, ud);
}

/* strpos, not LIKE: the filter is a plain substring, so % and _ in it are
 * ordinary characters. */
static store_stmt user_list = {
    "users_list", STORE_PAGE(USER_JSON("u"), "users", "u",
                                       "$6::text IS NULL OR strpos(lower(u.email), lower($6)) > 0",
                                       "u.created_at", "u.id", ""),
                             6, 0};

int store_user_list(store_pool *p, const char *email, const store_page_q *q, store_cb cb, void *ud)
{
    store_page_args a;
    store_page_bind(q, &a);
    const char *params[] = {a.v[0], a.v[1], a.v[2], a.v[3], a.v[4], email};
    return store_exec(p, &user_list, params, cb, ud);
}

static store_stmt user_get = {
    "users_get", "SELECT " USER_JSON("u") "::text AS item FROM users u WHERE u.id = $1", 1, 0};

int store_user_get(store_pool *p, const char *id, store_cb cb, void *ud)
{
    const char *params[] = {id};
    return store_exec(p, &user_get, params, cb, ud);
}

/* A new address is unverified unless the request says otherwise. */
static store_stmt user_update = {
    "users_update",
    "WITH u AS (UPDATE users SET email = coalesce($2, email), name = coalesce($3, name), "
    "  email_verified = CASE WHEN $4::boolean IS NOT NULL THEN $4::boolean "
    "    WHEN $2::text IS NOT NULL AND lower($2) <> lower(email) THEN false "
    "    ELSE email_verified END, updated_at = now() WHERE id = $1 RETURNING *), "
    "ev AS (INSERT INTO " AUDIT_COLS " SELECT shark_id('audit_'), 'user.updated', NULL, "
    "  'admin', u.id, jsonb_strip_nulls(jsonb_build_object('email', $2::text, 'name', $3::text, "
    "  'email_verified', $4::boolean)), $5, $6 FROM u) "
    "SELECT " USER_JSON("u") "::text AS item FROM u", 6, 0};

int store_user_update(store_pool *p, const char *id, const store_user_fields *f,
                      const store_actor *o, store_cb cb, void *ud)
{
    const char *params[] = {id, f->email, f->name, f->email_verified, o->request_id, o->client_ip};
    return store_exec(p, &user_update, params, cb, ud);
}

/* Tokens issued on the user's behalf die with the user; agents the user
 * created live on (created_by is cleared by the foreign key). */
static store_stmt user_delete = {
    "users_delete",
    "WITH d AS (DELETE FROM users WHERE id = $1 RETURNING id, email), "
    "t AS (SELECT shark_revoke_mark('user', ARRAY(SELECT id FROM d), false) AS n), "
    "rt AS (UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL "
    "  AND user_id IN (SELECT id FROM d)), "
    "ev AS (INSERT INTO " AUDIT_COLS " SELECT shark_id('audit_'), 'user.deleted', NULL, "
    "  'admin', d.id, jsonb_build_object('email', d.email, 'revoked_token_count', "
    "  (SELECT n FROM t)), $2, $3 FROM d) "
    "SELECT count(*) AS deleted, (SELECT n FROM t) AS revoked FROM d",
    3, 0};

int store_user_delete(store_pool *p, const char *id, const store_actor *o, store_cb cb, void *ud)
{
    const char *params[] = {id, o->request_id, o->client_ip};
    return store_exec(p, &user_delete, params, cb, ud);
}

/* The agents it created and those it consented to, as one id set the page
 * joins back to: bounded by the user's own agents, not by all agents. */
static store_stmt user_agents = {
    "users_agents",
    STORE_PAGE("shark_agent_json(c)", "oauth_clients", "c",
               "c.kind = 'agent' AND c.client_id IN (SELECT client_id FROM oauth_clients "
               "  WHERE created_by = $6 AND $7 <> 'authorized' UNION SELECT client_id "
               "  FROM consents WHERE user_id = $6 AND revoked_at IS NULL AND $7 <> 'created')",
               "c.created_at", "c.client_id", "FROM users WHERE id = $6"),
    7, 0};

int store_user_agents(store_pool *p, const char *id, const char *filter, const store_page_q *q,
                      store_cb cb, void *ud)
{
    store_page_args a;
    store_page_bind(q, &a);
    const char *params[] = {a.v[0], a.v[1], a.v[2], a.v[3], a.v[4], id, filter};
    return store_exec(p, &user_agents, params, cb, ud);
}

static store_stmt user_consents = {
    "users_consents",
    STORE_PAGE("json_build_object('id', k.id, 'user_id', k.user_id, 'client_id', k.client_id, "
               "'scopes', to_json(k.scopes), 'created_at', " TS("k.created_at") ")", "consents", "k", "k.user_id = $6 AND k.revoked_at IS NULL",
                   "k.created_at", "k.id", "FROM users WHERE id = $6"),
               6, 0};

int store_user_consents(store_pool *p, const char *id, const store_page_q *q, store_cb cb, void *ud)
{
    store_page_args a;
    store_page_bind(q, &a);
    const char *params[] = {a.v[0], a.v[1], a.v[2], a.v[3], a.v[4], id};
    return store_exec(p, &user_consents, params, cb, ud);
}

static store_stmt consent_revoke = {
    "users_consent_revoke",
    "WITH k AS (UPDATE consents SET revoked_at = now() WHERE id = $2 AND user_id = $1 "
    "  AND revoked_at IS NULL RETURNING id, client_id), "
    "t AS (SELECT shark_revoke_mark('grant', ARRAY(SELECT $1 || ' ' || client_id FROM k), "
    "  false) AS n), "
    "rt AS (UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL "
    "  AND user_id = $1 AND client_id IN (SELECT client_id FROM k)), "
    "ev AS (INSERT INTO " AUDIT_COLS " SELECT shark_id('audit_'), 'user.consent_revoked', "
    "  NULL, 'admin', k.id, jsonb_build_object('user_id', $1::text, 'client_id', k.client_id, "
    "  'revoked_token_count', (SELECT n FROM t)), $3, $4 FROM k) "
    "SELECT count(*) AS revoked, (SELECT n FROM t) AS tokens FROM k",
    4, 0};

int store_consent_revoke(store_pool *p, const char *user_id, const char *consent_id,
                         const store_actor *o, store_cb cb, void *ud)
{
    const char *params[] = {user_id, consent_id, o->request_id, o->client_ip};
    return store_exec(p, &consent_revoke, params, cb, ud);
}

/* Layer 3 in one statement, so the checks, the changes and the audit event
 * see one snapshot and land together. Agents the user created are disabled
 * (no new tokens) and lose every live token; agents the user only consented
 * to lose that consent and the tokens they hold for this user, and stay
 * active for everyone else. Every write is gated on `go`: an unknown user
 * or a refused id changes nothing. */
static store_stmt revoke_agents = {
    "users_revoke_agents",
    "WITH u AS (SELECT id FROM users WHERE id = $1), "
    "req AS (SELECT DISTINCT jsonb_array_elements_text($2::jsonb) AS id), "
    "own AS (SELECT client_id FROM oauth_clients WHERE kind = 'agent' AND created_by = $1), "
    "cns AS (SELECT id, client_id FROM consents WHERE user_id = $1 AND revoked_at IS NULL), "
    "refused AS (SELECT id FROM req WHERE id NOT IN (SELECT client_id FROM own) "
    "  AND id NOT IN (SELECT client_id FROM cns)), "
    "go AS (SELECT 1 WHERE EXISTS (SELECT 1 FROM u) AND NOT EXISTS (SELECT 1 FROM refused)), "
    "dis AS (SELECT client_id FROM own WHERE EXISTS (SELECT 1 FROM go) "
    "  AND ($2::jsonb IS NULL OR client_id IN (SELECT id FROM req))), "
    "kc AS (SELECT id, client_id FROM cns WHERE EXISTS (SELECT 1 FROM go) "
    "  AND ($2::jsonb IS NULL OR client_id IN (SELECT id FROM req))), "
    "d AS (UPDATE oauth_clients SET status = 'disabled', updated_at = now() "
    "  WHERE client_id IN (SELECT client_id FROM dis) AND NOT $6 RETURNING client_id), "
    "k AS (UPDATE consents SET revoked_at = now() WHERE id IN (SELECT id FROM kc) AND NOT $6 "
    "  RETURNING id), "
    "t AS (SELECT shark_revoke_mark('client', ARRAY(SELECT client_id FROM dis), $6) "
    "  + shark_revoke_mark('grant', ARRAY(SELECT $1 || ' ' || client_id FROM kc "
    "    WHERE client_id NOT IN (SELECT client_id FROM dis)), $6) AS n), "
    "rt AS (UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND NOT $6 "
    "  AND (client_id IN (SELECT client_id FROM dis) "
    "  OR (user_id = $1 AND client_id IN (SELECT client_id FROM kc)))), "
    "ids AS (SELECT coalesce(jsonb_agg(client_id ORDER BY client_id), '[]'::jsonb) AS j "
    "  FROM (SELECT client_id FROM dis UNION SELECT client_id FROM kc) x), "
    "ev AS (INSERT INTO " AUDIT_COLS " SELECT shark_id('audit_'), 'user.agents_revoked', $1, "
    "  'user', $1, jsonb_build_object('revoked_count', jsonb_array_length(ids.j), "
    "  'revoked_agent_ids', ids.j, 'revoked_consent_count', (SELECT count(*) FROM k), "
    "  'revoked_token_count', (SELECT n FROM t), 'disabled_count', "
    "  (SELECT count(*) FROM d), 'reason', $3::text, 'initiated_by', 'admin'), $4, $5 "
    "  FROM ids WHERE EXISTS (SELECT 1 FROM go) AND NOT $6 RETURNING id) "
    "SELECT EXISTS (SELECT 1 FROM u)::text AS found, "
    "  (SELECT coalesce(jsonb_agg(id ORDER BY id), '[]'::jsonb) FROM refused)::text AS refused, "
    "  (jsonb_build_object('revoked_agent_ids', ids.j, 'revoked_consent_count', "
    "  CASE WHEN $6 THEN (SELECT count(*) FROM kc) ELSE (SELECT count(*) FROM k) END) || "
    "  CASE WHEN $6 THEN jsonb_build_object('dry_run', true, 'revoked_token_count', "
    "    (SELECT n FROM t), 'disabled_count', (SELECT count(*) FROM dis)) "
    "  ELSE jsonb_build_object('audit_event_id', (SELECT id FROM ev)) END)::text AS body "
    "FROM ids",
    6, 0};

int store_user_revoke_agents(store_pool *p, const char *user_id, const char *agent_ids,
                             const char *reason, int dry_run, const store_actor *o, store_cb cb,
                             void *ud)
{
    const char *params[] = {user_id,       agent_ids,    reason,
                            o->request_id, o->client_ip, dry_run ? "true" : "false"};
    return store_exec(p, &revoke_agents, params, cb, ud);
}
