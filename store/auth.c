#include "auth.h"

#include <stdio.h>

#define AUDIT_INSERT                                                                   \
    "INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, " \
    "request_id, client_ip) "

static void itoa16(char out[24], int64_t v)
{
    snprintf(out, 24, "%lld", (long long)v);
}

/* ---- accounts ---- */

static store_stmt signup = {
    "auth_signup",
    "WITH u AS (INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, "
    "  coalesce($3, ''), $4) RETURNING *), "
    "ev AS (" AUDIT_INSERT "SELECT shark_id('audit_'), 'user.signed_up', u.id, 'user', u.id, "
    "  '{}'::jsonb, $5, $6 FROM u) "
    "SELECT jsonb_build_object('id', id, 'email', email, 'name', name, 'email_verified', "
    "  email_verified, 'created_at', created_at)::text AS user FROM u",
    6, 0};

int store_auth_signup(store_pool *p, const char *id, const char *email, const char *name,
                      const char *password_hash, const store_actor *who, store_cb cb, void *ud)
{
    const char *params[] = {id, email, name, password_hash, who->request_id, who->client_ip};
    return store_exec(p, &signup, params, cb, ud);
}

/* The throttle keys of an attempt: the email's SHA-256 (so unknown accounts
 * get counters too and no address book builds up) and the address's
 * shark_addr_key (IPv6 by /64). */
#define LOGIN_KEYS                                                                         \
    "k AS (SELECT 'a:' || e AS acct, 'p:' || e || ':' || shark_addr_key($2) AS pair FROM " \
    "  (SELECT encode(sha256(convert_to(lower($1), 'UTF8')), 'hex') AS e) x) "

/* ON CONFLICT serialises concurrent attempts on a key and reads its latest
 * count, so exactly the first max attempts of a window see n <= max. */
#define LOGIN_COUNT(key)                                                                 \
    "INSERT INTO login_throttle AS t (key, n, expires_at) SELECT k." key ", 1, now() + " \
    "  $5::int * interval '1 second' FROM k "

#define LOGIN_COUNT_CONFLICT                                                                   \
    "ON CONFLICT (key) DO UPDATE SET n = CASE WHEN t.expires_at <= now() THEN 1 ELSE t.n + 1 " \
    "  END, expires_at = excluded.expires_at RETURNING n"

static store_stmt login_begin = {
    "auth_login_begin",
    "WITH " LOGIN_KEYS ", "
    "gc AS (DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle, k "
    "  WHERE expires_at < now() AND key NOT IN (k.acct, k.pair) LIMIT 10 "
    "  FOR UPDATE OF login_throttle SKIP LOCKED)), "
    "p AS (" LOGIN_COUNT("pair") LOGIN_COUNT_CONFLICT
    "), "
    /* an address over its own limit does not count against the account */
    "a AS (" LOGIN_COUNT("acct") "WHERE (SELECT n FROM p) <= $3::int " LOGIN_COUNT_CONFLICT "), "
                "u AS (SELECT id, password_hash FROM users WHERE lower(email) = lower($1)) "
                "SELECT coalesce((SELECT n FROM p) <= $3::int AND (SELECT n FROM a) <= $4::int, false)::text "
                "  AS allowed, (SELECT id FROM u), (SELECT password_hash FROM u), (SELECT n FROM p)",
        5, 0};

int store_auth_login_begin(store_pool *p, const char *email, const char *client_ip, int max_pair,
                           int max_account, int window_s, store_cb cb, void *ud)
{
    char mp[24], ma[24], w[24];
    itoa16(mp, max_pair);
    itoa16(ma, max_account);
    itoa16(w, window_s);
    const char *params[] = {email, client_ip, mp, ma, w};
    return store_exec(p, &login_begin, params, cb, ud);
}

static store_stmt login_end = {
    "auth_login_end",
    "WITH " LOGIN_KEYS ", "
    "pair AS (DELETE FROM login_throttle WHERE $4::bool AND key = (SELECT pair FROM k)), "
    "acct AS (UPDATE login_throttle SET n = greatest(n - 1, 0) WHERE $4::bool "
    "  AND key = (SELECT acct FROM k)), "
    "ev AS (" AUDIT_INSERT "SELECT shark_id('audit_'), e, $3, 'user', $3, m, $6, $2 FROM "
    "  (SELECT CASE WHEN $4::bool THEN 'user.login' ELSE 'user.login_failed' END AS e, "
    "  CASE WHEN $4::bool THEN '{}'::jsonb ELSE jsonb_build_object('failures', $5::int) "
    "  END AS m UNION ALL SELECT 'user.locked', jsonb_build_object('failures', $5::int, "
    "  'scope', 'address') WHERE NOT $4::bool AND $7::bool) x) "
    "SELECT 1",
    7, 0};

