/* Typed admin rows (see rows_admin.h), in the column orders of the
 * statements in agents.c, users.c, webhooks.c, revoke.c, admin_session.c,
 * system.c and dcr.c. */
#include "rows_admin.h"
#include "rows_read.h"

enum { FD_FLAG, FD_DOC };
enum { AD_FOUND, AD_AGENTS, AD_DELETED };
enum { AC_APP, AC_USER, AC_SCOPES, AC_AGENT };
enum { DR_OLD_JKT, DR_REVOKED, DR_AUDIT };
enum { UR_FOUND, UR_REFUSED, UR_BODY };
enum { PR_REVOKED, PR_AUDIT, PR_MATCHED };
enum { AS_ID, AS_KEY, AS_EXPIRES };

int store_row_count(const PGresult *res)
{
    return PQntuples(res);
}

const char *store_json_doc(const PGresult *res, arena *a)
{
    return PQntuples(res) > 0 ? rows_text(res, 0, 0, a) : NULL;
}

int64_t store_count_read(const PGresult *res)
{
    return rows_first_int(res);
}

bool store_flag_doc_row_read(const PGresult *res, arena *a, store_flag_doc_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->flag = rows_flag(res, 0, FD_FLAG);
    out->doc = rows_text(res, 0, FD_DOC, a);
    return true;
}

const char *store_rotated_at(const PGresult *res, arena *a)
{
    return PQntuples(res) == 1 ? rows_text(res, 0, 0, a) : NULL;
}

bool store_app_delete_row_read(const PGresult *res, store_app_delete_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->found = rows_flag(res, 0, AD_FOUND);
    out->agents = rows_int(res, 0, AD_AGENTS);
    out->deleted = rows_flag(res, 0, AD_DELETED);
    return true;
}

bool store_agent_create_row_read(const PGresult *res, arena *a, store_agent_create_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->app_found = rows_flag(res, 0, AC_APP);
    out->user_found = rows_flag(res, 0, AC_USER);
    out->scopes_ok = rows_flag(res, 0, AC_SCOPES);
    out->agent = rows_text(res, 0, AC_AGENT, a);
    return true;
}

bool store_dpop_rotation_row_read(const PGresult *res, arena *a, store_dpop_rotation_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->old_jkt = rows_text0(res, 0, DR_OLD_JKT, a);
    out->revoked_token_count = rows_int(res, 0, DR_REVOKED);
    out->audit_event_id = rows_text0(res, 0, DR_AUDIT, a);
    return true;
}

bool store_user_revoke_row_read(const PGresult *res, arena *a, store_user_revoke_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->found = rows_flag(res, 0, UR_FOUND);
    out->refused = rows_text0(res, 0, UR_REFUSED, a);
    out->body = rows_text0(res, 0, UR_BODY, a);
    return true;
}

const char *store_revoke_candidate(const PGresult *res, int i, arena *a)
{
    return rows_text0(res, i, 0, a);
}

bool store_pattern_revoke_row_read(const PGresult *res, arena *a, store_pattern_revoke_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->revoked_count = rows_int(res, 0, PR_REVOKED);
    out->audit_event_id = rows_text0(res, 0, PR_AUDIT, a);
    out->matched_client_count = rows_int(res, 0, PR_MATCHED);
    return true;
}

const char *store_admin_session_expiry(const PGresult *res, arena *a)
{
    return PQntuples(res) == 1 ? rows_text0(res, 0, 0, a) : NULL;
}

bool store_admin_session_row_read(const PGresult *res, arena *a, store_admin_session_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->id = rows_text0(res, 0, AS_ID, a);
    out->key_id = rows_text0(res, 0, AS_KEY, a);
    out->expires_at = rows_text0(res, 0, AS_EXPIRES, a);
    return true;
}

int store_schema_version_read(const PGresult *res)
{
    return PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? atoi(PQgetvalue(res, 0, 0)) : -1;
}

bool store_bootstrapped_read(const PGresult *res)
{
    return PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
}

bool store_dcr_token_found(const PGresult *res)
{
    return rows_first_flag(res);
}
