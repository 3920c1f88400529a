/* Typed rows for protocol/ (see rows_oauth.h). The column orders are those
 * the statements in auth.c, device.c, oidc.c, cimd.c, oauth.c and system.c
 * select. */
#include "rows_oauth.h"
#include "rows_read.h"

enum { AR_CLIENT, AR_PARAMS, AR_PUSHED };
enum { RI_ACTIVE, RI_CLIENT, RI_SUBJECT, RI_SCOPE, RI_EXP, RI_IAT, RI_AUDIENCE };
enum { DL_THROTTLED, DL_FOUND, DL_CLIENT, DL_NAME, DL_SCOPE };
enum { DD_THROTTLED, DD_DECIDED };
enum { OIDC_LOGOUT_URIS, OIDC_JWKS };
enum { CS_FRESH, CS_OTHER };

bool store_authreq_row_read(const PGresult *res, arena *a, store_authreq_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->client_id = rows_text(res, 0, AR_CLIENT, a);
    out->params = rows_text(res, 0, AR_PARAMS, a);
    out->pushed = rows_flag(res, 0, AR_PUSHED);
    return true;
}

bool store_authreq_consumed(const PGresult *res)
{
    return rows_first_int(res) != 0;
}

bool store_authreq_merged(const PGresult *res)
{
    return rows_first_int(res) != 0;
}

const char *store_consent_scopes(const PGresult *res, arena *a)
{
    return PQntuples(res) == 1 ? rows_text(res, 0, 0, a) : NULL;
}

bool store_refresh_info_row_read(const PGresult *res, arena *a, store_refresh_info_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->active = rows_flag(res, 0, RI_ACTIVE);
    out->client_id = rows_text0(res, 0, RI_CLIENT, a);
    out->subject = rows_text0(res, 0, RI_SUBJECT, a);
    out->scope = rows_text0(res, 0, RI_SCOPE, a);
    out->exp = rows_int(res, 0, RI_EXP);
    out->iat = rows_int(res, 0, RI_IAT);
    out->audience = rows_text(res, 0, RI_AUDIENCE, a);
    return true;
}

bool store_device_lookup_row_read(const PGresult *res, arena *a, store_device_lookup_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->throttled = rows_flag(res, 0, DL_THROTTLED);
    out->found = rows_flag(res, 0, DL_FOUND);
    out->client_id = rows_text0(res, 0, DL_CLIENT, a);
    out->client_name = rows_text0(res, 0, DL_NAME, a);
    out->scope = rows_text0(res, 0, DL_SCOPE, a);
    return true;
}

bool store_device_decision_row_read(const PGresult *res, store_device_decision_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->throttled = rows_flag(res, 0, DD_THROTTLED);
    out->decided = rows_int(res, 0, DD_DECIDED);
    return true;
}

bool store_client_oidc_row_read(const PGresult *res, arena *a, store_client_oidc_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->post_logout_redirect_uris = rows_text0(res, 0, OIDC_LOGOUT_URIS, a);
    out->jwks = rows_text(res, 0, OIDC_JWKS, a);
    return true;
}

bool store_cimd_state_row_read(const PGresult *res, store_cimd_state_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->fresh = rows_flag(res, 0, CS_FRESH);
    out->other = rows_flag(res, 0, CS_OTHER);
    return true;
}

const char *store_user_claims_json(const PGresult *res, arena *a)
{
    return PQntuples(res) == 1 ? rows_text(res, 0, 0, a) : NULL;
}

bool store_replay_fresh(const PGresult *res)
{
    return rows_first_int(res) == 1;
}

bool store_token_live(const PGresult *res)
{
    return rows_first_flag(res);
}

bool store_admin_key_valid(const PGresult *res)
{
    return PQntuples(res) == 1;
}

int64_t store_purged_count(const PGresult *res)
{
    return rows_first_int(res);
}
