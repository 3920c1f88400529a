/*
 * store/vault: the token vault's SQL — providers, connections, connect-flow
 * states, the single-flight refresh claim, fetch records and the disconnect
 * cascade. Every change is one statement with its audit event.
 *
 * Sealed values (provider client secrets, connection tokens) travel as
 * base64 text of the sealed box in both directions; plaintext never reaches
 * this layer. Lists travel as JSON array text. Rows are documented at each
 * call; "JSON" columns hold ready API JSON (shark_vault_*_json).
 */
#ifndef SHARK_STORE_VAULT_H
#define SHARK_STORE_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agents.h"
#include "page.h"
#include "store.h"

/* ---- providers ---- */
typedef struct store_vault_provider_in {
    const char *id, *name, *authorize_url, *token_url, *revoke_url;
    const char *scopes;                                                    /* JSON array or NULL */
    const char *scope_separator, *authorize_params, *auth_style, *rotates; /* "true"/"false" */
    const char *client_id;
    const char *secret_sealed; /* base64 or NULL (unchanged) */
} store_vault_provider_in;

/* A page of the provider templates (store/page.h). */
int store_vault_provider_list(store_pool *p, const store_page_q *q, store_cb cb, void *ud);
/* Row (none if unknown): provider JSON. */
int store_vault_provider_get(store_pool *p, const char *id, store_cb cb, void *ud);
/* Row: provider JSON (STORE_ECONFLICT when the id exists). */
int store_vault_provider_create(store_pool *p, const store_vault_provider_in *in,
                                const store_actor *who, store_cb cb, void *ud);
/* NULL members stay. Row: found, allowed (a built-in's endpoints are fixed:
 * false when endpoints_given), provider JSON. */
int store_vault_provider_update(store_pool *p, const store_vault_provider_in *in,
                                bool endpoints_given, const store_actor *who, store_cb cb,
                                void *ud);
/* Row: found, builtin, connections, deleted. */
int store_vault_provider_delete(store_pool *p, const char *id, const store_actor *who, store_cb cb,
                                void *ud);

/* ---- connections ---- */
/* Row: user_found, provider_found, existing connection id (NULL if none). */
int store_vault_conn_prepare(store_pool *p, const char *user_id, const char *provider_id,
                             store_cb cb, void *ud);

typedef struct store_vault_conn_in {
    const char *id, *user_id, *provider_id;
    const char *scopes;                         /* JSON array or NULL */
    const char *access_sealed, *refresh_sealed; /* base64 or NULL */
    const char *expires_at;                     /* ISO-8601, unix seconds or NULL */
    const char *expires_in;                     /* seconds from now, or NULL */
    const char *actor_id, *actor_type;          /* "admin"/"admin" or user id/"user" */
} store_vault_conn_in;
/* Creates, or replaces the tokens of the user's connection to the provider
 * when in->id is that connection's id. Row (none when another connection
 * won a race): connection JSON. */
int store_vault_conn_upsert(store_pool *p, const store_vault_conn_in *in, const store_actor *who,
                            store_cb cb, void *ud);
/* Which connections a page lists; each member NULL when not filtered on. */
typedef struct store_vault_conn_filter {
    const char *provider_id, *user_id;
    const char *needs_reauth; /* "true" or "false" */
} store_vault_conn_filter;
/* A page of connections (store/page.h). */
int store_vault_conn_list(store_pool *p, const store_vault_conn_filter *f, const store_page_q *q,
                          store_cb cb, void *ud);
/* Row (none if unknown): connection JSON. */
int store_vault_conn_get(store_pool *p, const char *id, store_cb cb, void *ud);

/* Disconnect in a transaction: the connection row is locked first so a
 * fetch recorded concurrently is either seen by the cascade or refused.
 * Row (none if unknown): id, revoked_agent_ids (JSON), revoked_token_count,
 * audit_event_id, revoke_url, client_id, client_secret_sealed, auth_style,
 * provider_id, refresh_sealed, access_sealed. `cb` gets err != 0 with a NULL
 * result on any failure. */
