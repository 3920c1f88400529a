#include "oauth.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- signing keys ---- */

/* id_token keys are stored with created_at at the epoch: nodes of the
 * previous version take the newest unretired key as their active one, and
 * must never take an id_token key (this version refuses access tokens it
 * signed). */
#define KEY_CREATED(purpose) \
    "CASE WHEN " purpose " = 'id_token' THEN to_timestamp(0) ELSE now() END"

#define KEYS_SQL                                                               \
    "SELECT id, alg, private_sealed, (retired_at IS NOT NULL)::text, "         \
    "extract(epoch FROM created_at)::bigint::text, purpose FROM signing_keys " \
    "WHERE publish_until IS NULL OR publish_until > now() ORDER BY created_at DESC, id DESC"

void store_key_rows_free(store_key_row *rows, int n)
{
    for (int i = 0; i < n; i++)
        free(rows[i].sealed);
    free(rows);
}

int store_key_rows_parse(const PGresult *r, store_key_row **out)
{
    int n = PQntuples(r);
    store_key_row *rows = calloc((size_t)(n ? n : 1), sizeof(*rows));
    if (rows == NULL)
        return -1;
    for (int i = 0; i < n; i++) {
        snprintf(rows[i].id, sizeof(rows[i].id), "%s", PQgetvalue(r, i, 0));
        snprintf(rows[i].alg, sizeof(rows[i].alg), "%s", PQgetvalue(r, i, 1));
        size_t len = 0;
        unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 2), &len);
        rows[i].sealed = raw ? malloc(len ? len : 1) : NULL;
        if (rows[i].sealed == NULL) {
            PQfreemem(raw);
            store_key_rows_free(rows, i);
            return -1;
        }
        memcpy(rows[i].sealed, raw, len);
        PQfreemem(raw);
        rows[i].sealed_len = len;
        rows[i].retired = PQgetvalue(r, i, 3)[0] == 't';
        rows[i].created_at = strtoll(PQgetvalue(r, i, 4), NULL, 10);
        rows[i].id_token_only = strcmp(PQgetvalue(r, i, 5), "id_token") == 0;
    }
    *out = rows;
    return n;
}

