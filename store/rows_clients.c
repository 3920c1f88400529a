/* Typed client rows (see rows_clients.h), in the column orders of the
 * statements in oauth.c (client_get), clients.c (STORE_CLIENT_*) and dcr.c. */
#include "rows_clients.h"
#include "clients.h"
#include "rows_read.h"

enum {
    CE_ID,
    CE_KIND,
    CE_NAME,
    CE_SECRET,
    CE_PREV,
    CE_PREV_VALID,
    CE_AUTH,
    CE_GRANTS,
    CE_REDIRECTS,
    CE_SCOPES,
    CE_JWKS,
    CE_JKT,
    CE_STATUS,
    CE_CREATED_BY,
    CE_PREV_UNTIL,
    CE_RESOURCES,
    CE_REGISTERED_BY,
    CE_RESOURCE_SERVER,
    CE_ID_TOKEN_ALG
};

bool store_client_entry_row_read(const PGresult *res, arena *a, store_client_entry_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->client_id = rows_text(res, 0, CE_ID, a);
    out->kind = rows_text(res, 0, CE_KIND, a);
    out->name = rows_text(res, 0, CE_NAME, a);
    out->secret_hash = rows_text(res, 0, CE_SECRET, a);
    out->prev_secret_hash = rows_text(res, 0, CE_PREV, a);
    out->auth_method = rows_text(res, 0, CE_AUTH, a);
    out->grant_types = rows_text(res, 0, CE_GRANTS, a);
    out->redirect_uris = rows_text(res, 0, CE_REDIRECTS, a);
    out->scopes = rows_text(res, 0, CE_SCOPES, a);
    out->jwks = rows_text(res, 0, CE_JWKS, a);
    out->dpop_jkt = rows_text(res, 0, CE_JKT, a);
    out->status = rows_text(res, 0, CE_STATUS, a);
    out->created_by = rows_text(res, 0, CE_CREATED_BY, a);
    out->prev_until = rows_int(res, 0, CE_PREV_UNTIL);
    out->resources = rows_text(res, 0, CE_RESOURCES, a);
    out->registered_by = rows_text(res, 0, CE_REGISTERED_BY, a);
    out->resource_server = rows_flag(res, 0, CE_RESOURCE_SERVER);
    out->id_token_alg = rows_text(res, 0, CE_ID_TOKEN_ALG, a);
    return true;
}

bool store_client_reg_row_read(const PGresult *res, arena *a, store_client_reg_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->client_id = rows_text0(res, 0, STORE_CLIENT_ID, a);
    out->kind = rows_text0(res, 0, STORE_CLIENT_KIND, a);
    out->status = rows_text0(res, 0, STORE_CLIENT_STATUS, a);
    out->token_hash = rows_text(res, 0, STORE_CLIENT_TOKEN_HASH, a);
    out->secret_hash = rows_text(res, 0, STORE_CLIENT_SECRET_HASH, a);
    out->auth_method = rows_text0(res, 0, STORE_CLIENT_AUTH_METHOD, a);
    out->name = rows_text0(res, 0, STORE_CLIENT_NAME, a);
    out->grant_types = rows_text0(res, 0, STORE_CLIENT_GRANT_TYPES, a);
    out->response_types = rows_text0(res, 0, STORE_CLIENT_RESPONSE_TYPES, a);
    out->redirect_uris = rows_text0(res, 0, STORE_CLIENT_REDIRECT_URIS, a);
    out->resources = rows_text0(res, 0, STORE_CLIENT_RESOURCES, a);
    out->scope = rows_text0(res, 0, STORE_CLIENT_SCOPE, a);
    out->jwks = rows_text(res, 0, STORE_CLIENT_JWKS, a);
    out->metadata = rows_text0(res, 0, STORE_CLIENT_METADATA, a);
    out->issued_at = rows_int(res, 0, STORE_CLIENT_ISSUED_AT);
    out->registered_by = rows_text(res, 0, STORE_CLIENT_REGISTERED_BY, a);
    out->bound_scopes = rows_text0(res, 0, STORE_CLIENT_BOUND_SCOPES, a);
    out->bound_grants = rows_text0(res, 0, STORE_CLIENT_BOUND_GRANTS, a);
    out->bound_resources = rows_text0(res, 0, STORE_CLIENT_BOUND_RESOURCES, a);
    return true;
}

bool store_client_disabled(const PGresult *res)
{
    return rows_first_int(res) == 1;
}

enum { DT_ID, DT_SCOPES, DT_GRANTS, DT_RESOURCES };

bool store_dcr_bound_row_read(const PGresult *res, arena *a, store_dcr_bound_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->id = rows_text0(res, 0, DT_ID, a);
    out->scopes = rows_text0(res, 0, DT_SCOPES, a);
    out->grant_types = rows_text0(res, 0, DT_GRANTS, a);
    out->resources = rows_text0(res, 0, DT_RESOURCES, a);
    return true;
}