int store_auth_login_end(store_pool *p, const char *email, const char *client_ip,
                         const char *user_id, int ok, int attempt, int locks,
                         const char *request_id, store_cb cb, void *ud)
{
    char n[24];
    itoa16(n, attempt);
    const char *params[] = {
        email, client_ip, user_id, ok ? "true" : "false", n, request_id, locks ? "true" : "false"};
    return store_exec(p, &login_end, params, cb, ud);
}

/* ---- sessions ---- */

static store_stmt session_create = {
    "session_create",
    "INSERT INTO sessions (id_hash, public_id, user_id, csrf_token, idle_expires_at, "
    "  absolute_expires_at, client_ip, user_agent) VALUES ($1, $2, $3, $4, "
    "  now() + $5::int * interval '1 second', now() + $6::int * interval '1 second', $7, $8)",
    8, 0};

int store_session_create(store_pool *p, const char *id_hash, const char *public_id,
                         const char *user_id, const char *csrf, int idle_s, int absolute_s,
                         const char *client_ip, const char *user_agent, store_cb cb, void *ud)
{
    char i[24], a[24];
    itoa16(i, idle_s);
    itoa16(a, absolute_s);
    const char *params[] = {id_hash, public_id, user_id, csrf, i, a, client_ip, user_agent};
    return store_exec(p, &session_create, params, cb, ud);
}

static store_stmt session_get = {
    "session_get",
    "WITH s AS (SELECT *, (idle_expires_at > now() AND absolute_expires_at > now()) AS valid "
    "  FROM sessions WHERE id_hash = $1 AND ended_at IS NULL), "
    "t AS (UPDATE sessions SET last_seen_at = now(), idle_expires_at = least("
    "  absolute_expires_at, now() + $2::int * interval '1 second') "
    "  WHERE id_hash = $1 AND EXISTS (SELECT 1 FROM s WHERE valid)) "
    /* floor: a cast rounds, which would put the sign-in up to half a
     * second in the future (max_age compares it with the clock) */
    "SELECT s.valid::text, s.user_id, s.public_id, s.csrf_token, "
    "  floor(extract(epoch FROM s.auth_time))::bigint::text, u.email, u.name, "
    "  u.email_verified::text "
    "FROM s JOIN users u ON u.id = s.user_id",
    2, 0};

int store_session_get(store_pool *p, const char *id_hash, int idle_s, store_cb cb, void *ud)
{
    char i[24];
    itoa16(i, idle_s);
    const char *params[] = {id_hash, i};
    return store_exec(p, &session_get, params, cb, ud);
}

/* Grants bound to an ended session end with it (migration 0020). */
#define SESSION_GRANTS_END                                                     \
    "rt AS (UPDATE refresh_tokens SET revoked_at = now() WHERE session_id IN " \
    "  (SELECT public_id FROM e) AND revoked_at IS NULL) "

static store_stmt session_end = {
    "session_end",
    "WITH e AS (UPDATE sessions SET ended_at = now() WHERE id_hash = $1 AND ended_at IS NULL "
    "  RETURNING public_id), " SESSION_GRANTS_END "SELECT count(*) FROM e",
    1, 0};

int store_session_end(store_pool *p, const char *id_hash, store_cb cb, void *ud)
{
    const char *params[] = {id_hash};
    return store_exec(p, &session_end, params, cb, ud);
}

static store_stmt session_end_public = {
    "session_end_public",
    "WITH e AS (UPDATE sessions SET ended_at = now() WHERE user_id = $1 AND public_id = $2 "
    "  AND ended_at IS NULL RETURNING public_id), " SESSION_GRANTS_END "SELECT count(*) FROM e",
    2, 0};

int store_session_end_public(store_pool *p, const char *user_id, const char *public_id, store_cb cb,
                             void *ud)
{
    const char *params[] = {user_id, public_id};
    return store_exec(p, &session_end_public, params, cb, ud);
}

/* Its position is (auth_time, public_id): the index sessions_user. */
static store_stmt session_list = {
    "session_list",
    STORE_PAGE("json_build_object('id', s.public_id, 'created_at', s.auth_time, "
               "'last_seen_at', s.last_seen_at, 'client_ip', s.client_ip, 'user_agent', "
               "s.user_agent, 'expires_at', least(s.idle_expires_at, s.absolute_expires_at))",
               "sessions", "s",
               "s.user_id = $6 AND s.ended_at IS NULL AND s.idle_expires_at > now() "
               "AND s.absolute_expires_at > now()",
               "s.auth_time", "s.public_id", ""),
    6, 0};

