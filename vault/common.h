/*
 * vault/common: what the vault's route files share: sealing and opening
 * secrets for one row, request-memory helpers that wipe themselves, and the
 * calls to a provider's token endpoint (through the outbound service).
 * Internal to vault/.
 */
#ifndef SHARK_VAULT_COMMON_H
#define SHARK_VAULT_COMMON_H

#include <stdbool.h>

#include "../admin/admin.h"
#include "../core/fetch.h"
#include "../core/http.h"
#include "../core/router.h"
#include "../store/vault.h"

#define SEAL_VERSION 1
#define POLL_MS 100 /* a fetch waiting for another's refresh re-reads the row this often */
#define WAIT_MAX_MS 10000
#define VAULT_SCOPE "vault:read"
#define CALLBACK_PATH "/api/v1/vault/callback"

/* A fresh id "<prefix><base62 of 16 random bytes>" in request memory. */
char *vault_new_id(http_req *req, const char *prefix);
/* arena cleanup: zeroes a NUL-terminated string. */
void vault_wipe(void *p);
/* Request memory wiped when the request ends: for anything holding a secret. */
__attribute__((format(printf, 2, 3))) char *vault_secret_printf(http_req *req, const char *fmt,
                                                                ...);
/* Seals text for one row (AD ad); base64 of the box, NULL on failure. */
const char *vault_seal_text(http_req *req, const char *text, const char *ad);
/* Opens what vault_seal_text made; NULL when absent or when it does not
 * open (another row's ciphertext, another master key). */
const char *vault_open_text(http_req *req, const char *b64, const char *ad);
/* The AD of a connection's tokens: "<connection id>|<provider id>". */
const char *vault_conn_ad(http_req *req, const char *conn_id, const char *provider_id);
/* RFC 3986 percent-encoding of all but unreserved characters (wiped). */
char *vault_pct(http_req *req, const char *s);

/* A scope a provider template or connection may name. */
bool vault_scope_ok(const char *s);

/* The token endpoint of one provider and how to authenticate to it. */
typedef struct provider_call {
    const char *token_url, *client_id, *client_secret; /* secret NULL: a public client */
    bool basic;
} provider_call;
/* Opens the provider's client secret (AD = provider id). Returns -1 when a
 * stored secret does not open. */
int vault_provider_call_init(http_req *req, provider_call *pc, const char *provider_id,
                             const char *token_url, const char *client_id,
                             const char *secret_sealed, const char *auth_style);
/* POSTs form `params` (already encoded) to url with the client's
 * authentication, answered on the request's loop. */
int vault_provider_post(http_req *req, const provider_call *pc, const char *url, const char *params,
                        fetch_cb cb, void *ud);

/* A token endpoint's answer, read into request memory. */
typedef struct grant {
    const char *access, *refresh, *expires_in, *scopes, *error;
} grant;
enum outcome { GRANT_OK, GRANT_REAUTH, GRANT_OUTAGE, GRANT_REFUSED };
/* An error code meaning the user must connect again. */
bool vault_reauth_error(const char *e);
/* Granted scopes as a JSON array (space- or comma-separated in answers). */
const char *vault_scope_array(http_req *req, const char *s);
enum outcome vault_read_grant(http_req *req, const fetch_response *res, grant *g);

/* A new connection's tokens are sealed with its id, so the id comes first:
 * an existing connection of the user to the provider keeps its own. */
typedef struct conn_new {
    http_req *req;
    store_vault_conn_in in;
    const char *access, *refresh; /* plaintext, request memory (wiped) */
    int status;                   /* answer on success */
    const char *provider_name;    /* connect flow: for the page */
    bool page;
} conn_new;
/* Seals and stores, then answers (JSON, or the connect flow's page);
 * `existing` is the user's current connection id to the provider, if any. */
void vault_conn_store(conn_new *c, const char *existing);

/* Route registration of each file, in the order vault_register needs. */
int vault_providers_register(router *r);
int vault_connections_register(router *r);
int vault_connect_register(router *r);
int vault_token_register(router *r);

#endif
