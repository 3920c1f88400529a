#include "oidc.h"

static store_stmt client_oidc = {
    "client_oidc",
    "SELECT coalesce(metadata->'post_logout_redirect_uris', '[]'::jsonb)::text, jwks::text "
    "FROM oauth_clients WHERE client_id = $1 AND status = 'active'",
    1, 0};

int store_client_oidc(store_pool *p, const char *client_id, store_cb cb, void *ud)
{
    const char *params[] = {client_id};
    return store_exec(p, &client_oidc, params, cb, ud);
}