int store_session_list(store_pool *p, const char *user_id, const store_page_q *q, store_cb cb,
                       void *ud)
{
    store_page_args a;
    store_page_bind(q, &a);
    const char *params[] = {a.v[0], a.v[1], a.v[2], a.v[3], a.v[4], user_id};
    return store_exec(p, &session_list, params, cb, ud);
}

/* ---- authorization requests, consents, codes ---- */

static store_stmt authreq_create = {
    "authreq_create",
    "INSERT INTO auth_requests (id, client_id, params, pushed, expires_at) VALUES ($1, $2, "
    "  $3::jsonb, $4, now() + $5::int * interval '1 second')",
    5, 0};

int store_authreq_create(store_pool *p, const char *id, const char *client_id,
                         const char *params_json, int pushed, int ttl_s, store_cb cb, void *ud)
{
    char t[24];
    itoa16(t, ttl_s);
    const char *params[] = {id, client_id, params_json, pushed ? "true" : "false", t};
    return store_exec(p, &authreq_create, params, cb, ud);
}

static store_stmt authreq_get = {
    "authreq_get",
    "SELECT client_id, params::text, pushed::text FROM auth_requests WHERE id = $1 "
    "  AND used_at IS NULL AND expires_at > now()",
    1, 0};

int store_authreq_get(store_pool *p, const char *id, store_cb cb, void *ud)
{
    const char *params[] = {id};
    return store_exec(p, &authreq_get, params, cb, ud);
}

static store_stmt authreq_consume = {
    "authreq_consume",
    "WITH u AS (UPDATE auth_requests SET used_at = now() WHERE id = $1 AND used_at IS NULL "
    "  AND expires_at > now() RETURNING 1) SELECT count(*) FROM u",
    1, 0};

int store_authreq_consume(store_pool *p, const char *id, store_cb cb, void *ud)
{
    const char *params[] = {id};
    return store_exec(p, &authreq_consume, params, cb, ud);
}

static store_stmt authreq_merge = {
    "authreq_merge",
    "WITH u AS (UPDATE auth_requests SET params = params || $2::jsonb WHERE id = $1 "
    "  AND used_at IS NULL AND expires_at > now() RETURNING 1) SELECT count(*) FROM u",
    2, 0};

int store_authreq_merge(store_pool *p, const char *id, const char *params_json, store_cb cb,
                        void *ud)
{
    const char *params[] = {id, params_json};
    return store_exec(p, &authreq_merge, params, cb, ud);
}

static store_stmt consent_get = {
    "consent_get",
    "SELECT (SELECT array_to_string(scopes, ' ') FROM consents WHERE user_id = $1 "
    "  AND client_id = $2 AND revoked_at IS NULL)",
    2, 0};

int store_consent_get(store_pool *p, const char *user_id, const char *client_id, store_cb cb,
                      void *ud)
{
    const char *params[] = {user_id, client_id};
    return store_exec(p, &consent_get, params, cb, ud);
}

static store_stmt consent_grant = {
    "consent_grant",
    "WITH k AS (SELECT shark_consent_grant($1, $2, $3) AS id), "
    "ev AS (" AUDIT_INSERT "SELECT shark_id('audit_'), 'user.consent_granted', $1, 'user', $2, "
    "  jsonb_build_object('scope', $3::text), $4, $5 FROM k) "
    "SELECT id FROM k",
    5, 0};

int store_consent_grant(store_pool *p, const char *user_id, const char *client_id,
                        const char *scope, const store_actor *who, store_cb cb, void *ud)
{
    const char *params[] = {user_id, client_id, scope, who->request_id, who->client_ip};
    return store_exec(p, &consent_grant, params, cb, ud);
}

static store_stmt code_create = {
    "code_create",
    "INSERT INTO auth_codes (code_hash, client_id, user_id, redirect_uri, scope, "
    "  code_challenge, nonce, resource, auth_time, expires_at, session_id, dpop_jkt, "
    "  redirect_uri_sent) VALUES ($1, $2, $3, "
    "  $4, $5, $6, $7, $8, to_timestamp($9::bigint), now() + $10::int * interval '1 second', "
    "  $11, $12, $13::boolean)",
    13, 0};

int store_code_create(store_pool *p, const store_code *c, store_cb cb, void *ud)
{
    char at[24], ttl[24];
    itoa16(at, c->auth_time);
    itoa16(ttl, c->ttl_s);
    const char *params[] = {c->code_hash,
                            c->client_id,
                            c->user_id,
                            c->redirect_uri,
                            c->scope,
                            c->challenge,
                            c->nonce,
                            c->resource,
                            at,
                            ttl,
                            c->session_id,
                            c->dpop_jkt,
                            c->redirect_uri_sent ? "t" : "f"};
    return store_exec(p, &code_create, params, cb, ud);
}

