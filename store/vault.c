#include "vault.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The audit row a statement appends (as in store/agents.c): INSERT …
 * SELECT over a CTE, so it exists exactly when the change happened. */
#define AUDIT(event, actor, actor_type, target, meta, rid, ip)                              \
    "INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "      \
    "request_id, client_ip) SELECT shark_id('audit_'), '" event "', " actor ", " actor_type \
    ", " target ", " meta ", " rid ", " ip " "

/* NULL stays NULL (an update leaves the column alone), else text[]. */
#define JSON_TEXT_ARRAY(p)                                                                     \
    "(CASE WHEN " p "::jsonb IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(" p \
    "::jsonb)) END)"

/* Sealed bytes out as one line of base64. */
#define B64(col) "translate(encode(" col ", 'base64'), E'\\n', '')"

/* A timestamp as the API's ISO-8601 text. */
#define ISO(col) "(to_jsonb(" col ") #>> '{}')"

static void int_text(char out[16], long v)
{
    snprintf(out, 16, "%ld", v);
}

/* ---- providers ---- */

static store_stmt provider_list = {"vault_provider_list",
                                   STORE_PAGE("shark_vault_provider_json(p)", "vault_providers",
                                              "p", "true", "p.created_at", "p.id", ""),
                                   5, 0};

int store_vault_provider_list(store_pool *p, const store_page_q *q, store_cb cb, void *ud)
{
    store_page_args a;
    store_page_bind(q, &a);
    return store_exec(p, &provider_list, a.v, cb, ud);
}

static store_stmt provider_get = {
    "vault_provider_get",
    "SELECT shark_vault_provider_json(p)::text FROM vault_providers p WHERE id = $1", 1, 0};

int store_vault_provider_get(store_pool *p, const char *id, store_cb cb, void *ud)
{
    const char *params[] = {id};
    return store_exec(p, &provider_get, params, cb, ud);
}

static store_stmt provider_create = {
    "vault_provider_create",
    "WITH p AS (INSERT INTO vault_providers (id, name, authorize_url, token_url, revoke_url, "
    "  scopes, scope_separator, authorize_params, auth_style, rotates_refresh, client_id, "
    "  client_secret_sealed) VALUES ($1, $2, $3, $4, $5, coalesce(" JSON_TEXT_ARRAY("$6") ", "
              "  '{}'), coalesce($7, ' '), coalesce($8, ''), coalesce($9, 'basic'), "
              "  coalesce($10::boolean, false), $11, decode($12, 'base64')) RETURNING *), "
              "ev AS (" AUDIT("vault.provider_created", "'admin'", "'admin'", "p.id",
                    "jsonb_build_object('name', p.name)", "$13", "$14") "FROM p) "
                                     "SELECT shark_vault_provider_json(p)::text FROM p",
                              14, 0};

int store_vault_provider_create(store_pool *p, const store_vault_provider_in *in,
                                const store_actor *who, store_cb cb, void *ud)
{
    const char *params[] = {
        in->id,          in->name,      in->authorize_url,   in->token_url,
        in->revoke_url,  in->scopes,    in->scope_separator, in->authorize_params,
        in->auth_style,  in->rotates,   in->client_id,       in->secret_sealed,
        who->request_id, who->client_ip};
    return store_exec(p, &provider_create, params, cb, ud);
}