int store_keys_load(const char *conninfo, store_key_row **out, char *err, size_t errlen)
{
    int rc = -1;
    PGresult *r = NULL;
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        goto done;
    r = PQexec(c, KEYS_SQL);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        goto done;
    rc = store_key_rows_parse(r, out);
done:
    if (rc < 0)
        snprintf(err, errlen, "database: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return rc;
}

static char *bytea_literal(PGconn *c, const uint8_t *b, size_t n)
{
    size_t len;
    return (char *)PQescapeByteaConn(c, b, n, &len);
}

int store_key_insert(const char *conninfo, const char *id, const char *alg, const char *purpose,
                     const uint8_t *sealed, size_t n, const char *public_jwk, char *err,
                     size_t errlen)
{
    int rc = -1;
    PGresult *r = NULL;
    char *hex = NULL;
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK || (hex = bytea_literal(c, sealed, n)) == NULL)
        goto done;
    const char *params[] = {id, alg, hex, public_jwk, purpose};
    /* Nodes starting together on a new database must agree on one key: the
     * lock serialises them and the second finds the first's key. */
    r = PQexec(c, "BEGIN");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        goto done;
    PQclear(r);
    r = PQexec(c, "SELECT pg_advisory_xact_lock(7302)");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        goto done;
    PQclear(r);
    r = PQexecParams(
        c, "INSERT INTO signing_keys (id, alg, private_sealed, public_jwk, purpose, "
           "created_at) SELECT $1, $2, $3::bytea, $4::jsonb, $5, " KEY_CREATED("$5") " WHERE NOT EXISTS "
                     "(SELECT 1 FROM signing_keys WHERE retired_at IS NULL AND purpose = $5)",
               5, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        goto done;
    PQclear(r);
    r = PQexec(c, "COMMIT");
    if (PQresultStatus(r) == PGRES_COMMAND_OK)
        rc = 0;
done:
    if (rc < 0)
        snprintf(err, errlen, "database: %s", PQerrorMessage(c));
    PQfreemem(hex);
    PQclear(r);
    PQfinish(c);
    return rc;
}

static store_stmt keys_list = {"oauth_keys_list", KEYS_SQL, 0, 0};

int store_keys_list(store_pool *p, store_cb cb, void *ud)
{
    return store_exec(p, &keys_list, NULL, cb, ud);
}

/* The sealed key travels as hex text ('\x…') so the statement stays in text
 * format like every other. */
static store_stmt key_rotate = {
    "oauth_key_rotate",
    "WITH old AS (UPDATE signing_keys SET retired_at = now(), "
    "  publish_until = now() + $5::int * interval '1 second' "
    "  WHERE retired_at IS NULL AND purpose = $8 RETURNING id), "
    "k AS (INSERT INTO signing_keys (id, alg, private_sealed, public_jwk, purpose, created_at) "
    "  VALUES ($1, $2, decode($3, 'hex'), $4::jsonb, $8, " KEY_CREATED("$8") ") RETURNING id), "
              "ev AS (INSERT INTO audit_events (id, event, actor_type, target_id, metadata, request_id, "
              "  client_ip) SELECT shark_id('audit_'), 'admin.signing_key_rotated', 'admin', k.id, "
              "  jsonb_build_object('alg', $2::text, 'use', $8::text, 'retired', (SELECT "
              "  coalesce(jsonb_agg(id), '[]'::jsonb) FROM old)), $6, $7 FROM k) "
              "SELECT id FROM k",
        8, 0};

int store_key_rotate(store_pool *p, const store_key_rotation *k, store_cb cb, void *ud)
{
    static const char digits[] = "0123456789abcdef";
    char *hex = malloc(k->sealed_len * 2 + 1);
    if (hex == NULL)
        return STORE_EINTERNAL;
    for (size_t i = 0; i < k->sealed_len; i++) {
        hex[2 * i] = digits[k->sealed[i] >> 4];
        hex[2 * i + 1] = digits[k->sealed[i] & 15];
    }
    hex[k->sealed_len * 2] = '\0';
    char publish[16];
    snprintf(publish, sizeof(publish), "%d", k->publish_s);
    const char *params[] = {
        k->id,   k->alg,        hex,          k->public_jwk,
        publish, k->request_id, k->client_ip, k->purpose ? k->purpose : "tokens"};
    int rc = store_exec(p, &key_rotate, params, cb, ud);
    free(hex);
    return rc;
}

/* ---- clients ---- */

static store_stmt client_get = {
    "oauth_client_get",
    "SELECT c.client_id, c.kind, c.name, c.secret_hash, c.prev_secret_hash, "
    "  (c.prev_secret_expires IS NOT NULL AND c.prev_secret_expires > now())::text, "
    "  c.auth_method, array_to_json(c.grant_types)::text, array_to_json(c.redirect_uris)::text, "
    "  array_to_string(c.scopes, ' '), c.jwks::text, c.dpop_jkt, c.status, c.created_by, "
    "  extract(epoch FROM c.prev_secret_expires)::bigint, "
    "  array_to_string(c.resources || coalesce(a.resources, '{}'), ' '), c.registered_by, "
    "  c.resource_server::text, c.metadata->>'id_token_signed_response_alg' "
    "FROM oauth_clients c LEFT JOIN apps a ON a.id = c.app_id WHERE c.client_id = $1",
    1, 0};

int store_client_get(store_pool *p, const char *client_id, store_cb cb, void *ud)
{
    const char *params[] = {client_id};
    return store_exec(p, &client_get, params, cb, ud);
}

/* ---- tokens ---- */

static store_stmt token_active = {
    "oauth_token_active",
    "SELECT (EXISTS (SELECT 1 FROM oauth_tokens t JOIN oauth_clients c "
    "  ON c.client_id = t.client_id AND c.status = 'active' "
    "  WHERE t.jti = $1 AND t.revoked_at IS NULL AND t.expires_at > now() "
    "  AND NOT shark_token_marked(t.client_id, t.user_id, t.jkt, t.issued_at)))::text AS active",
    1, 0};

int store_token_active(store_pool *p, const char *jti, store_cb cb, void *ud)
{
    const char *params[] = {jti};
    return store_exec(p, &token_active, params, cb, ud);
}

static store_stmt token_revoke = {
    "oauth_token_revoke",
    "WITH t AS (UPDATE oauth_tokens SET revoked_at = now() WHERE jti = $1 "
    "  AND ($2::text IS NULL OR client_id = $2) AND revoked_at IS NULL "
    "  RETURNING jti, client_id), "
    "ev AS (INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "
    "  request_id, client_ip) SELECT shark_id('audit_'), 'oauth.token_revoked', "
    "  coalesce($2, 'admin'), CASE WHEN $2::text IS NULL THEN 'admin' ELSE 'client' END, "
    "  t.jti, jsonb_build_object('client_id', t.client_id, 'layer', 1), $3, $4 FROM t) "
    "SELECT count(*) AS revoked FROM t",
    4, 0};

int store_token_revoke(store_pool *p, const char *jti, const char *client_id,
                       const char *request_id, const char *client_ip, store_cb cb, void *ud)
{
    const char *params[] = {jti, client_id, request_id, client_ip};
    return store_exec(p, &token_revoke, params, cb, ud);
}

static store_stmt replay_record = {
    "oauth_replay_record",
    "WITH r AS (INSERT INTO oauth_replay (key, expires_at) VALUES ($1, now() + $2::int * "
    "  interval '1 second') ON CONFLICT DO NOTHING RETURNING 1) "
    "SELECT count(*) AS fresh FROM r",
    2, 0};

int store_replay_record(store_pool *p, const char *key, int ttl_s, store_cb cb, void *ud)
{
    char ttl[16];
    snprintf(ttl, sizeof(ttl), "%d", ttl_s);
    const char *params[] = {key, ttl};
    return store_exec(p, &replay_record, params, cb, ud);
}

static store_stmt maintain = {"oauth_maintain", "SELECT shark_maintain_tokens()", 0, 0};
/* Expired token counts (migration 0035) ride along, and settled counts fold
 * into tallies (0042): each is a few seconds' worth of traffic at most. */
static store_stmt purge_replay = {"oauth_purge_replay",
                                  "SELECT greatest(shark_purge_replay($1::int), "
                                  "shark_purge_token_counts($1::int), "
                                  "shark_fold_token_counts($1::int))",
                                  1, 0};

int store_replay_purge(store_pool *p, int limit, store_cb cb, void *ud)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *params[] = {lim};
    return store_exec(p, &purge_replay, params, cb, ud);
}

static store_stmt purge_expired = {"retention_purge",
                                   "SELECT shark_purge_expired($1::int, $2::int)", 2, 0};
static store_stmt audit_maintain = {"audit_maintain", "SELECT shark_maintain_audit($1::int)", 1, 0};

int store_retention_purge(store_pool *p, int limit, int webhook_days, store_cb cb, void *ud)
{
    char lim[16], days[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    snprintf(days, sizeof(days), "%d", webhook_days);
    const char *params[] = {lim, days};
    return store_exec(p, &purge_expired, params, cb, ud);
}

int store_audit_maintain(store_pool *p, int retention_days, store_cb cb, void *ud)
{
    char days[16];
    snprintf(days, sizeof(days), "%d", retention_days);
    const char *params[] = {days};
    return store_exec(p, &audit_maintain, params, cb, ud);
}

int store_oauth_maintain(store_pool *p, store_cb cb, void *ud)
{
    return store_exec(p, &maintain, NULL, cb, ud);
}

int store_oauth_maintain_sync(const char *conninfo, char *err, size_t errlen)
{
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, "SELECT shark_maintain_tokens()") : NULL;
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "database: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return rc;
}
