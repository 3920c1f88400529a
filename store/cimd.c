#include "cimd.h"

#include <stdio.h>

static store_stmt cimd_state = {
    "cimd_state",
    "SELECT coalesce((SELECT kind = 'cimd' AND metadata_expires_at > now() FROM oauth_clients "
    "  WHERE client_id = $1), false)::text AS fresh, coalesce((SELECT kind <> 'cimd' FROM "
    "  oauth_clients WHERE client_id = $1), false)::text AS other",
    1, 0};

int store_cimd_state(store_pool *p, const char *client_id, store_cb cb, void *ud)
{
    const char *params[] = {client_id};
    return store_exec(p, &cimd_state, params, cb, ud);
}

static store_stmt cimd_save = {
    "cimd_save",
    "INSERT INTO oauth_clients (client_id, kind, name, auth_method, grant_types, "
    "  response_types, redirect_uris, scopes, jwks, metadata_expires_at) VALUES ($1, 'cimd', "
    "  coalesce($2, ''), $3, ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), '{code}', "
    "  ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), "
    "  coalesce(regexp_split_to_array(nullif($6, ''), ' '), '{}'), $7::jsonb, "
    "  now() + $8::int * interval '1 second') "
    "ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, "
    "  auth_method = excluded.auth_method, grant_types = excluded.grant_types, "
    "  redirect_uris = excluded.redirect_uris, scopes = excluded.scopes, jwks = excluded.jwks, "
    "  metadata_expires_at = excluded.metadata_expires_at, updated_at = now() "
    "  WHERE oauth_clients.kind = 'cimd'",
    8, 0};

int store_cimd_save(store_pool *p, const store_cimd *c, store_cb cb, void *ud)
{
    char age[16];
    snprintf(age, sizeof(age), "%d", c->max_age_s);
    const char *params[] = {c->client_id,     c->name,  c->auth_method, c->grant_types,
                            c->redirect_uris, c->scope, c->jwks,        age};
    return store_exec(p, &cimd_save, params, cb, ud);
}
