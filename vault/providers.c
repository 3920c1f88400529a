/* Provider templates: admin CRUD under /api/v1/vault/providers. */
#include "common.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/egress.h"
#include "../store/rows_vault.h"
#include "../store/vault.h"

/* ---------------------------------------------------------- providers */

static const char *const reserved_slugs[] = {"providers", "connections", "connect", "callback"};

static bool slug_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
        return false;
    for (size_t i = 0; i < sizeof(reserved_slugs) / sizeof(reserved_slugs[0]); i++)
        if (strcmp(s, reserved_slugs[i]) == 0)
            return false;
    return true;
}

/* A provider URL passes the outbound policy (a literal private address
 * needs --webhook-allowed-hosts) and carries no fragment. */
static bool url_field(http_req *req, json_t *b, const char *field, const char **out, bool *bad)
{
    const char *v = admin_string(req, b, field, 2000, bad);
    if (*bad || v == NULL)
        return !*bad;
    char err[200];
    if (egress_url_check(http_req_app(req)->cfg.webhook_allowed_hosts, v, err, sizeof(err)) != 0 ||
        strchr(v, '#') != NULL) {
        *bad = true;
        http_error(req, 400, "invalid_request",
                   arena_printf(http_req_arena(req), "%s: %s", field,
                                strchr(v, '#') ? "must not carry a fragment" : err));
        return false;
    }
    *out = v;
    return true;
}

/* Reads the provider members of a create or update body; on error it
 * answered 400. `endpoints` tells whether any endpoint member was given. */
static int read_provider(http_req *req, json_t *b, store_vault_provider_in *in, bool *endpoints)
{
    bool bad = false;
    in->name = admin_string(req, b, "name", 200, &bad);
    url_field(req, b, "authorize_url", &in->authorize_url, &bad);
    url_field(req, b, "token_url", &in->token_url, &bad);
    url_field(req, b, "revoke_url", &in->revoke_url, &bad);
    in->scopes = admin_string_array(req, json_object_get(b, "scopes"), "scopes", 100,
                                    vault_scope_ok, &bad);
    in->scope_separator = admin_string(req, b, "scope_separator", 1, &bad);
    in->authorize_params = admin_string(req, b, "authorize_params", 1000, &bad);
    in->auth_style = admin_string(req, b, "auth_style", 8, &bad);
    in->client_id = admin_string(req, b, "client_id", 500, &bad);
    if (bad)
        return -1;
    const char *secret = admin_string(req, b, "client_secret", 2000, &bad);
    if (bad)
        return -1;
    json_t *rot = json_object_get(b, "rotates_refresh_tokens");
    if ((rot != NULL && !json_is_boolean(rot)) ||
        (in->scope_separator != NULL && strcmp(in->scope_separator, " ") != 0 &&
         strcmp(in->scope_separator, ",") != 0) ||
        (in->auth_style != NULL && strcmp(in->auth_style, "basic") != 0 &&
         strcmp(in->auth_style, "post") != 0) ||
        (in->authorize_params != NULL && strpbrk(in->authorize_params, "#? \"<>") != NULL) ||
        (in->name != NULL && in->name[0] == '\0')) {
        http_error(
            req, 400, "invalid_request",
            "name must not be empty; auth_style is basic or post; scope_separator is ' ' "
            "or ','; rotates_refresh_tokens is a boolean; authorize_params is a query string");
        return -1;
    }
    if (rot != NULL)
        in->rotates = json_is_true(rot) ? "true" : "false";
    if (secret != NULL && in->id != NULL &&
        (in->secret_sealed = vault_seal_text(req, secret, in->id)) == NULL) {
        http_error(req, 500, "internal_error", "cannot seal the client secret");
        return -1;
    }
    *endpoints = in->authorize_url != NULL || in->token_url != NULL || in->revoke_url != NULL ||
                 in->auth_style != NULL;
    return 0;
}

/* items repeats data for clients of the answer before the listing
 * contract. */