static store_stmt provider_update = {
    "vault_provider_update",
    "WITH cur AS (SELECT id, builtin FROM vault_providers WHERE id = $1 FOR UPDATE), "
    "ok AS (SELECT id FROM cur WHERE NOT builtin OR NOT $13::boolean), "
    "up AS (UPDATE vault_providers p SET name = coalesce($2, name), "
    "  authorize_url = coalesce($3, authorize_url), token_url = coalesce($4, token_url), "
    "  revoke_url = coalesce($5, revoke_url), scopes = coalesce(" JSON_TEXT_ARRAY("$6") ", scopes), "
              "  scope_separator = coalesce($7, scope_separator), "
              "  authorize_params = coalesce($8, authorize_params), auth_style = coalesce($9, auth_style), "
              "  rotates_refresh = coalesce($10::boolean, rotates_refresh), "
              "  client_id = coalesce($11, client_id), "
              "  client_secret_sealed = coalesce(decode($12, 'base64'), client_secret_sealed), "
              "  updated_at = now() WHERE p.id IN (SELECT id FROM ok) RETURNING p.*), "
              "ev AS (" AUDIT("vault.provider_updated", "'admin'", "'admin'", "up.id",
                    "jsonb_build_object('client_secret_changed', $12::text IS NOT NULL)", "$14",
                    "$15") "FROM up) "
                         "SELECT EXISTS (SELECT 1 FROM cur)::text AS found, EXISTS (SELECT 1 FROM ok)::text AS allowed, "
                         "  (SELECT shark_vault_provider_json(up)::text FROM up) AS provider",
                  15, 0};

int store_vault_provider_update(store_pool *p, const store_vault_provider_in *in,
                                bool endpoints_given, const store_actor *who, store_cb cb, void *ud)
{
    const char *params[] = {in->id,
                            in->name,
                            in->authorize_url,
                            in->token_url,
                            in->revoke_url,
                            in->scopes,
                            in->scope_separator,
                            in->authorize_params,
                            in->auth_style,
                            in->rotates,
                            in->client_id,
                            in->secret_sealed,
                            endpoints_given ? "true" : "false",
                            who->request_id,
                            who->client_ip};
    return store_exec(p, &provider_update, params, cb, ud);
}

static store_stmt provider_delete = {
    "vault_provider_delete",
    "WITH cur AS (SELECT id, builtin FROM vault_providers WHERE id = $1 FOR UPDATE), "
    "n AS (SELECT count(*) AS c FROM vault_connections WHERE provider_id = $1), "
    "del AS (DELETE FROM vault_providers WHERE id IN (SELECT id FROM cur WHERE NOT builtin) "
    "  AND (SELECT c FROM n) = 0 RETURNING id), "
    "ev AS (" AUDIT("vault.provider_deleted", "'admin'", "'admin'", "del.id", "'{}'::jsonb", "$2",
                    "$3") "FROM del) "
              "SELECT EXISTS (SELECT 1 FROM cur)::text AS found, "
              "  coalesce((SELECT builtin FROM cur), false)::text AS builtin, (SELECT c FROM n) AS conns, "
              "  EXISTS (SELECT 1 FROM del)::text AS deleted",
        3, 0};

int store_vault_provider_delete(store_pool *p, const char *id, const store_actor *who, store_cb cb,
                                void *ud)
{
    const char *params[] = {id, who->request_id, who->client_ip};
    return store_exec(p, &provider_delete, params, cb, ud);
}

/* ---- connections ---- */

static store_stmt conn_prepare = {
    "vault_conn_prepare",
    "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)::text AS user_found, "
    "  EXISTS (SELECT 1 FROM vault_providers WHERE id = $2)::text AS provider_found, "
    "  (SELECT id FROM vault_connections WHERE user_id = $1 AND provider_id = $2) AS existing",
    2, 0};

int store_vault_conn_prepare(store_pool *p, const char *user_id, const char *provider_id,
                             store_cb cb, void *ud)
{
    const char *params[] = {user_id, provider_id};
    return store_exec(p, &conn_prepare, params, cb, ud);
}

/* A reconnect replaces the tokens of the same row (its id is the sealing
 * AD) and clears needs_reauth; a concurrent connect that inserted another
 * id first makes this one return no row. */
