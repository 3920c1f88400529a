/*
 * store/rows_clients: typed rows of OAuth clients — the client record the
 * token path caches (store_client_get), a dynamically registered client
 * (store/clients.h) and the initial access token vouching for one
 * (store_dcr_token_find). Strings are copied into the arena given, NULL for
 * SQL NULL unless said; a row reader returns false when the result has no
 * row.
 */
#ifndef SHARK_STORE_ROWS_CLIENTS_H
#define SHARK_STORE_ROWS_CLIENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/arena.h"
#include "store.h"

/* store_client_get: a client of any kind or status. */
typedef struct store_client_entry_row {
    const char *client_id, *kind, *name;
    const char *secret_hash, *prev_secret_hash; /* hex SHA-256, or NULL */
    const char *auth_method;
    const char *grant_types, *redirect_uris; /* JSON array text */
    const char *scopes, *resources;          /* space-separated */
    const char *jwks;                        /* JSON text, or NULL */
    const char *dpop_jkt, *status, *created_by, *registered_by, *id_token_alg;
    int64_t prev_until; /* when the previous secret stops working (unix s); 0: never */
    bool resource_server;
} store_client_entry_row;
bool store_client_entry_row_read(const PGresult *res, arena *a, store_client_entry_row *out);

/* store_client_register, store_client_registration, store_client_update:
 * a client with its registration. The strings are never NULL except
 * where said. */
typedef struct store_client_reg_row {
    const char *client_id, *kind, *status; /* dcr | agent | cimd; active | disabled */
    const char *token_hash;                /* registration access token hash, or NULL */
    const char *secret_hash;               /* or NULL */
    const char *auth_method, *name;
    const char *grant_types, *response_types, *redirect_uris, *resources; /* JSON array text */
    const char *scope;                                                    /* space-separated */
    const char *jwks;          /* JSON object text, or NULL */
    const char *metadata;      /* JSON object text: the other registered members */
    int64_t issued_at;         /* unix seconds */
    const char *registered_by; /* open | admin | an initial access token's id; or NULL */
    /* what its initial access token allows, space-separated ("" without one) */
    const char *bound_scopes, *bound_grants, *bound_resources;
} store_client_reg_row;
bool store_client_reg_row_read(const PGresult *res, arena *a, store_client_reg_row *out);

/* store_client_disable: whether a client was disabled. */
bool store_client_disabled(const PGresult *res);

/* store_dcr_token_find: a usable initial access token and its allowances
 * (space-separated). */
typedef struct store_dcr_bound_row {
    const char *id, *scopes, *grant_types, *resources;
} store_dcr_bound_row;
bool store_dcr_bound_row_read(const PGresult *res, arena *a, store_dcr_bound_row *out);

#endif
