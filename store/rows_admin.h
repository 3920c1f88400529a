/*
 * store/rows_admin: typed rows of the admin API (admin/, and the vault's
 * admin routes). Most admin statements answer with API JSON built in SQL:
 * store_json_doc reads that one document, store_row_count says whether
 * there was a row at all ("none if unknown"). The other answers have the
 * readers below, each naming the statements it reads. Strings are copied
 * into the arena given, NULL for SQL NULL unless said; a row reader
 * returns false when the result has no row (its out is then zeroed).
 */
#ifndef SHARK_STORE_ROWS_ADMIN_H
#define SHARK_STORE_ROWS_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/arena.h"
#include "store.h"

/* How many rows a result has (0: the statement found nothing). */
int store_row_count(const PGresult *res);

/* The JSON document of a statement documented as "Row: <thing> (JSON)":
 * NULL when there is no row or the document is SQL NULL. */
const char *store_json_doc(const PGresult *res, arena *a);

/* The answers that are one count (0 without a row): store_agent_revoke_all
 * (revoked_count), store_user_delete (deleted), store_consent_revoke
 * (revoked), store_session_end and store_session_end_public (ended). */
int64_t store_count_read(const PGresult *res);

/* The answers that are a flag and a JSON document: store_agent_update
 * (scopes_ok, agent), store_hook_test (enabled, delivery; NULL when
 * disabled), store_hook_redeliver (sending, delivery). */
typedef struct store_flag_doc_row {
    bool flag;
    const char *doc;
} store_flag_doc_row;
bool store_flag_doc_row_read(const PGresult *res, arena *a, store_flag_doc_row *out);

/* store_agent_rotate_secret, store_hook_rotate: when it rotated (NULL
 * without a row). */
const char *store_rotated_at(const PGresult *res, arena *a);

/* store_app_delete */
typedef struct store_app_delete_row {
    bool found, deleted;
    int64_t agents; /* that hold it back without cascade */
} store_app_delete_row;
bool store_app_delete_row_read(const PGresult *res, store_app_delete_row *out);

/* store_agent_create */
typedef struct store_agent_create_row {
    bool app_found, user_found, scopes_ok;
    const char *agent; /* JSON, NULL unless created */
} store_agent_create_row;
bool store_agent_create_row_read(const PGresult *res, arena *a, store_agent_create_row *out);

/* store_agent_rotate_dpop */
typedef struct store_dpop_rotation_row {
    const char *old_jkt; /* "" for none */
    int64_t revoked_token_count;
    const char *audit_event_id; /* "" on a dry run */
} store_dpop_rotation_row;
bool store_dpop_rotation_row_read(const PGresult *res, arena *a, store_dpop_rotation_row *out);

/* store_user_revoke_agents */
typedef struct store_user_revoke_row {
    bool found;
    const char *refused; /* JSON array text of the ids refused ("[]": none) */
    const char *body;    /* JSON */
} store_user_revoke_row;
bool store_user_revoke_row_read(const PGresult *res, arena *a, store_user_revoke_row *out);

/* store_revoke_candidates: the client ids, row i of store_row_count. */
const char *store_revoke_candidate(const PGresult *res, int i, arena *a);

/* store_revoke_clients */
typedef struct store_pattern_revoke_row {
    int64_t revoked_count, matched_client_count;
    const char *audit_event_id; /* "" on a dry run */
} store_pattern_revoke_row;
bool store_pattern_revoke_row_read(const PGresult *res, arena *a, store_pattern_revoke_row *out);

/* store_admin_session_open: the new session's expiry (ISO-8601 UTC), NULL
 * when the key did not check out. */
const char *store_admin_session_expiry(const PGresult *res, arena *a);

/* store_admin_session_check: a live session. */
typedef struct store_admin_session_row {
    const char *id, *key_id, *expires_at;
} store_admin_session_row;
bool store_admin_session_row_read(const PGresult *res, arena *a, store_admin_session_row *out);

/* store_system_schema_version: the highest migration applied, -1 for none. */
int store_schema_version_read(const PGresult *res);
/* store_system_bootstrapped */
bool store_bootstrapped_read(const PGresult *res);
/* store_dcr_token_revoke: the token exists. */
bool store_dcr_token_found(const PGresult *res);

#endif