static store_stmt conn_upsert = {
    "vault_conn_upsert",
    "WITH c AS (INSERT INTO vault_connections (id, user_id, provider_id, scopes, access_sealed, "
    "  access_expires_at, refresh_sealed) VALUES ($1, $2, $3, "
    "  coalesce(" JSON_TEXT_ARRAY("$4") ", '{}'), decode($5, 'base64'), "
              "  CASE WHEN $8::int IS NOT NULL THEN now() + $8::int * interval '1 second' "
              "    WHEN $6::text IS NULL THEN NULL "
              "    WHEN $6::text ~ '^[0-9]{1,12}$' THEN to_timestamp($6::bigint) "
              "    ELSE $6::timestamptz END, decode($7, 'base64')) "
              "  ON CONFLICT (user_id, provider_id) DO UPDATE SET scopes = EXCLUDED.scopes, "
              "  access_sealed = EXCLUDED.access_sealed, access_expires_at = EXCLUDED.access_expires_at, "
              "  refresh_sealed = coalesce(EXCLUDED.refresh_sealed, vault_connections.refresh_sealed), "
              "  needs_reauth = false, refreshing_until = NULL, "
              "  refresh_gen = vault_connections.refresh_gen + 1, updated_at = now() "
              "  WHERE vault_connections.id = EXCLUDED.id RETURNING *, (xmax <> 0) AS replaced), "
              "ev AS (" AUDIT("vault.connection_created", "$9", "$10", "c.id",
                    "jsonb_build_object('provider_id', c.provider_id, 'user_id', c.user_id, "
                    "'scopes', to_jsonb(c.scopes), 'reconnected', c.replaced)",
                    "$11", "$12") "FROM c) "
                         "SELECT shark_vault_connection_json(ROW(c.id, c.user_id, c.provider_id, c.scopes, "
                         "  c.access_sealed, c.access_expires_at, c.refresh_sealed, c.needs_reauth, "
                         "  c.refreshing_until, c.refresh_gen, c.created_at, c.updated_at)::vault_connections)::text "
                         "FROM c",
                  12, 0};

int store_vault_conn_upsert(store_pool *p, const store_vault_conn_in *in, const store_actor *who,
                            store_cb cb, void *ud)
{
    const char *params[] = {
        in->id,          in->user_id,        in->provider_id, in->scopes,   in->access_sealed,
        in->expires_at,  in->refresh_sealed, in->expires_in,  in->actor_id, in->actor_type,
        who->request_id, who->client_ip};
    return store_exec(p, &conn_upsert, params, cb, ud);
}

/* One statement per leading filter (a plain equality an index serves even
 * in a generic plan), as in store/agents.c. A user has one connection per
 * provider, so user_id leads whatever else is asked; then needs_reauth=true,
 * written as the flag itself so that migration 0041's partial index serves
 * it: those rows are few, and off the created index a page of them would
 * cost a scan of every connection between them. */
#define CONN_PAGE(name, lead)                                                      \
    {                                                                              \
        name,                                                                      \
            STORE_PAGE("shark_vault_connection_json(c)", "vault_connections", "c", \
                       lead " AND ($6::text IS NULL OR c.provider_id = $6) "       \
                            "AND ($7::text IS NULL OR c.user_id = $7) "            \
                            "AND ($8::boolean IS NULL OR c.needs_reauth = $8)",    \
                       "c.created_at", "c.id", ""),                                \
            8, 0                                                                   \
    }

static store_stmt conn_list = CONN_PAGE("vault_conn_list", "true");
static store_stmt conn_list_user = CONN_PAGE("vault_conn_list_user", "c.user_id = $7");
static store_stmt conn_list_provider = CONN_PAGE("vault_conn_list_provider", "c.provider_id = $6");
static store_stmt conn_list_reauth = CONN_PAGE("vault_conn_list_reauth", "c.needs_reauth");

int store_vault_conn_list(store_pool *p, const store_vault_conn_filter *f, const store_page_q *q,
                          store_cb cb, void *ud)
{
    store_page_args a;
    store_page_bind(q, &a);
    const char *params[] = {a.v[0], a.v[1],         a.v[2],     a.v[3],
                            a.v[4], f->provider_id, f->user_id, f->needs_reauth};
    const bool reauth = f->needs_reauth != NULL && strcmp(f->needs_reauth, "true") == 0;
    const store_stmt *st = f->user_id       ? &conn_list_user
                           : reauth         ? &conn_list_reauth
                           : f->provider_id ? &conn_list_provider
                                            : &conn_list;
    return store_exec(p, st, params, cb, ud);
}

