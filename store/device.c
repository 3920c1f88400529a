#include "device.h"

#include <stdio.h>

static store_stmt device_create = {
    "device_create",
    "INSERT INTO device_codes (device_code_hash, user_code, client_id, scope, interval_s, "
    "  expires_at) VALUES ($1, $2, $3, $4, $5::int, now() + $6::int * interval '1 second')",
    6, 0};

int store_device_create(store_pool *p, const char *device_code_hash, const char *user_code,
                        const char *client_id, const char *scope, int interval_s, int ttl_s,
                        store_cb cb, void *ud)
{
    char iv[16], ttl[16];
    snprintf(iv, sizeof(iv), "%d", interval_s);
    snprintf(ttl, sizeof(ttl), "%d", ttl_s);
    const char *params[] = {device_code_hash, user_code, client_id, scope, iv, ttl};
    return store_exec(p, &device_create, params, cb, ud);
}

/* Wrong user codes lately, of the user ($2) and of the address ($3):
 * throttled past DEVICE_MAX_MISSES / DEVICE_MAX_MISSES_ADDR in 15 minutes.
 * A miss is recorded only while not throttled, so the table stays small;
 * each statement also drops a few expired rows. */
#define DEVICE_MAX_MISSES "10"
#define DEVICE_MAX_MISSES_ADDR "30"
#define DEVICE_THROTTLE                                                                       \
    "t AS (SELECT (SELECT count(*) FROM device_attempts WHERE user_id = $2 "                  \
    "  AND at > now() - interval '15 minutes') >= " DEVICE_MAX_MISSES " OR (SELECT count(*) " \
    "  FROM device_attempts WHERE addr_key = shark_addr_key($3) "                             \
    "  AND at > now() - interval '15 minutes') >= " DEVICE_MAX_MISSES_ADDR " AS throttled), " \
    "gc AS (DELETE FROM device_attempts WHERE ctid IN (SELECT ctid FROM device_attempts "     \
    "  WHERE at < now() - interval '15 minutes' LIMIT 10 FOR UPDATE SKIP LOCKED)), "

#define DEVICE_MISS(found)                                                                    \
    "miss AS (INSERT INTO device_attempts (user_id, addr_key) SELECT $2, shark_addr_key($3) " \
    "  WHERE NOT (SELECT throttled FROM t) AND NOT EXISTS (SELECT 1 FROM " found ")) "

static store_stmt device_lookup = {
    "device_lookup",
    "WITH " DEVICE_THROTTLE
    "d AS (SELECT d.client_id, c.name, d.scope FROM device_codes d JOIN oauth_clients c "
    "  ON c.client_id = d.client_id WHERE d.user_code = $1 AND d.status = 'pending' "
    "  AND d.expires_at > now()), " DEVICE_MISS("d") "SELECT (SELECT throttled FROM t)::text, EXISTS (SELECT 1 FROM d)::text, "
             "  (SELECT client_id FROM d), (SELECT name FROM d), (SELECT scope FROM d)",
        3, 0};

int store_device_lookup(store_pool *p, const char *user_code, const char *user_id,
                        const char *client_ip, store_cb cb, void *ud)
{
    const char *params[] = {user_code, user_id, client_ip};
    return store_exec(p, &device_lookup, params, cb, ud);
}

static store_stmt device_decide = {
    "device_decide",
    "WITH " DEVICE_THROTTLE
    "d AS (UPDATE device_codes SET status = CASE WHEN $4 THEN 'approved' ELSE 'denied' "
    "  END, user_id = $2, auth_time = to_timestamp($5::bigint) WHERE user_code = $1 "
    "  AND status = 'pending' AND expires_at > now() AND NOT (SELECT throttled FROM t) "
    "  RETURNING client_id, scope), " DEVICE_MISS("d") ", k AS (SELECT shark_consent_grant($2, d.client_id, d.scope) FROM d WHERE $4), "
             "ev AS (INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "
             "  request_id, client_ip) SELECT shark_id('audit_'), CASE WHEN $4 THEN "
             "  'oauth.device_approved' ELSE 'oauth.device_denied' END, $2, 'user', d.client_id, "
             "  '{}'::jsonb, $6, $3 FROM d) "
             "SELECT (SELECT throttled FROM t)::text, (SELECT count(*) FROM d), "
             "  (SELECT count(*) FROM k) AS consented",
        6, 0};

int store_device_decide(store_pool *p, const char *user_code, const char *user_id, int approve,
                        int64_t auth_time, const store_actor *who, store_cb cb, void *ud)
{
    char at[24];
    snprintf(at, sizeof(at), "%lld", (long long)auth_time);
    const char *params[] = {user_code, user_id,        who->client_ip, approve ? "true" : "false",
                            at,        who->request_id};
    return store_exec(p, &device_decide, params, cb, ud);
}

static store_stmt device_poll = {
    "device_poll",
    "WITH d AS (SELECT * FROM device_codes WHERE device_code_hash = $1 FOR UPDATE), "
    "u AS (UPDATE device_codes SET last_poll_at = now(), "
    "  interval_s = CASE WHEN last_poll_at > now() - interval_s * interval '1 second' "
    "    THEN interval_s + 5 ELSE interval_s END, "
    "  status = CASE WHEN status = 'approved' AND expires_at > now() THEN 'used' ELSE status END "
    "  WHERE device_code_hash = $1 RETURNING 1) "
    "SELECT status, (expires_at <= now())::text, "
    "  (last_poll_at IS NOT NULL AND last_poll_at > now() - interval_s * interval '1 second')::text, "
    "  client_id, user_id, scope, coalesce(extract(epoch FROM auth_time)::bigint, 0)::text FROM d",
    1, 0};

int store_device_poll(store_pool *p, const char *device_code_hash, store_cb cb, void *ud)
{
    const char *params[] = {device_code_hash};
    return store_exec(p, &device_poll, params, cb, ud);
}
