/*
 * store/rows_oauth: typed rows for protocol/ beyond the token path
 * (store/rows.h) and client registration (store/rows_clients.h): the
 * authorization request and consent, introspection, the device page, the
 * OIDC client facts, metadata-document state, replay records and upkeep
 * counts. Each reader takes the result its store function's callback got;
 * strings are copied into the arena given (NULL for SQL NULL unless said),
 * and a row reader returns false when the result has no row.
 */
#ifndef SHARK_STORE_ROWS_OAUTH_H
#define SHARK_STORE_ROWS_OAUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/arena.h"
#include "store.h"

/* store_authreq_get: a live authorization request. */
typedef struct store_authreq_row {
    const char *client_id, *params; /* params: JSON object text */
    bool pushed;                    /* stored through PAR */
} store_authreq_row;
bool store_authreq_row_read(const PGresult *res, arena *a, store_authreq_row *out);

/* store_authreq_consume / store_authreq_merge: whether the request was
 * still live (and is now used / updated). */
bool store_authreq_consumed(const PGresult *res);
bool store_authreq_merged(const PGresult *res);

/* store_consent_get: the scopes of the user's live consent, NULL if none. */
const char *store_consent_scopes(const PGresult *res, arena *a);

/* store_refresh_introspect */
typedef struct store_refresh_info_row {
    bool active;
    const char *client_id, *subject, *scope; /* scope "" for none */
    int64_t exp, iat;
    const char *audience;
} store_refresh_info_row;
bool store_refresh_info_row_read(const PGresult *res, arena *a, store_refresh_info_row *out);

/* store_device_lookup */
typedef struct store_device_lookup_row {
    bool throttled, found;
    const char *client_id, *client_name, *scope; /* "" for none, never NULL */
} store_device_lookup_row;
bool store_device_lookup_row_read(const PGresult *res, arena *a, store_device_lookup_row *out);

/* store_device_decide */
typedef struct store_device_decision_row {
    bool throttled;
    int64_t decided; /* 1 when the pending code was decided */
} store_device_decision_row;
bool store_device_decision_row_read(const PGresult *res, store_device_decision_row *out);

/* store_client_oidc: an active client's OIDC facts. */
typedef struct store_client_oidc_row {
    const char *post_logout_redirect_uris; /* JSON array text, "[]" for none */
    const char *jwks;                      /* JSON text or NULL */
} store_client_oidc_row;
bool store_client_oidc_row_read(const PGresult *res, arena *a, store_client_oidc_row *out);

/* store_cimd_state */
typedef struct store_cimd_state_row {
    bool fresh; /* a cached document that has not expired */
    bool other; /* the id belongs to a client of another kind */
} store_cimd_state_row;
bool store_cimd_state_row_read(const PGresult *res, store_cimd_state_row *out);

/* store_user_claims: the userinfo claims (JSON object text), NULL when the
 * user is gone. */
const char *store_user_claims_json(const PGresult *res, arena *a);

/* store_replay_record: the key was new (false: seen before). */
bool store_replay_fresh(const PGresult *res);
/* store_token_active: the token is live. */
bool store_token_live(const PGresult *res);
/* store_admin_key_check: the key names a live admin key. */
bool store_admin_key_valid(const PGresult *res);
/* store_replay_purge, store_retention_purge, store_audit_maintain: how many
 * went (0 without an answer). */
int64_t store_purged_count(const PGresult *res);

#endif
