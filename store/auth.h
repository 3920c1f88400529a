/*
 * store/auth: accounts and sessions for people, and the state of the
 * interactive OAuth flows — pending authorization requests (consent, PAR),
 * consents, authorization codes and refresh tokens. Secrets (session cookies,
 * codes, refresh tokens) arrive already hashed; only hashes are stored.
 */
#ifndef SHARK_STORE_AUTH_H
#define SHARK_STORE_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "agents.h"
#include "page.h"
#include "store.h"

/* ---- accounts ---- */

/* Row: user (JSON: id, email, name, email_verified, created_at).
 * STORE_ECONFLICT when the email is taken. Audit user.signed_up. */
int store_auth_signup(store_pool *p, const char *id, const char *email, const char *name,
                      const char *password_hash, const store_actor *who, store_cb cb, void *ud);
/* Password sign-in, step 1, before any password is checked: counts the
 * attempt against the (email, address) pair and, unless that pair is over
 * max_pair, against the email's account; each counter lapses window_s
 * after its last attempt. Unknown emails are counted the same way. Row:
 * allowed ('t' when both counts are within their limits), user id and
 * password_hash (both NULL when no such account), the attempt's number at
 * its address. */
int store_auth_login_begin(store_pool *p, const char *email, const char *client_ip, int max_pair,
                           int max_account, int window_s, store_cb cb, void *ud);
/* Step 2, for an existing account whose password was checked: success
 * clears the pair's count and takes this attempt off the account's;
 * failure keeps both. Audit user.login / user.login_failed (with the
 * attempt's number), and user.locked when this failure locks the address
 * out (locks). */
int store_auth_login_end(store_pool *p, const char *email, const char *client_ip,
                         const char *user_id, int ok, int attempt, int locks,
                         const char *request_id, store_cb cb, void *ud);

/* ---- sessions ---- */

int store_session_create(store_pool *p, const char *id_hash, const char *public_id,
                         const char *user_id, const char *csrf, int idle_s, int absolute_s,
                         const char *client_ip, const char *user_agent, store_cb cb, void *ud);
/* Row (none if unknown or ended): valid ('t' unless idle/absolute expiry
 * passed), user_id, public_id, csrf, auth_time (unix s), email, name,
 * email_verified. A valid session's idle expiry is extended. */
int store_session_get(store_pool *p, const char *id_hash, int idle_s, store_cb cb, void *ud);
/* Ends the session named by hash (logout), and the grants bound to it
 * (store_code.session_id). Row: ended count. */
int store_session_end(store_pool *p, const char *id_hash, store_cb cb, void *ud);
/* Ends the user's session with that public id, and the grants bound to it.
 * Row: ended count. */
int store_session_end_public(store_pool *p, const char *user_id, const char *public_id, store_cb cb,
                             void *ud);
/* A page (store/page.h) of the user's live sessions: id, created_at,
 * last_seen_at, client_ip, user_agent, expires_at. */
int store_session_list(store_pool *p, const char *user_id, const store_page_q *q, store_cb cb,
                       void *ud);

/* ---- authorization requests, consents, codes ---- */

int store_authreq_create(store_pool *p, const char *id, const char *client_id,
                         const char *params_json, int pushed, int ttl_s, store_cb cb, void *ud);
/* Row (none unless live): client_id, params, pushed. */
int store_authreq_get(store_pool *p, const char *id, store_cb cb, void *ud);
/* Marks it used; Row: used count (0 if already used or expired). */
int store_authreq_consume(store_pool *p, const char *id, store_cb cb, void *ud);
/* Adds the members of a JSON object to a live request's params. Row:
 * updated count. */
int store_authreq_merge(store_pool *p, const char *id, const char *params_json, store_cb cb,
                        void *ud);

/* Row: scopes (space-separated) of the user's live consent; NULL if none. */
int store_consent_get(store_pool *p, const char *user_id, const char *client_id, store_cb cb,
                      void *ud);
/* Grants (adding to a live consent's scopes). Audit user.consent_granted. */
int store_consent_grant(store_pool *p, const char *user_id, const char *client_id,
                        const char *scope, const store_actor *who, store_cb cb, void *ud);

typedef struct store_code {
    const char *code_hash, *client_id, *user_id, *redirect_uri, *scope, *challenge, *nonce,
        *resource;
    const char *session_id; /* the approving session's public id when the grant ends with it */
    const char *dpop_jkt;   /* the DPoP key redemption must prove, or NULL */
    bool redirect_uri_sent; /* the request named redirect_uri: redemption must too */
    int64_t auth_time;
    int ttl_s;
} store_code;
int store_code_create(store_pool *p, const store_code *c, store_cb cb, void *ud);
/* Redeems a code once, recording the access token jti and refresh family it
 * will produce. Row (none if unknown): reused ('t' when already redeemed —
 * what it produced is then revoked and the code marked replayed), expired,
 * client_id, user_id, redirect_uri, scope, code_challenge, nonce, resource,
 * auth_time, (revoked count), session_id, dpop_jkt, redirect_uri_sent ('t'/'f'). */
int store_code_redeem(store_pool *p, const char *code_hash, const char *jti, const char *family,
                      store_cb cb, void *ud);
/* After issuing: Row: replayed ('t' when a replay came meanwhile — the new
 * tokens are then revoked and must not be handed out). */
int store_code_confirm(store_pool *p, const char *code_hash, store_cb cb, void *ud);

/* ---- refresh tokens ---- */

typedef struct store_refresh {
    const char *token_hash, *family_id, *client_id, *user_id, *subject, *scope, *jkt, *audience;
    const char *session_id; /* NULL, or the session whose end revokes it */
    int64_t auth_time;
    int ttl_s;
} store_refresh;
int store_refresh_create(store_pool *p, const store_refresh *r, store_cb cb, void *ud);
/* Reads a refresh token without using it. Row (none if unknown): spent ('t'
 * when already used or revoked), expired, family_id, client_id, user_id,
 * subject, scope, jkt, audience, auth_time, live ('f' once its client is
 * disabled or gone, its person deleted, their consent revoked, its session
 * ended, or a watermark covers it), session_id. */
int store_refresh_peek(store_pool *p, const char *token_hash, store_cb cb, void *ud);
/* RFC 7662 for refresh tokens. Row (none if unknown): active ('t' unless
 * used, revoked or expired), client_id, subject, scope, exp and iat (unix
 * seconds), audience (or NULL). */
int store_refresh_introspect(store_pool *p, const char *token_hash, store_cb cb, void *ud);
/* Uses it once (rotation), after every check passed. Row: used (1, or 0
 * when someone else used it first — its family is then revoked). */
int store_refresh_use(store_pool *p, const char *token_hash, store_cb cb, void *ud);
/* RFC 7009 for refresh tokens: revokes the token's whole family (of
 * client_id, or any for NULL). Row: found. Audit oauth.token_revoked. */
int store_refresh_revoke(store_pool *p, const char *token_hash, const char *client_id,
                         const char *request_id, const char *client_ip, store_cb cb, void *ud);

/* Row: user (JSON: sub, email, email_verified, name) for userinfo. */
int store_user_claims(store_pool *p, const char *user_id, store_cb cb, void *ud);

#endif
