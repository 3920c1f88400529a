/* /api/v1/admin/dcr/initial-access-tokens: the operator issues initial
 * access tokens (RFC 7591 §3) with the scopes, grant types and resources a
 * client registered with one may take, how many registrations it allows and
 * for how long; lists them (never the token) and revokes them. The token is
 * answered once, on creation; the store keeps its SHA-256 only. */
#include "dcr.h"

#include <stdlib.h>
#include <string.h>

#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../protocol/audience.h"
#include "../protocol/client.h"
#include "../protocol/register_meta.h"
#include "../store/dcr.h"
#include "../store/rows_admin.h"
#include "admin.h"

#define DEFAULT_TTL_S 86400
#define MAX_TTL_S (365 * 86400)
#define MAX_USES 1000000

struct created {
    http_req *req;
    const char *token;
};

static char *random_text(http_req *req, const char *prefix, size_t bytes)
{
    uint8_t raw[32];
    char text[64];
    hash_random(raw, bytes);
    enc_base62(raw, bytes, text, sizeof(text));
    return arena_printf(http_req_arena(req), "%s%s", prefix, text);
}

static bool scope_ok(const char *s)
{
    return oauth_scope_valid(s) && strchr(s, ' ') == NULL;
}

/* An optional whole number member from min to max, else def. */
static int read_int(http_req *req, json_t *b, const char *field, int def, int min, int max,
                    int *out)
{
    json_t *v = json_object_get(b, field);
    if (v == NULL || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        http_error(req, 400, "invalid_request",
                   arena_printf(http_req_arena(req), "%s must be a whole number from %d to %d",
                                field, min, max));
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

static void on_created(void *ud, PGresult *res, int err, const char *msg)
{
    struct created *c = ud;
    (void)msg;
    if (admin_db_error(c->req, err))
        return;
    const char *doc = store_json_doc(res, http_req_arena(c->req));
    json_t *j = doc != NULL ? json_loads(doc, 0, NULL) : NULL;
    if (j == NULL) {
        http_error(c->req, 500, "internal_error", "could not read the stored token");
        return;
    }
    json_object_set_new(j, "token", json_string(c->token));
    http_respond_json(c->req, 201, j);
}

static void token_create(http_req *req)
{
    json_t *b = admin_body(req);
    if (b == NULL)
        return;
    store_dcr_token_in in = {0};
    bool bad = false;
    in.description = admin_string(req, b, "description", 200, &bad);
    in.scopes = admin_string_array(req, json_object_get(b, "scopes"), "scopes", 100, scope_ok,
                                   &bad);
    in.grant_types = admin_string_array(req, json_object_get(b, "grant_types"), "grant_types", 5,
                                        oauth_register_grant_supported, &bad);
    in.resources = admin_string_array(req, json_object_get(b, "resources"), "resources", 50,
                                      oauth_resource_valid, &bad);
    if (bad || read_int(req, b, "max_uses", 1, 1, MAX_USES, &in.max_uses) != 0 ||
        read_int(req, b, "expires_in", DEFAULT_TTL_S, 60, MAX_TTL_S, &in.expires_in_s) != 0)
        return;
    if (in.grant_types != NULL && strcmp(in.grant_types, "[]") == 0) {
        http_error(req, 400, "invalid_request", "grant_types must not be empty");
        return;
    }
    /* Without a list: every grant registration knows, no scope, no resource. */
    if (in.grant_types == NULL)
        in.grant_types = oauth_register_grants_json(http_req_arena(req));
    in.description = in.description != NULL ? in.description : "";
    in.scopes = in.scopes != NULL ? in.scopes : "[]";
    in.resources = in.resources != NULL ? in.resources : "[]";
    struct created *c = arena_calloc(http_req_arena(req), sizeof(*c));
    c->req = req;
    c->token = random_text(req, "iat_", 32);
    char *hash = arena_alloc(http_req_arena(req), 65);
    hash_sha256_hex(c->token, strlen(c->token), hash);
    in.token_hash = hash;
    in.id = random_text(req, "dcrt_", 16);
    store_actor who = admin_actor(req);
    if (store_dcr_token_create(http_req_pool(req), &in, &who, on_created, c) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void token_list(http_req *req)
{
    admin_listing *p = admin_listing_new(req);
    if (p == NULL)
        return;
    if (store_dcr_token_list(admin_read_pool(req), &p->q, admin_on_listing, p) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_revoked(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    if (!store_dcr_token_found(res))
        http_error(req, 404, "not_found", "no such initial access token");
    else
        http_respond(req, 204, NULL, NULL, 0);
}

static void token_revoke(http_req *req)
{
    store_actor who = admin_actor(req);
    if (store_dcr_token_revoke(http_req_pool(req), http_req_param(req, "id"), &who, on_revoked,
                               req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static const admin_route routes[] = {
    {"POST", "/api/v1/admin/dcr/initial-access-tokens", token_create},
    {"GET", "/api/v1/admin/dcr/initial-access-tokens", token_list},
    {"DELETE", "/api/v1/admin/dcr/initial-access-tokens/{id}", token_revoke},
};

int admin_dcr_register(router *r)
{
    return admin_routes_add(r, routes, sizeof(routes) / sizeof(routes[0]));
}