/* What a disconnect would revoke, counted only. Row (none if unknown): id,
 * revoked_agent_ids (JSON), revoked_token_count. */
int store_vault_conn_dry_run(store_pool *p, const char *id, bool cascade, store_cb cb, void *ud);
int store_vault_conn_delete(store_pool *p, const char *id, bool cascade, const store_actor *who,
                            store_cb cb, void *ud);

/* ---- the agent path ---- */
/* Who the token acts for and their connection to the provider. sub is the
 * token's subject, client_id the token's client. Row: user_id (NULL when
 * none), authorized, id (NULL when no connection), needs_reauth,
 * access_sealed, expires_at, due, can_refresh, refresh_gen, provider_id. */
int store_vault_fetch_lookup(store_pool *p, const char *sub, const char *client_id,
                             const char *provider_id, int skew_s, store_cb cb, void *ud);
/* Takes the refresh for this connection if nobody holds it and it is still
 * due. Row (none when not taken): refresh_sealed, token_url, client_id,
 * client_secret_sealed, auth_style. */
int store_vault_refresh_claim(store_pool *p, const char *conn_id, int skew_s, store_cb cb,
                              void *ud);
/* Row (none if the connection is gone): needs_reauth, access_sealed,
 * expires_at, due, refreshing, refresh_gen. */
int store_vault_conn_poll(store_pool *p, const char *conn_id, int skew_s, store_cb cb, void *ud);
/* Stores a refresh's result and releases the claim. refresh_sealed NULL
 * keeps the old one (not rotated). Row (none if gone): expires_at. */
int store_vault_refresh_store(store_pool *p, const char *conn_id, const char *access_sealed,
                              const char *expires_in, const char *refresh_sealed,
                              const char *scopes, store_cb cb, void *ud);
/* Releases the claim after a failed refresh; reauth marks the connection.
 * Audits vault.refresh_failed. Row: count. */
int store_vault_refresh_failed(store_pool *p, const char *conn_id, bool reauth, const char *reason,
                               const char *agent_id, const store_actor *who, store_cb cb, void *ud);
/* Records that agent_id fetched from the connection and audits
 * vault.token_fetched. Row: found ("t"/"f"). */
int store_vault_record_fetch(store_pool *p, const char *conn_id, const char *agent_id,
                             bool refreshed, const store_actor *who, store_cb cb, void *ud);

/* ---- connect flow ---- */
/* Row (none if no such provider): authorize_url, client_id, scope (joined),
 * authorize_params, created ("f" when the provider has no client_id). */
int store_vault_state_create(store_pool *p, const char *state_hash, const char *user_id,
                             const char *provider_id, const char *verifier, store_cb cb, void *ud);
/* Single use. Row (none if unknown or not this user's): provider_id,
 * code_verifier, live, token_url, client_id, client_secret_sealed,
 * auth_style, provider_name, scopes (JSON), existing connection id. */
int store_vault_state_consume(store_pool *p, const char *state_hash, const char *user_id,
                              store_cb cb, void *ud);

/* ---- rekey (blocking; `shark vault rekey`, server stopped) ---- */
/* Turns one sealed box into another: gets the box and its associated data,
 * writes the new box to out (size outsz); returns its length or -1. */
typedef long (*store_reseal_fn)(void *ud, const uint8_t *box, size_t n, const char *ad,
                                uint8_t *out, size_t outsz);
/* Re-seals every sealed column (signing keys, webhook secrets, vault
 * provider secrets and connection tokens) in one transaction. Returns the
 * number of values re-sealed, or -1 with a message in err (nothing
 * changed). */
long store_vault_rekey(const char *conninfo, store_reseal_fn fn, void *ud, char *err,
                       size_t errlen);

#endif
