#include "clients.h"

/* The row every statement here returns, in STORE_CLIENT_* order. */
#define CLIENT_COLS                                                                      \
    "client_id, kind, status, registration_token_hash, secret_hash, auth_method, name, " \
    "array_to_json(grant_types)::text, array_to_json(response_types)::text, "            \
    "array_to_json(redirect_uris)::text, array_to_string(scopes, ' '), jwks::text, "     \
    "metadata::text, extract(epoch FROM created_at)::bigint::text, registered_by, "      \
    "array_to_json(resources)::text, " BOUND("scopes") ", " BOUND("grant_types") ", " BOUND("resources")

/* One list of the initial access token a client was registered with. */
#define BOUND(col)                                                                    \
    "(SELECT array_to_string(t." col ", ' ') FROM dcr_initial_tokens t WHERE t.id = " \
    "registered_by)"

/* A JSON array parameter as text[], in order. */
#define TEXT_ARRAY(p)                                                                      \
    "ARRAY(SELECT e FROM jsonb_array_elements_text(" p "::jsonb) WITH ORDINALITY a(e, n) " \
    "ORDER BY n)"

#define SCOPES "coalesce(string_to_array(nullif($9, ''), ' '), '{}')"

#define AUDIT(event)                                                                          \
    "ev AS (INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, " \
    "  request_id, client_ip) SELECT shark_id('audit_'), '" event "', c.client_id, "          \
    "  'client', c.client_id, jsonb_build_object('client_name', c.name, 'grant_types', "      \
    "  to_jsonb(c.grant_types), 'token_endpoint_auth_method', c.auth_method), $12, $13 "      \
    "  FROM c) "

/* With an initial access token ($15, its hash) the client is inserted only
 * if this statement counts a use of it: concurrent registrations queue on
 * the token's row, and one past max_uses inserts nothing. */
static store_stmt client_register = {
    "client_register",
    "WITH iat AS (UPDATE dcr_initial_tokens SET uses = uses + 1 WHERE token_hash = $15 "
    "  AND id = $16 AND uses < max_uses AND expires_at > now() AND revoked_at IS NULL "
    "  RETURNING id), "
    "c AS (INSERT INTO oauth_clients (client_id, kind, registration_token_hash, "
    "  secret_hash, name, auth_method, grant_types, response_types, redirect_uris, scopes, "
    "  jwks, metadata, resources, registered_by) SELECT $1, 'dcr', $2, $3, $4, $5, " TEXT_ARRAY("$6") ", " TEXT_ARRAY("$7") ", " TEXT_ARRAY("$8") ", " SCOPES ", $10::jsonb, "
                                    "  $11::jsonb, " TEXT_ARRAY("$14") ", $16 "
                                               "  WHERE $15::text IS NULL OR EXISTS (SELECT 1 FROM iat) RETURNING *), " AUDIT("oauth.client_registered") ", "
                                                                              "used AS (INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "
                                                                              "  request_id, client_ip) SELECT shark_id('audit_'), 'admin.dcr_token_used', c.client_id, "
                                                                              "  'client', iat.id, jsonb_build_object('client_id', c.client_id), $12, $13 FROM iat, c) "
                                                                              "SELECT " CLIENT_COLS
                                                                              " FROM c",
                                                   16, 0};

static store_stmt client_update = {
    "client_update",
    "WITH c AS (UPDATE oauth_clients SET secret_hash = $3, name = $4, auth_method = $5, "
    "  grant_types = " TEXT_ARRAY("$6") ", response_types = " TEXT_ARRAY("$7") ", "
              "  redirect_uris = " TEXT_ARRAY("$8") ", scopes = " SCOPES ", jwks = $10::jsonb, "
                        "  metadata = $11::jsonb, resources = " TEXT_ARRAY("$14") ", updated_at = now() "
                                   "  WHERE client_id = $1 AND registration_token_hash = $2 AND kind = 'dcr' "
                                   "  AND status = 'active' RETURNING *), " AUDIT("oauth.client_updated") "SELECT " CLIENT_COLS " FROM c", 14,
                                       0};

static int exec_reg(store_pool *p, const store_stmt *stmt, const store_client_reg *c, store_cb cb,
                    void *ud)
{
    const char *params[] = {
        c->client_id,   c->token_hash,  c->secret_hash,        c->name,
        c->auth_method, c->grant_types, c->response_types,     c->redirect_uris,
        c->scope,       c->jwks,        c->metadata,           c->request_id,
        c->client_ip,   c->resources,   c->initial_token_hash, c->registered_by};
    return store_exec(p, stmt, params, cb, ud);
}

int store_client_register(store_pool *p, const store_client_reg *c, store_cb cb, void *ud)
{
    return exec_reg(p, &client_register, c, cb, ud);
}

int store_client_update(store_pool *p, const store_client_reg *c, store_cb cb, void *ud)
{
    return exec_reg(p, &client_update, c, cb, ud);
}

static store_stmt client_registration = {
    "client_registration", "SELECT " CLIENT_COLS " FROM oauth_clients WHERE client_id = $1", 1, 0};

int store_client_registration(store_pool *p, const char *client_id, store_cb cb, void *ud)
{
    const char *params[] = {client_id};
    return store_exec(p, &client_registration, params, cb, ud);
}

/* Disabled rather than deleted: tokens already issued turn inactive through
 * the client's status, and the audit trail keeps a client to point at. */
static store_stmt client_disable = {
    "client_disable",
    "WITH c AS (UPDATE oauth_clients SET status = 'disabled', updated_at = now() "
    "  WHERE client_id = $1 AND registration_token_hash = $2 AND kind = 'dcr' "
    "  AND status = 'active' RETURNING client_id, name), "
    "ev AS (INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "
    "  request_id, client_ip) SELECT shark_id('audit_'), 'oauth.client_deleted', c.client_id, "
    "  'client', c.client_id, jsonb_build_object('client_name', c.name), $3, $4 FROM c) "
    "SELECT count(*) AS deleted FROM c",
    4, 0};

int store_client_disable(store_pool *p, const char *client_id, const char *token_hash,
                         const char *request_id, const char *client_ip, store_cb cb, void *ud)
{
    const char *params[] = {client_id, token_hash, request_id, client_ip};
    return store_exec(p, &client_disable, params, cb, ud);
}