static void provider_list(http_req *req)
{
    admin_listing *p = admin_listing_new(req);
    if (p == NULL)
        return;
    p->items = true;
    if (store_vault_provider_list(http_req_pool(req), &p->q, admin_on_listing, p) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_provider(void *ud, PGresult *res, int err, const char *msg)
{
    (void)msg;
    admin_respond_row(ud, res, err, 200, "provider");
}

static void provider_get(http_req *req)
{
    if (store_vault_provider_get(http_req_pool(req), http_req_param(req, "id"), on_provider, req) !=
        0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_provider_created(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (err == STORE_ECONFLICT) {
        http_error(req, 409, "conflict", "a provider with this id exists");
        return;
    }
    admin_respond_row(req, res, err, 201, "provider");
}

static void provider_create(http_req *req)
{
    json_t *b = admin_body(req);
    if (b == NULL)
        return;
    store_vault_provider_in in = {0};
    bool bad = false, endpoints;
    in.id = admin_string(req, b, "id", 64, &bad);
    if (!bad && in.id == NULL)
        in.id = admin_string(req, b, "slug", 64, &bad);
    if (bad)
        return;
    if (in.id == NULL || !slug_ok(in.id)) {
        http_error(req, 400, "invalid_request",
                   "id must be 1-64 of a-z 0-9 _ - (and not providers, connections, connect or "
                   "callback)");
        return;
    }
    if (read_provider(req, b, &in, &endpoints) != 0)
        return;
    if (in.name == NULL || in.authorize_url == NULL || in.token_url == NULL) {
        http_error(req, 400, "invalid_request", "name, authorize_url and token_url are required");
        return;
    }
    store_actor who = admin_actor(req);
    if (store_vault_provider_create(http_req_pool(req), &in, &who, on_provider_created, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_provider_updated(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    store_vault_provider_update_row r;
    store_vault_provider_update_row_read(res, http_req_arena(req), &r);
    if (!r.found) {
        http_error(req, 404, "not_found", "no such provider");
        return;
    }
    if (!r.allowed) {
        http_error(req, 400, "invalid_request",
                   "a built-in provider's endpoints are fixed; set client_id, client_secret, "
                   "scopes, name or authorize_params");
        return;
    }
    admin_respond_text(req, 200, r.provider);
}

static void provider_update(http_req *req)
{
    json_t *b = admin_body(req);
    if (b == NULL)
        return;
    store_vault_provider_in in = {.id = http_req_param(req, "id")};
    bool endpoints;
    if (in.id == NULL || read_provider(req, b, &in, &endpoints) != 0)
        return;
    store_actor who = admin_actor(req);
    if (store_vault_provider_update(http_req_pool(req), &in, endpoints, &who, on_provider_updated,
                                    req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_provider_deleted(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    store_vault_provider_delete_row r;
    store_vault_provider_delete_row_read(res, &r);
    if (!r.found)
        http_error(req, 404, "not_found", "no such provider");
    else if (r.builtin)
        http_error(req, 400, "invalid_request", "built-in providers cannot be deleted");
    else if (!r.deleted)
        http_error(req, 409, "conflict",
                   arena_printf(http_req_arena(req),
                                "the provider has %lld connections; disconnect them first",
                                (long long)r.connections));
    else
        http_respond(req, 204, NULL, NULL, 0);
}

static void provider_delete(http_req *req)
{
    store_actor who = admin_actor(req);
    if (store_vault_provider_delete(http_req_pool(req), http_req_param(req, "id"), &who,
                                    on_provider_deleted, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static const admin_route routes[] = {
    {"GET", "/api/v1/vault/providers", provider_list},
    {"POST", "/api/v1/vault/providers", provider_create},
    {"GET", "/api/v1/vault/providers/{id}", provider_get},
    {"PATCH", "/api/v1/vault/providers/{id}", provider_update},
    {"DELETE", "/api/v1/vault/providers/{id}", provider_delete},
};

int vault_providers_register(router *r)
{
    return admin_routes_add(r, routes, sizeof(routes) / sizeof(routes[0]));
}