static store_stmt conn_get = {
    "vault_conn_get",
    "SELECT shark_vault_connection_json(c)::text FROM vault_connections c WHERE id = $1", 1, 0};

int store_vault_conn_get(store_pool *p, const char *id, store_cb cb, void *ud)
{
    const char *params[] = {id};
    return store_exec(p, &conn_get, params, cb, ud);
}

/* ---- disconnect ---- */

static store_stmt conn_lock = {"vault_conn_lock",
                               "SELECT id FROM vault_connections WHERE id = $1 FOR UPDATE", 1, 0};

/* Runs after conn_lock, with a snapshot that sees every fetch recorded
 * before the lock was granted. The agents' tokens, the delete and the audit
 * event commit together. */
static store_stmt conn_delete = {
    "vault_conn_delete",
    "WITH d AS (DELETE FROM vault_connections WHERE id = $1 RETURNING id, user_id, provider_id, "
    "  access_sealed, refresh_sealed), "
    "ag AS (SELECT client_id FROM vault_access WHERE connection_id IN (SELECT id FROM d) "
    "  AND $2::boolean), "
    "rev AS (SELECT shark_revoke_mark('client', ARRAY(SELECT client_id FROM ag), false) AS n), "
    "rt AS (UPDATE refresh_tokens SET revoked_at = now() WHERE client_id IN (SELECT client_id "
    "  FROM ag) AND revoked_at IS NULL), "
    "ids AS (SELECT coalesce(jsonb_agg(client_id ORDER BY client_id), '[]') AS j FROM ag), "
    "ev AS (" AUDIT("vault.connection_disconnected", "'admin'", "'admin'", "d.id",
                    "jsonb_build_object('provider_id', d.provider_id, 'user_id', d.user_id, "
                    "'cascade_to_agents', $2::boolean, 'revoked_agent_ids', (SELECT j FROM ids), "
                    "'revoked_token_count', (SELECT n FROM rev), 'layer', 5)",
                    "$3", "$4") "FROM d RETURNING id) "
              "SELECT d.id, (SELECT j FROM ids)::text AS revoked_agent_ids, "
              "  (SELECT n FROM rev) AS revoked_token_count, (SELECT id FROM ev) AS audit_event_id, "
              "  p.revoke_url, p.client_id, " B64(
                  "p.client_secret_sealed") ", p.auth_style, "
                                            "  d.provider_id, " B64("d.refresh_sealed") ", " B64(
                                                "d.access_sealed") " "
                                                                   "FROM d JOIN vault_providers p ON p.id = d.provider_id",
        4, 0};

/* What a cascading disconnect would revoke, changing nothing. */
static store_stmt conn_dry_run = {
    "vault_conn_dry_run",
    "WITH ag AS (SELECT client_id FROM vault_access WHERE connection_id = $1 AND $2::boolean) "
    "SELECT c.id, (SELECT coalesce(jsonb_agg(client_id ORDER BY client_id), '[]') FROM ag)::text "
    "  AS revoked_agent_ids, shark_revoke_mark('client', ARRAY(SELECT client_id FROM ag), true) "
    "  AS revoked_token_count FROM vault_connections c WHERE c.id = $1",
    2, 0};

int store_vault_conn_dry_run(store_pool *p, const char *id, bool cascade, store_cb cb, void *ud)
{
    const char *params[] = {id, cascade ? "true" : "false"};
    return store_exec(p, &conn_dry_run, params, cb, ud);
}

struct conn_del {
    char id[128];
    bool cascade;
    char rid[128], ip[64];
    store_cb cb;
    void *ud;
    store_txn *txn;
    PGresult *res; /* the delete's result, kept until the commit answers */
};

static void del_finish(struct conn_del *d, PGresult *res, int err)
{
    d->cb(d->ud, res, err, NULL);
    PQclear(d->res);
    free(d);
}

static void on_del_committed(void *ud, int err)
{
    struct conn_del *d = ud;
    del_finish(d, err == STORE_OK ? d->res : NULL, err);
}

