/*
 * store/rows: typed rows for the token path. A callback that got a result
 * from store_code_redeem, store_refresh_peek, store_device_poll,
 * store_code_confirm, store_refresh_use or store_token_issue reads it
 * through these instead of indexing the PGresult by column number; the
 * column order stays a store/ matter. Strings are copied into the arena
 * given (NULL for SQL NULL), so they outlive the callback.
 */
#ifndef SHARK_STORE_ROWS_H
#define SHARK_STORE_ROWS_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/arena.h"
#include "store.h"

/* store_code_redeem */
typedef struct store_code_row {
    bool reused; /* already redeemed: what it produced is now revoked */
    bool expired;
    const char *client_id, *user_id, *redirect_uri, *scope, *code_challenge, *nonce;
    const char *resource; /* the audience the authorization bound, or NULL */
    int64_t auth_time;
    const char *session_id;
    const char *dpop_jkt;   /* the DPoP key redemption must prove, or NULL */
    bool redirect_uri_sent; /* the request named redirect_uri: redemption must too */
} store_code_row;
/* false when res has no row (unknown code). */
bool store_code_row_read(const PGresult *res, arena *a, store_code_row *out);

/* store_refresh_peek */
typedef struct store_refresh_row {
    bool spent, expired;
    bool live; /* false once its client, person, consent or session is gone */
    const char *family_id, *client_id, *user_id, *subject, *scope, *jkt, *audience;
    int64_t auth_time;
    const char *session_id;
} store_refresh_row;
bool store_refresh_row_read(const PGresult *res, arena *a, store_refresh_row *out);

/* store_device_poll */
typedef struct store_device_row {
    const char *status; /* pending, approved, denied, used */
    bool expired, too_fast;
    const char *client_id, *user_id, *scope;
    int64_t auth_time;
} store_device_row;
bool store_device_row_read(const PGresult *res, arena *a, store_device_row *out);

/* ---- people (store/auth.h), for identity/ ---- */

/* store_session_get; its strings read SQL NULL as "" (never NULL). */
typedef struct store_session_row {
    bool valid; /* false once its idle or absolute expiry passed */
    const char *user_id, *public_id, *csrf, *email, *name;
    int64_t auth_time;
    bool email_verified;
} store_session_row;
/* false when unknown or ended */
bool store_session_row_read(const PGresult *res, arena *a, store_session_row *out);

/* store_auth_login_begin */
typedef struct store_login_row {
    bool allowed;                        /* both attempt counts within their limits */
    const char *user_id, *password_hash; /* both NULL without an account with a password */
    int attempt;                         /* this attempt's number at its address */
} store_login_row;
bool store_login_row_read(const PGresult *res, arena *a, store_login_row *out);

/* ---- the vault's agent path (store/vault.h) ---- */

/* store_vault_fetch_lookup */
typedef struct store_vault_lookup_row {
    const char *user_id; /* NULL: the token acts for nobody */
    bool authorized;     /* the agent may use the user's connections */
    const char *conn_id; /* NULL: no connection to the provider */
    bool needs_reauth, due, can_refresh;
    const char *access_sealed, *expires_at;
    long long refresh_gen;
} store_vault_lookup_row;
bool store_vault_lookup_row_read(const PGresult *res, arena *a, store_vault_lookup_row *out);

/* store_vault_conn_poll */
typedef struct store_vault_poll_row {
    bool needs_reauth, due, refreshing;
    const char *access_sealed, *expires_at;
    long long refresh_gen;
} store_vault_poll_row;
/* false when the connection is gone */
bool store_vault_poll_row_read(const PGresult *res, arena *a, store_vault_poll_row *out);

/* store_vault_refresh_claim */
typedef struct store_vault_claim_row {
    const char *refresh_sealed, *token_url, *client_id, *client_secret_sealed, *auth_style;
} store_vault_claim_row;
/* false when the claim was not taken */
bool store_vault_claim_row_read(const PGresult *res, arena *a, store_vault_claim_row *out);

/* store_vault_refresh_store: the new expiry; false when the connection is gone. */
bool store_vault_stored_expiry(const PGresult *res, arena *a, const char **expires_at);
/* store_vault_record_fetch: false when the connection was disconnected. */
bool store_vault_fetch_recorded(const PGresult *res);

/* The one-value answers: store_code_confirm (a replay came meanwhile),
 * store_refresh_use (used now; false: someone else used it first),
 * store_token_issue (issued; false: the DPoP replay key was taken). */
bool store_code_replayed(const PGresult *res);
bool store_refresh_used(const PGresult *res);
bool store_token_issued(const PGresult *res);

#endif
