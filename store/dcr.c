#include "dcr.h"

#include <stdio.h>

#define TEXT_ARRAY(p) "ARRAY(SELECT jsonb_array_elements_text(" p "::jsonb))"

static store_stmt token_create = {
    "dcr_token_create",
    "WITH t AS (INSERT INTO dcr_initial_tokens (id, token_hash, description, scopes, "
    "  grant_types, resources, max_uses, expires_at) VALUES ($1, $2, $3, " TEXT_ARRAY("$4") ", " TEXT_ARRAY("$5") ", " TEXT_ARRAY("$6") ", $7::int, now() + $8::int * interval '1 second') "
                                    "  RETURNING *), "
                                    "ev AS (INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "
                                    "  request_id, client_ip) SELECT shark_id('audit_'), 'admin.dcr_token_created', 'admin', "
                                    "  'admin', t.id, jsonb_build_object('scopes', to_jsonb(t.scopes), 'grant_types', "
                                    "  to_jsonb(t.grant_types), 'resources', to_jsonb(t.resources), 'max_uses', t.max_uses, "
                                    "  'expires_at', t.expires_at), $9, $10 FROM t) "
                                    "SELECT shark_dcr_token_json(t)::text AS token FROM t",
                              10, 0};

int store_dcr_token_create(store_pool *p, const store_dcr_token_in *in, const store_actor *who,
                           store_cb cb, void *ud)
{
    char uses[16], ttl[16];
    snprintf(uses, sizeof(uses), "%d", in->max_uses);
    snprintf(ttl, sizeof(ttl), "%d", in->expires_in_s);
    const char *params[] = {
        in->id, in->token_hash,  in->description, in->scopes, in->grant_types, in->resources, uses,
        ttl,    who->request_id, who->client_ip};
    return store_exec(p, &token_create, params, cb, ud);
}

static store_stmt token_list = {"dcr_token_list",
                                STORE_PAGE("shark_dcr_token_json(t)", "dcr_initial_tokens", "t",
                                           "true", "t.created_at", "t.id", ""),
                                5, 0};

int store_dcr_token_list(store_pool *p, const store_page_q *q, store_cb cb, void *ud)
{
    store_page_args a;
    store_page_bind(q, &a);
    return store_exec(p, &token_list, a.v, cb, ud);
}

static store_stmt token_revoke = {
    "dcr_token_revoke",
    "WITH r AS (UPDATE dcr_initial_tokens SET revoked_at = now() WHERE id = $1 "
    "  AND revoked_at IS NULL RETURNING id), "
    "ev AS (INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "
    "  request_id, client_ip) SELECT shark_id('audit_'), 'admin.dcr_token_revoked', 'admin', "
    "  'admin', r.id, '{}'::jsonb, $2, $3 FROM r) "
    "SELECT EXISTS (SELECT 1 FROM dcr_initial_tokens WHERE id = $1)::text AS found",
    3, 0};

int store_dcr_token_revoke(store_pool *p, const char *id, const store_actor *who, store_cb cb,
                           void *ud)
{
    const char *params[] = {id, who->request_id, who->client_ip};
    return store_exec(p, &token_revoke, params, cb, ud);
}

static store_stmt token_find = {
    "dcr_token_find",
    "SELECT id, array_to_string(scopes, ' '), array_to_string(grant_types, ' '), "
    "  array_to_string(resources, ' ') FROM dcr_initial_tokens WHERE token_hash = $1 "
    "  AND uses < max_uses AND expires_at > now() AND revoked_at IS NULL",
    1, 0};

int store_dcr_token_find(store_pool *p, const char *token_hash, store_cb cb, void *ud)
{
    const char *params[] = {token_hash};
    return store_exec(p, &token_find, params, cb, ud);
}