static void on_deleted(void *ud, PGresult *res, int err, const char *msg)
{
    struct conn_del *d = ud;
    (void)msg;
    if (err != STORE_OK) {
        store_txn_rollback(d->txn);
        del_finish(d, NULL, err);
        return;
    }
    /* The pool clears res after this callback; the commit comes later. */
    d->res = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
    if (d->res == NULL) {
        store_txn_rollback(d->txn);
        del_finish(d, NULL, STORE_EINTERNAL);
        return;
    }
    store_txn_commit(d->txn, on_del_committed, d);
}

static void on_locked(void *ud, PGresult *res, int err, const char *msg)
{
    struct conn_del *d = ud;
    (void)msg;
    if (err != STORE_OK || PQntuples(res) == 0) {
        /* Unknown id: answer with the (empty) lock result. */
        store_txn_rollback(d->txn);
        del_finish(d, err == STORE_OK ? res : NULL, err);
        return;
    }
    const char *params[] = {d->id, d->cascade ? "true" : "false", d->rid[0] ? d->rid : NULL,
                            d->ip[0] ? d->ip : NULL};
    if (store_txn_exec(d->txn, &conn_delete, params, on_deleted, d) != 0) {
        store_txn_rollback(d->txn);
        del_finish(d, NULL, STORE_EUNAVAIL);
    }
}

static void on_begun(void *ud, store_txn *txn, int err)
{
    struct conn_del *d = ud;
    if (err != STORE_OK) {
        del_finish(d, NULL, err);
        return;
    }
    d->txn = txn;
    const char *params[] = {d->id};
    if (store_txn_exec(txn, &conn_lock, params, on_locked, d) != 0) {
        store_txn_rollback(txn);
        del_finish(d, NULL, STORE_EUNAVAIL);
    }
}

int store_vault_conn_delete(store_pool *p, const char *id, bool cascade, const store_actor *who,
                            store_cb cb, void *ud)
{
    struct conn_del *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return STORE_EUNAVAIL;
    snprintf(d->id, sizeof(d->id), "%s", id);
    snprintf(d->rid, sizeof(d->rid), "%s", who->request_id ? who->request_id : "");
    snprintf(d->ip, sizeof(d->ip), "%s", who->client_ip ? who->client_ip : "");
    d->cascade = cascade;
    d->cb = cb;
    d->ud = ud;
    int rc = store_txn_begin(p, on_begun, d);
    if (rc != 0)
        free(d);
    return rc;
}

/* ---- the agent path ---- */

/* The principal: the token's user, or for an agent's own token the user
 * who created the agent. The client must be that user's: created by them
 * or holding their live consent. */
static store_stmt fetch_lookup = {
    "vault_fetch_lookup",
    "WITH u AS (SELECT CASE WHEN $1 LIKE 'usr\\_%' THEN $1 "
    "  ELSE (SELECT created_by FROM oauth_clients WHERE client_id = $1 AND $1 = $2 "
    "  AND kind = 'agent') END AS user_id), "
    "ok AS (SELECT u.user_id FROM u WHERE u.user_id IS NOT NULL AND ("
    "  EXISTS (SELECT 1 FROM oauth_clients c WHERE c.client_id = $2 AND c.created_by = u.user_id) "
    "  OR EXISTS (SELECT 1 FROM consents s WHERE s.user_id = u.user_id AND s.client_id = $2 "
    "  AND s.revoked_at IS NULL))), "
    "c AS (SELECT v.* FROM vault_connections v, ok WHERE v.user_id = ok.user_id "
    "  AND v.provider_id = $3) "
    "SELECT (SELECT user_id FROM u), EXISTS (SELECT 1 FROM ok)::text AS authorized, c.id, "
    "  c.needs_reauth::text, " B64("c.access_sealed") ", " ISO("c.access_expires_at") ", "
                               "  (c.access_sealed IS NULL OR c.access_expires_at < now() + $4::int * interval '1 second')"
                               "  ::text AS due, (c.refresh_sealed IS NOT NULL)::text AS can_refresh, c.refresh_gen, "
                               "  c.provider_id "
                               "FROM (SELECT 1) one LEFT JOIN c ON true",
        4, 0};

