/*
 * store/clients: dynamically registered clients (RFC 7591/7592). Each
 * function runs one statement; a change and the audit event recording it
 * (oauth.client_registered / _updated / _deleted) are written together.
 *
 * Register, load and update return one client row (none when nothing
 * matched), read with store_client_reg_row_read (store/rows_clients.h);
 * STORE_CLIENT_* is its column order, for store/ only.
 */
#ifndef SHARK_STORE_CLIENTS_H
#define SHARK_STORE_CLIENTS_H

#include "store.h"

enum {
    STORE_CLIENT_ID,
    STORE_CLIENT_KIND,        /* dcr | agent */
    STORE_CLIENT_STATUS,      /* active | disabled */
    STORE_CLIENT_TOKEN_HASH,  /* registration access token, hex SHA-256; may be NULL */
    STORE_CLIENT_SECRET_HASH, /* hex SHA-256; NULL for none / private_key_jwt */
    STORE_CLIENT_AUTH_METHOD,
    STORE_CLIENT_NAME,
    STORE_CLIENT_GRANT_TYPES,    /* JSON array text */
    STORE_CLIENT_RESPONSE_TYPES, /* JSON array text */
    STORE_CLIENT_REDIRECT_URIS,  /* JSON array text */
    STORE_CLIENT_SCOPE,          /* space-separated */
    STORE_CLIENT_JWKS,           /* JSON object text or NULL */
    STORE_CLIENT_METADATA,       /* JSON object text: the other registered members */
    STORE_CLIENT_ISSUED_AT,      /* unix seconds */
    STORE_CLIENT_REGISTERED_BY,  /* open | admin | the initial access token's id */
    STORE_CLIENT_RESOURCES,      /* JSON array text */
    /* What the initial access token it was registered with allows
     * (space-separated; NULL unless registered with one). */
    STORE_CLIENT_BOUND_SCOPES,
    STORE_CLIENT_BOUND_GRANTS,
    STORE_CLIENT_BOUND_RESOURCES,
};

/* A client's registered metadata, as validated by the caller. */
typedef struct store_client_reg {
    const char *client_id;
    const char *token_hash;  /* registration access token, hex SHA-256 */
    const char *secret_hash; /* NULL when the method uses no secret */
    const char *name, *auth_method;
    const char *grant_types, *response_types, *redirect_uris; /* JSON arrays of strings */
    const char *scope;                                        /* space-separated, "" for none */
    const char *jwks;                                         /* JSON object or NULL */
    const char *metadata;                                     /* JSON object: the other members */
    const char *resources;                                    /* JSON array of strings */
    const char *request_id, *client_ip;                       /* for the audit event */
    /* register only: who vouched for it (open | admin | an initial access
     * token's id) and, with a token, the token's hash */
    const char *registered_by, *initial_token_hash;
} store_client_reg;

/* Inserts a kind 'dcr' client. STORE_ECONFLICT if the client_id exists. With
 * initial_token_hash, counts a use of that token (registered_by names it) in
 * the same statement, audit event admin.dcr_token_used; no row when the
 * token is no longer usable (expired, revoked or used up meanwhile). */
int store_client_register(store_pool *p, const store_client_reg *c, store_cb cb, void *ud);

/* The client row of any kind or status; the caller checks both and the
 * token hash. */
int store_client_registration(store_pool *p, const char *client_id, store_cb cb, void *ud);

/* Replaces the metadata (and secret hash) of an active 'dcr' client whose
 * registration token hash is c->token_hash; no row if there is none. */
int store_client_update(store_pool *p, const store_client_reg *c, store_cb cb, void *ud);

/* Disables an active 'dcr' client whose registration token hash is
 * token_hash. Row: `deleted` (1, or 0 when nothing matched). */
int store_client_disable(store_pool *p, const char *client_id, const char *token_hash,
                         const char *request_id, const char *client_ip, store_cb cb, void *ud);

#endif
