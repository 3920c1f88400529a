#include "admin_session.h"

#include <stdio.h>

#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static store_stmt open_stmt = {
    "admin_session_open",
    "WITH k AS (SELECT id FROM admin_keys WHERE key_hash = $1 AND revoked_at IS NULL), "
    "b AS (UPDATE system_state SET bootstrapped_at = now() "
    "  WHERE bootstrapped_at IS NULL AND EXISTS (SELECT 1 FROM k)), "
    "gone AS (DELETE FROM admin_sessions WHERE expires_at < now()), "
    "s AS (INSERT INTO admin_sessions (id, token_hash, key_id, expires_at, client_ip) "
    "  SELECT $2, $3, k.id, now() + $4::int * interval '1 second', $6 FROM k "
    "  RETURNING id, key_id, expires_at), "
    "ev AS (INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "
    "  request_id, client_ip) SELECT shark_id('audit_'), 'admin.session_created', s.key_id, "
    "  'admin', s.id, jsonb_build_object('expires_at', " ISO("s.expires_at") "), $5, $6 FROM s) "
    "SELECT " ISO("expires_at") " AS expires_at FROM s",
    6, 0};

int store_admin_session_open(store_pool *p, const char *key_hash, const char *id,
                             const char *token_hash, int ttl_s, const char *request_id,
                             const char *client_ip, store_cb cb, void *ud)
{
    char ttl[16];
    snprintf(ttl, sizeof(ttl), "%d", ttl_s);
    const char *params[] = {key_hash, id, token_hash, ttl, request_id, client_ip};
    return store_exec(p, &open_stmt, params, cb, ud);
}

static store_stmt check_stmt = {
    "admin_session_check",
    "SELECT s.id, s.key_id, " ISO("s.expires_at") " AS expires_at FROM admin_sessions s "
    "JOIN admin_keys k ON k.id = s.key_id AND k.revoked_at IS NULL "
    "WHERE s.token_hash = $1 AND s.expires_at > now()",
    1, 0};

int store_admin_session_check(store_pool *p, const char *token_hash, store_cb cb, void *ud)
{
    const char *params[] = {token_hash};
    return store_exec(p, &check_stmt, params, cb, ud);
}

static store_stmt close_stmt = {
    "admin_session_close",
    "WITH s AS (DELETE FROM admin_sessions WHERE token_hash = $1 RETURNING id, key_id), "
    "ev AS (INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, "
    "  request_id, client_ip) SELECT shark_id('audit_'), 'admin.session_ended', s.key_id, "
    "  'admin', s.id, $2, $3 FROM s) "
    "SELECT id FROM s",
    3, 0};

int store_admin_session_close(store_pool *p, const char *token_hash, const char *request_id,
                              const char *client_ip, store_cb cb, void *ud)
{
    const char *params[] = {token_hash, request_id, client_ip};
    return store_exec(p, &close_stmt, params, cb, ud);
}