int store_vault_fetch_lookup(store_pool *p, const char *sub, const char *client_id,
                             const char *provider_id, int skew_s, store_cb cb, void *ud)
{
    char skew[16];
    int_text(skew, skew_s);
    const char *params[] = {sub, client_id, provider_id, skew};
    return store_exec(p, &fetch_lookup, params, cb, ud);
}

/* Single flight across threads and processes: only the UPDATE that finds
 * no live claim gets a row. The claim lapses by itself if its holder dies. */
static store_stmt refresh_claim = {
    "vault_refresh_claim",
    "UPDATE vault_connections c SET refreshing_until = now() + interval '30 seconds' "
    "FROM vault_providers p WHERE c.id = $1 AND p.id = c.provider_id AND NOT c.needs_reauth "
    "  AND c.refresh_sealed IS NOT NULL "
    "  AND (c.refreshing_until IS NULL OR c.refreshing_until < now()) "
    "  AND (c.access_sealed IS NULL OR c.access_expires_at < now() + $2::int * interval '1 second') "
    "RETURNING " B64("c.refresh_sealed") ", p.token_url, p.client_id, " B64(
        "p.client_secret_sealed") ", p.auth_style",
    2, 0};

int store_vault_refresh_claim(store_pool *p, const char *conn_id, int skew_s, store_cb cb, void *ud)
{
    char skew[16];
    int_text(skew, skew_s);
    const char *params[] = {conn_id, skew};
    return store_exec(p, &refresh_claim, params, cb, ud);
}

static store_stmt conn_poll = {
    "vault_conn_poll",
    "SELECT needs_reauth::text, " B64("access_sealed") ", " ISO("access_expires_at") ", "
                             "  (access_sealed IS NULL OR access_expires_at < now() + $2::int * interval '1 second')"
                             "  ::text AS due, (refreshing_until IS NOT NULL AND refreshing_until > now())::text, "
                             "  refresh_gen FROM vault_connections WHERE id = $1",
        2, 0};

int store_vault_conn_poll(store_pool *p, const char *conn_id, int skew_s, store_cb cb, void *ud)
{
    char skew[16];
    int_text(skew, skew_s);
    const char *params[] = {conn_id, skew};
    return store_exec(p, &conn_poll, params, cb, ud);
}

static store_stmt refresh_store = {
    "vault_refresh_store",
    "UPDATE vault_connections SET access_sealed = decode($2, 'base64'), "
    "  access_expires_at = CASE WHEN $3::int IS NULL THEN NULL "
    "    ELSE now() + $3::int * interval '1 second' END, "
    "  refresh_sealed = coalesce(decode($4, 'base64'), refresh_sealed), "
    "  scopes = coalesce(" JSON_TEXT_ARRAY("$5") ", scopes), refreshing_until = NULL, "
              "  refresh_gen = refresh_gen + 1, updated_at = now() WHERE id = $1 "
              "RETURNING " ISO("access_expires_at"), 5, 0};

int store_vault_refresh_store(store_pool *p, const char *conn_id, const char *access_sealed,
                              const char *expires_in, const char *refresh_sealed,
                              const char *scopes, store_cb cb, void *ud)
{
    const char *params[] = {conn_id, access_sealed, expires_in, refresh_sealed, scopes};
    return store_exec(p, &refresh_store, params, cb, ud);
}

static store_stmt refresh_failed = {
    "vault_refresh_failed",
    "WITH c AS (UPDATE vault_connections SET refreshing_until = NULL, "
    "  refresh_gen = refresh_gen + 1, needs_reauth = needs_reauth OR $2::boolean, "
    "  updated_at = now() WHERE id = $1 RETURNING id, provider_id, user_id, needs_reauth), "
    "ev AS (" AUDIT("vault.refresh_failed", "$4", "'agent'", "c.id",
                    "jsonb_build_object('provider_id', c.provider_id, 'user_id', c.user_id, "
                    "'reason', $3::text, 'needs_reauth', c.needs_reauth)",
                    "$5", "$6") "FROM c) "
                                "SELECT count(*) FROM c",
                    6, 0};

