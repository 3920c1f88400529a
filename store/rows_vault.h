/*
 * store/rows_vault: typed rows of the vault's admin routes and connect
 * flow (store/vault.h; the agent path's rows are in store/rows.h). Each
 * reader takes the result its store function's callback got; strings are
 * copied into the arena given, NULL for SQL NULL unless said; a row reader
 * returns false when the result has no row.
 */
#ifndef SHARK_STORE_ROWS_VAULT_H
#define SHARK_STORE_ROWS_VAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/arena.h"
#include "store.h"

/* store_vault_conn_prepare */
typedef struct store_vault_prepare_row {
    bool user_found, provider_found;
    const char *existing; /* the user's connection to the provider, or NULL */
} store_vault_prepare_row;
bool store_vault_prepare_row_read(const PGresult *res, arena *a, store_vault_prepare_row *out);

/* store_vault_provider_update */
typedef struct store_vault_provider_update_row {
    bool found, allowed;  /* allowed: false for a built-in's endpoints */
    const char *provider; /* JSON, or NULL unless found and allowed */
} store_vault_provider_update_row;
bool store_vault_provider_update_row_read(const PGresult *res, arena *a,
                                          store_vault_provider_update_row *out);

/* store_vault_provider_delete */
typedef struct store_vault_provider_delete_row {
    bool found, builtin, deleted;
    int64_t connections; /* that hold it back */
} store_vault_provider_delete_row;
bool store_vault_provider_delete_row_read(const PGresult *res,
                                          store_vault_provider_delete_row *out);

/* store_vault_conn_delete (all of it) and store_vault_conn_dry_run (id,
 * revoked_agent_ids and revoked_token_count; the rest NULL). */
typedef struct store_vault_disconnect_row {
    const char *id;
    const char *revoked_agent_ids; /* JSON array text */
    int64_t revoked_token_count;
    const char *audit_event_id; /* never NULL */
    /* the provider's revocation endpoint (NULL: none) and what calling it takes */
    const char *revoke_url, *client_id, *client_secret_sealed, *auth_style, *provider_id;
    const char *refresh_sealed, *access_sealed;
} store_vault_disconnect_row;
bool store_vault_disconnect_row_read(const PGresult *res, arena *a,
                                     store_vault_disconnect_row *out);
bool store_vault_disconnect_count_row_read(const PGresult *res, arena *a,
                                           store_vault_disconnect_row *out);

/* store_vault_state_create; strings "" for none. */
typedef struct store_vault_state_row {
    const char *authorize_url, *client_id, *scope, *authorize_params;
    bool created; /* false when the provider has no client_id */
} store_vault_state_row;
bool store_vault_state_row_read(const PGresult *res, arena *a, store_vault_state_row *out);

/* store_vault_state_consume */
typedef struct store_vault_consumed_row {
    const char *provider_id, *code_verifier;
    bool live; /* not expired */
    const char *token_url, *client_id, *client_secret_sealed, *auth_style, *provider_name;
    const char *scopes;   /* JSON array text */
    const char *existing; /* the user's connection to the provider, or NULL */
} store_vault_consumed_row;
bool store_vault_consumed_row_read(const PGresult *res, arena *a, store_vault_consumed_row *out);

#endif