/* A second redemption is an attack or a bug: what the first produced is
 * revoked (RFC 9700 §4.5). The first redemption records the jti and family it
 * is about to issue, so a replay can name them even before they exist; the
 * replay also marks the code, which store_code_confirm checks once they do.
 * The CTEs all see the row as it was before. */
static store_stmt code_redeem = {
    "code_redeem",
    "WITH c AS (SELECT * FROM auth_codes WHERE code_hash = $1 FOR UPDATE), "
    "f AS (UPDATE auth_codes SET used_at = now(), issued_jti = $2, family_id = $3 "
    "  WHERE code_hash = $1 AND used_at IS NULL RETURNING 1), "
    "m AS (UPDATE auth_codes SET replayed = true WHERE code_hash = $1 AND "
    "  EXISTS (SELECT 1 FROM c WHERE used_at IS NOT NULL) RETURNING 1), "
    "r1 AS (UPDATE oauth_tokens SET revoked_at = now() WHERE jti = (SELECT issued_jti FROM c "
    "  WHERE used_at IS NOT NULL) AND revoked_at IS NULL RETURNING 1), "
    "r2 AS (UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = (SELECT family_id "
    "  FROM c WHERE used_at IS NOT NULL) AND revoked_at IS NULL RETURNING 1) "
    "SELECT (used_at IS NOT NULL)::text, (expires_at <= now())::text, client_id, user_id, "
    "  redirect_uri, scope, code_challenge, nonce, resource, "
    "  extract(epoch FROM auth_time)::bigint::text, (SELECT count(*) FROM r1) + "
    "  (SELECT count(*) FROM r2), session_id, dpop_jkt, redirect_uri_sent::text FROM c",
    3, 0};

int store_code_redeem(store_pool *p, const char *code_hash, const char *jti, const char *family,
                      store_cb cb, void *ud)
{
    const char *params[] = {code_hash, jti, family};
    return store_exec(p, &code_redeem, params, cb, ud);
}

/* FOR SHARE waits for a replay still holding the row: a replay whose snapshot
 * predates our tokens cannot revoke them, so we must see its mark instead. */
static store_stmt code_confirm = {
    "code_confirm",
    "WITH c AS (SELECT replayed, issued_jti, family_id FROM auth_codes WHERE code_hash = $1 "
    "  FOR SHARE), "
    "r1 AS (UPDATE oauth_tokens SET revoked_at = now() WHERE jti = (SELECT issued_jti FROM c "
    "  WHERE replayed) AND revoked_at IS NULL RETURNING 1), "
    "r2 AS (UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = (SELECT family_id "
    "  FROM c WHERE replayed) AND revoked_at IS NULL RETURNING 1) "
    "SELECT coalesce((SELECT replayed FROM c), true)::text AS replayed",
    1, 0};

int store_code_confirm(store_pool *p, const char *code_hash, store_cb cb, void *ud)
{
    const char *params[] = {code_hash};
    return store_exec(p, &code_confirm, params, cb, ud);
}

/* ---- refresh tokens ---- */

static store_stmt refresh_create = {
    "refresh_create",
    "INSERT INTO refresh_tokens (token_hash, family_id, client_id, user_id, subject, scope, "
    "  jkt, audience, auth_time, expires_at, session_id) VALUES ($1, $2, $3, $4, $5, $6, $7, "
    "  $8, to_timestamp($9::bigint), now() + $10::int * interval '1 second', $11)",
    11, 0};

int store_refresh_create(store_pool *p, const store_refresh *r, store_cb cb, void *ud)
{
    char at[24], ttl[24];
    itoa16(at, r->auth_time);
    itoa16(ttl, r->ttl_s);
    const char *params[] = {r->token_hash, r->family_id, r->client_id, r->user_id, r->subject,
                            r->scope,      r->jkt,       r->audience,  at,         ttl,
                            r->session_id};
    return store_exec(p, &refresh_create, params, cb, ud);
}

/* `live`: the grant behind the token still stands — its client is active,
 * its person (if any) exists and still consents to the client, no watermark
 * of either covers the token, and the session it is bound to (if any) is
 * still open. */