int store_vault_refresh_failed(store_pool *p, const char *conn_id, bool reauth, const char *reason,
                               const char *agent_id, const store_actor *who, store_cb cb, void *ud)
{
    const char *params[] = {conn_id,  reauth ? "true" : "false", reason,
                            agent_id, who->request_id,           who->client_ip};
    return store_exec(p, &refresh_failed, params, cb, ud);
}

/* The key-share lock orders this against a disconnect: either the cascade
 * sees this agent, or the connection is gone and nothing is handed out. */
static store_stmt record_fetch = {
    "vault_record_fetch",
    "WITH c AS (SELECT id, provider_id, user_id FROM vault_connections WHERE id = $1 "
    "  FOR KEY SHARE), "
    "a AS (INSERT INTO vault_access (connection_id, client_id) SELECT c.id, $2 FROM c "
    "  ON CONFLICT (connection_id, client_id) DO UPDATE SET last_at = now(), "
    "  fetches = vault_access.fetches + 1 RETURNING 1), "
    "ev AS (" AUDIT("vault.token_fetched", "$2", "'agent'", "c.id",
                    "jsonb_build_object('provider_id', c.provider_id, 'user_id', c.user_id, "
                    "'refreshed', $3::boolean)",
                    "$4", "$5") "FROM c) "
                                "SELECT EXISTS (SELECT 1 FROM c)::text AS found",
                    5, 0};

int store_vault_record_fetch(store_pool *p, const char *conn_id, const char *agent_id,
                             bool refreshed, const store_actor *who, store_cb cb, void *ud)
{
    const char *params[] = {conn_id, agent_id, refreshed ? "true" : "false", who->request_id,
                            who->client_ip};
    return store_exec(p, &record_fetch, params, cb, ud);
}

/* ---- connect flow ---- */

static store_stmt state_create = {
    "vault_state_create",
    "WITH p AS (SELECT * FROM vault_providers WHERE id = $3), "
    "gc AS (DELETE FROM vault_connect_states WHERE state_hash IN (SELECT state_hash FROM "
    "  vault_connect_states WHERE expires_at < now() LIMIT 100)), "
    "ins AS (INSERT INTO vault_connect_states (state_hash, user_id, provider_id, code_verifier, "
    "  scopes, expires_at) SELECT $1, $2, p.id, $4, p.scopes, now() + interval '10 minutes' "
    "  FROM p WHERE p.client_id IS NOT NULL RETURNING 1) "
    "SELECT p.authorize_url, p.client_id, array_to_string(p.scopes, p.scope_separator), "
    "  p.authorize_params, EXISTS (SELECT 1 FROM ins)::text FROM p",
    4, 0};

int store_vault_state_create(store_pool *p, const char *state_hash, const char *user_id,
                             const char *provider_id, const char *verifier, store_cb cb, void *ud)
{
    const char *params[] = {state_hash, user_id, provider_id, verifier};
    return store_exec(p, &state_create, params, cb, ud);
}

static store_stmt state_consume = {
    "vault_state_consume",
    "WITH s AS (DELETE FROM vault_connect_states WHERE state_hash = $1 AND user_id = $2 "
    "  RETURNING *) "
    "SELECT s.provider_id, s.code_verifier, (s.expires_at > now())::text, p.token_url, "
    "  p.client_id, " B64(
        "p.client_secret_sealed") ", p.auth_style, p.name, "
                                  "  array_to_json(s.scopes)::text, (SELECT id FROM vault_connections v "
                                  "  WHERE v.user_id = s.user_id AND v.provider_id = s.provider_id) "
                                  "FROM s JOIN vault_providers p ON p.id = s.provider_id",
    2, 0};

int store_vault_state_consume(store_pool *p, const char *state_hash, const char *user_id,
                              store_cb cb, void *ud)
{
    const char *params[] = {state_hash, user_id};
    return store_exec(p, &state_consume, params, cb, ud);
}

