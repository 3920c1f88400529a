/*
 * store/oauth: signing keys, client lookup, token records, DPoP replay and
 * revocation checks. Every function runs one statement (one round trip);
 * a token's record, its replay entry and its audit event go in together
 * (several tokens' in one statement under load, see store/batch.h).
 */
#ifndef SHARK_STORE_OAUTH_H
#define SHARK_STORE_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* ---- signing keys ---- */

typedef struct store_key_row {
    char id[64], alg[16];
    uint8_t *sealed; /* malloc'd; caller frees */
    size_t sealed_len;
    bool retired;
    bool id_token_only; /* purpose 'id_token': signs id_tokens only (RS256 beside the active) */
    int64_t created_at; /* unix seconds */
} store_key_row;

/* Blocking (start-up): keys still published, newest first. Returns the count
 * (rows malloc'd into *out, free with store_key_rows_free) or -1. */
int store_keys_load(const char *conninfo, store_key_row **out, char *err, size_t errlen);
void store_key_rows_free(store_key_row *rows, int n);
/* Blocking (start-up): stores the first key of a purpose ("tokens" or
 * "id_token"), unless another node stored one meanwhile (then the caller's
 * key is dropped; reload to get theirs). */
int store_key_insert(const char *conninfo, const char *id, const char *alg, const char *purpose,
                     const uint8_t *sealed, size_t n, const char *public_jwk, char *err,
                     size_t errlen);
/* Adds a new signing key of purpose ("tokens" or "id_token") and retires
 * the others of that purpose; they stay published for `publish_s` more
 * seconds. Audit event admin.signing_key_rotated. Row: `id`. */
typedef struct store_key_rotation {
    const char *id, *alg, *public_jwk;
    const uint8_t *sealed;
    size_t sealed_len;
    int publish_s;
    const char *request_id, *client_ip;
    const char *purpose;
} store_key_rotation;
int store_key_rotate(store_pool *p, const store_key_rotation *k, store_cb cb, void *ud);
/* Keys still published, newest first, for nodes refreshing their keyring;
 * turn the result into rows with store_key_rows_parse. */
int store_keys_list(store_pool *p, store_cb cb, void *ud);
/* Rows of a keys result (malloc'd; store_key_rows_free); count or -1. */
int store_key_rows_parse(const PGresult *r, store_key_row **out);

/* ---- clients ---- */

/* Row (none if unknown): client_id, kind, name, secret_hash, prev_secret_hash,
 * prev_secret_valid ('t'/'f'), auth_method, grant_types (JSON array text),
 * redirect_uris (JSON), scopes (space-separated), jwks (JSON or NULL),
 * dpop_jkt, status, created_by, prev_secret_expires (unix seconds or NULL;
 * for caches, which must stop accepting the previous secret on time),
 * resources (space-separated: the client's own and its app's), registered_by
 * (open | admin | an initial access token's id; NULL unless kind dcr),
 * resource_server ('t'/'f'), id_token_signed_response_alg (or NULL). */
int store_client_get(store_pool *p, const char *client_id, store_cb cb, void *ud);

/* ---- tokens ---- */

typedef struct store_token {
    const char *jti, *client_id, *subject, *user_id, *scope, *jkt, *audience;
    const char *act;        /* JSON or NULL */
    const char *parent_jti; /* the subject token of an exchange: revoked with it */
    int64_t parent_exp;     /* its expiry (unix seconds), when parent_jti is set */
    const char *family_id;  /* the refresh-token family it came from: revoked with it */
    int64_t expires_at;     /* unix seconds */
    const char *replay_key; /* DPoP jti record, or NULL */
    int replay_ttl_s;
    /* the audit event that records the issue */
    const char *event; /* oauth.token_issued / oauth.token_exchanged */
    const char *actor_id, *actor_type, *metadata, *request_id, *client_ip;
} store_token;
/* Row: `issued` — 1, or 0 when the replay key was already used (nothing was
 * written then). Tokens issued on one loop while its connections are busy
 * share one statement (store/batch.h): a lost connection fails every token of
 * that batch, a record the database refuses (STORE_EINVALID/ECONFLICT) only
 * its own. Returns 0, or STORE_EUNAVAIL (cb not called). */
int store_token_issue(store_pool *p, const store_token *t, store_cb cb, void *ud);

/* Row: `active` ('t'/'f') — the record exists, is not revoked, no watermark
 * of its client or user covers it, and its client is active. */
int store_token_active(store_pool *p, const char *jti, store_cb cb, void *ud);

/* Revokes one token of client_id (NULL: any client, for the admin key).
 * Row: `revoked` count; audit oauth.token_revoked when one was. */
int store_token_revoke(store_pool *p, const char *jti, const char *client_id,
                       const char *request_id, const char *client_ip, store_cb cb, void *ud);

/* Records a client-assertion jti (private_key_jwt) until ttl. Row: `fresh`
 * (1, or 0 if seen before). */
int store_replay_record(store_pool *p, const char *key, int ttl_s, store_cb cb, void *ud);

/* Blocking (start-up): partition upkeep, so tokens always have a partition. */
int store_oauth_maintain_sync(const char *conninfo, char *err, size_t errlen);
/* Partition upkeep (shark_maintain_tokens). */
int store_oauth_maintain(store_pool *p, store_cb cb, void *ud);
/* Deletes up to limit expired replay keys and as many expired token counts;
 * the one row, one column result is the larger number that went. */
int store_replay_purge(store_pool *p, int limit, store_cb cb, void *ud);
/* Retention (migrations 0027, 0028). Purges up to limit rows of each kind of
 * expired record (codes, PAR requests, device codes, refresh tokens,
 * sessions, throttles) and of finished webhook deliveries older than
 * webhook_days (0 keeps them); the one row, one column result is the largest
 * count of any kind, so a caller repeats while it equals limit. */
int store_retention_purge(store_pool *p, int limit, int webhook_days, store_cb cb, void *ud);
/* Creates the audit log's monthly partitions ahead and drops those entirely
 * older than retention_days (0 keeps them); the result is how many went. */
int store_audit_maintain(store_pool *p, int retention_days, store_cb cb, void *ud);

#endif