static store_stmt refresh_peek = {
    "refresh_peek",
    "SELECT (r.used_at IS NOT NULL OR r.revoked_at IS NOT NULL)::text, "
    "  (r.expires_at <= now())::text, r.family_id, r.client_id, r.user_id, r.subject, r.scope, "
    "  r.jkt, r.audience, coalesce(extract(epoch FROM r.auth_time)::bigint, 0)::text, "
    "  (EXISTS (SELECT 1 FROM oauth_clients c WHERE c.client_id = r.client_id "
    "    AND c.status = 'active') "
    "  AND (r.user_id IS NULL OR (EXISTS (SELECT 1 FROM users u WHERE u.id = r.user_id) "
    "    AND EXISTS (SELECT 1 FROM consents k WHERE k.user_id = r.user_id "
    "    AND k.client_id = r.client_id AND k.revoked_at IS NULL))) "
    "  AND NOT EXISTS (SELECT 1 FROM revocation_watermarks w WHERE w.revoked_before >= "
    "    r.created_at AND ((w.kind = 'client' AND w.subject_id = r.client_id) "
    "    OR (w.kind = 'user' AND w.subject_id = r.user_id))) "
    "  AND NOT shark_key_marked(r.client_id, r.jkt, r.created_at) "
    "  AND (r.session_id IS NULL OR EXISTS (SELECT 1 FROM sessions s WHERE s.public_id = "
    "    r.session_id AND s.ended_at IS NULL AND s.absolute_expires_at > now())))::text, "
    "  r.session_id FROM refresh_tokens r WHERE r.token_hash = $1",
    1, 0};

int store_refresh_peek(store_pool *p, const char *token_hash, store_cb cb, void *ud)
{
    const char *params[] = {token_hash};
    return store_exec(p, &refresh_peek, params, cb, ud);
}

static store_stmt refresh_introspect = {
    "refresh_introspect",
    "SELECT (used_at IS NULL AND revoked_at IS NULL AND expires_at > now())::text, client_id, "
    "  subject, scope, extract(epoch FROM expires_at)::bigint::text, "
    "  extract(epoch FROM created_at)::bigint::text, audience FROM refresh_tokens "
    "WHERE token_hash = $1",
    1, 0};

int store_refresh_introspect(store_pool *p, const char *token_hash, store_cb cb, void *ud)
{
    const char *params[] = {token_hash};
    return store_exec(p, &refresh_introspect, params, cb, ud);
}

/* The one that marks it used wins; anyone finding it used (a replay, or a
 * race with the legitimate holder) revokes the whole family. */
static store_stmt refresh_use = {
    "refresh_use",
    "WITH t AS (SELECT * FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE), "
    "u AS (UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL "
    "  AND revoked_at IS NULL RETURNING 1), "
    "fam AS (UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = (SELECT family_id "
    "  FROM t WHERE used_at IS NOT NULL OR revoked_at IS NOT NULL) AND revoked_at IS NULL "
    "  RETURNING 1) "
    "SELECT (SELECT count(*) FROM u) AS used",
    1, 0};

int store_refresh_use(store_pool *p, const char *token_hash, store_cb cb, void *ud)
{
    const char *params[] = {token_hash};
    return store_exec(p, &refresh_use, params, cb, ud);
}

static store_stmt refresh_revoke = {
    "refresh_revoke",
    "WITH t AS (SELECT family_id FROM refresh_tokens WHERE token_hash = $1 "
    "  AND ($2::text IS NULL OR client_id = $2)), "
    "r AS (UPDATE refresh_tokens SET revoked_at = now() WHERE family_id IN (SELECT family_id "
    "  FROM t) AND revoked_at IS NULL RETURNING 1), "
    "ev AS (INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "
    "  request_id, client_ip) SELECT shark_id('audit_'), 'oauth.token_revoked', "
    "  coalesce($2, 'admin'), CASE WHEN $2::text IS NULL THEN 'admin' ELSE 'client' END, "
    "  t.family_id, jsonb_build_object('token_type', 'refresh_token', 'layer', 1), $3, $4 FROM t) "
    "SELECT EXISTS (SELECT 1 FROM t)::text AS found",
    4, 0};

int store_refresh_revoke(store_pool *p, const char *token_hash, const char *client_id,
                         const char *request_id, const char *client_ip, store_cb cb, void *ud)
{
    const char *params[] = {token_hash, client_id, request_id, client_ip};
    return store_exec(p, &refresh_revoke, params, cb, ud);
}

static store_stmt user_claims = {
    "user_claims",
    "SELECT jsonb_build_object('sub', id, 'email', email, 'email_verified', email_verified, "
    "  'name', name)::text FROM users WHERE id = $1",
    1, 0};

int store_user_claims(store_pool *p, const char *user_id, store_cb cb, void *ud)
{
    const char *params[] = {user_id};
    return store_exec(p, &user_claims, params, cb, ud);
}