/* ---- rekey ---- */

/* Every sealed column, with the associated data its rows were sealed
 * with. A new sealed column must be listed here. */
static const struct {
    const char *table, *key, *col, *ad;
} sealed_cols[] = {
    {"signing_keys", "id", "private_sealed", "id"},
    {"webhooks", "id", "secret_sealed", "id"},
    {"vault_providers", "id", "client_secret_sealed", "id"},
    {"vault_connections", "id", "access_sealed", "id || '|' || provider_id"},
    {"vault_connections", "id", "refresh_sealed", "id || '|' || provider_id"},
};

static bool ok_result(PGresult *r, ExecStatusType want, char *err, size_t errlen, PGconn *c)
{
    if (PQresultStatus(r) == want)
        return true;
    snprintf(err, errlen, "database: %s", PQerrorMessage(c));
    return false;
}

static long reseal_column(PGconn *c, int i, store_reseal_fn fn, void *ud, char *err, size_t errlen)
{
    char sql[512];
    long done = 0;
    snprintf(sql, sizeof(sql), "SELECT %s, %s, %s FROM %s WHERE %s IS NOT NULL FOR UPDATE",
             sealed_cols[i].key, sealed_cols[i].ad, sealed_cols[i].col, sealed_cols[i].table,
             sealed_cols[i].col);
    PGresult *r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 1); /* binary: raw bytea */
    if (!ok_result(r, PGRES_TUPLES_OK, err, errlen, c)) {
        PQclear(r);
        return -1;
    }
    snprintf(sql, sizeof(sql), "UPDATE %s SET %s = $2 WHERE %s = $1", sealed_cols[i].table,
             sealed_cols[i].col, sealed_cols[i].key);
    for (int row = 0; row < PQntuples(r) && done >= 0; row++) {
        char *key = strndup(PQgetvalue(r, row, 0), (size_t)PQgetlength(r, row, 0));
        char *ad = strndup(PQgetvalue(r, row, 1), (size_t)PQgetlength(r, row, 1));
        size_t n = (size_t)PQgetlength(r, row, 2), outsz = n + 64;
        uint8_t *out = malloc(outsz);
        long len = key && ad && out
                       ? fn(ud, (const uint8_t *)PQgetvalue(r, row, 2), n, ad, out, outsz)
                       : -1;
        if (len < 0) {
            snprintf(err, errlen, "%s.%s of %s does not open with the current master key",
                     sealed_cols[i].table, sealed_cols[i].col, key ? key : "?");
            done = -1;
        } else {
            const char *params[] = {key, (const char *)out};
            int lens[] = {(int)strlen(key), (int)len};
            int fmts[] = {0, 1};
            PGresult *u = PQexecParams(c, sql, 2, NULL, params, lens, fmts, 0);
            done = ok_result(u, PGRES_COMMAND_OK, err, errlen, c) ? done + 1 : -1;
            PQclear(u);
        }
        free(key);
        free(ad);
        free(out);
    }
    PQclear(r);
    return done;
}

long store_vault_rekey(const char *conninfo, store_reseal_fn fn, void *ud, char *err, size_t errlen)
{
    long total = 0;
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = NULL;
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "database: %s", PQerrorMessage(c));
        total = -1;
        goto done;
    }
    r = PQexec(c, "BEGIN");
    if (!ok_result(r, PGRES_COMMAND_OK, err, errlen, c)) {
        total = -1;
        goto done;
    }
    for (size_t i = 0; i < sizeof(sealed_cols) / sizeof(sealed_cols[0]) && total >= 0; i++) {
        long n = reseal_column(c, (int)i, fn, ud, err, errlen);
        total = n < 0 ? -1 : total + n;
    }
    PQclear(r);
    r = PQexec(c, total >= 0 ? "COMMIT" : "ROLLBACK");
    if (total >= 0 && !ok_result(r, PGRES_COMMAND_OK, err, errlen, c))
        total = -1;
done:
    PQclear(r);
    PQfinish(c);
    return total;
}
