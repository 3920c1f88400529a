/* Typed vault rows (see rows_vault.h), in the column orders of vault.c's
 * statements. */
#include "rows_vault.h"
#include "rows_read.h"

enum { VPR_USER, VPR_PROVIDER, VPR_EXISTING };
enum { VPU_FOUND, VPU_ALLOWED, VPU_PROVIDER };
enum { VPD_FOUND, VPD_BUILTIN, VPD_CONNS, VPD_DELETED };
enum {
    VD_ID,
    VD_AGENTS,
    VD_TOKENS,
    VD_AUDIT,
    VD_REVOKE_URL,
    VD_CLIENT,
    VD_SECRET,
    VD_AUTH_STYLE,
    VD_PROVIDER,
    VD_REFRESH,
    VD_ACCESS
};
enum { VS_URL, VS_CLIENT, VS_SCOPE, VS_PARAMS, VS_CREATED };
enum {
    VSC_PROVIDER,
    VSC_VERIFIER,
    VSC_LIVE,
    VSC_TOKEN_URL,
    VSC_CLIENT,
    VSC_SECRET,
    VSC_AUTH_STYLE,
    VSC_NAME,
    VSC_SCOPES,
    VSC_EXISTING
};

bool store_vault_prepare_row_read(const PGresult *res, arena *a, store_vault_prepare_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->user_found = rows_flag(res, 0, VPR_USER);
    out->provider_found = rows_flag(res, 0, VPR_PROVIDER);
    out->existing = rows_text(res, 0, VPR_EXISTING, a);
    return true;
}

bool store_vault_provider_update_row_read(const PGresult *res, arena *a,
                                          store_vault_provider_update_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->found = rows_flag(res, 0, VPU_FOUND);
    out->allowed = rows_flag(res, 0, VPU_ALLOWED);
    out->provider = rows_text(res, 0, VPU_PROVIDER, a);
    return true;
}

bool store_vault_provider_delete_row_read(const PGresult *res, store_vault_provider_delete_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->found = rows_flag(res, 0, VPD_FOUND);
    out->builtin = rows_flag(res, 0, VPD_BUILTIN);
    out->connections = rows_int(res, 0, VPD_CONNS);
    out->deleted = rows_flag(res, 0, VPD_DELETED);
    return true;
}

bool store_vault_disconnect_count_row_read(const PGresult *res, arena *a,
                                           store_vault_disconnect_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->id = rows_text0(res, 0, VD_ID, a);
    out->revoked_agent_ids = rows_text(res, 0, VD_AGENTS, a);
    out->revoked_token_count = rows_int(res, 0, VD_TOKENS);
    return true;
}

bool store_vault_disconnect_row_read(const PGresult *res, arena *a, store_vault_disconnect_row *out)
{
    if (!store_vault_disconnect_count_row_read(res, a, out))
        return false;
    out->audit_event_id = rows_text0(res, 0, VD_AUDIT, a);
    out->revoke_url = rows_text(res, 0, VD_REVOKE_URL, a);
    out->client_id = rows_text(res, 0, VD_CLIENT, a);
    out->client_secret_sealed = rows_text(res, 0, VD_SECRET, a);
    out->auth_style = rows_text(res, 0, VD_AUTH_STYLE, a);
    out->provider_id = rows_text(res, 0, VD_PROVIDER, a);
    out->refresh_sealed = rows_text(res, 0, VD_REFRESH, a);
    out->access_sealed = rows_text(res, 0, VD_ACCESS, a);
    return true;
}

bool store_vault_state_row_read(const PGresult *res, arena *a, store_vault_state_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->authorize_url = rows_text0(res, 0, VS_URL, a);
    out->client_id = rows_text0(res, 0, VS_CLIENT, a);
    out->scope = rows_text0(res, 0, VS_SCOPE, a);
    out->authorize_params = rows_text0(res, 0, VS_PARAMS, a);
    out->created = rows_flag(res, 0, VS_CREATED);
    return true;
}

bool store_vault_consumed_row_read(const PGresult *res, arena *a, store_vault_consumed_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->provider_id = rows_text(res, 0, VSC_PROVIDER, a);
    out->code_verifier = rows_text(res, 0, VSC_VERIFIER, a);
    out->live = rows_flag(res, 0, VSC_LIVE);
    out->token_url = rows_text(res, 0, VSC_TOKEN_URL, a);
    out->client_id = rows_text(res, 0, VSC_CLIENT, a);
    out->client_secret_sealed = rows_text(res, 0, VSC_SECRET, a);
    out->auth_style = rows_text(res, 0, VSC_AUTH_STYLE, a);
    out->provider_name = rows_text(res, 0, VSC_NAME, a);
    out->scopes = rows_text(res, 0, VSC_SCOPES, a);
    out->existing = rows_text(res, 0, VSC_EXISTING, a);
    return true;
}
