/* /api/v1/apps and /api/v1/agents: applications, the agents they own, and
 * the agent-level controls (token listing, Layer 2 revoke-all, secret and
 * DPoP key rotation). */
#include "agents.h"

#include <stdlib.h>
#include <string.h>

#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../crypto/jwk.h"
#include "../protocol/audience.h"
#include "../protocol/client.h"
#include "../store/agents.h"
#include "../store/rows_admin.h"
#include "admin.h"

#define MAX_SCOPES 100

static char *new_id(http_req *req, const char *prefix, int bytes)
{
    uint8_t raw[32];
    char text[64];
    hash_random(raw, (size_t)bytes);
    enc_base62(raw, (size_t)bytes, text, sizeof(text));
    return arena_printf(http_req_arena(req), "%s%s", prefix, text);
}

static bool scope_ok(const char *s)
{
    return oauth_scope_valid(s) && strchr(s, ' ') == NULL;
}

static bool uri_ok(const char *s)
{
    return (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0) && strlen(s) <= 2000 &&
           strchr(s, '#') == NULL;
}

/* ---------------------------------------------------------------- apps */

static void on_app(void *ud, PGresult *res, int err, const char *msg)
{
    (void)msg;
    admin_respond_row(ud, res, err, 200, "app");
}

static void on_app_created(void *ud, PGresult *res, int err, const char *msg)
{
    (void)msg;
    admin_respond_row(ud, res, err, 201, "app");
}

static int read_app(http_req *req, json_t *b, store_app_in *in, bool create)
{
    bool bad = false;
    in->name = admin_string(req, b, "name", 200, &bad);
    in->description = admin_string(req, b, "description", 2000, &bad);
    in->scopes = admin_string_array(req, json_object_get(b, "scopes"), "scopes", MAX_SCOPES,
                                    scope_ok, &bad);
    in->redirect_uris = admin_string_array(req, json_object_get(b, "redirect_uris"),
                                           "redirect_uris", 50, uri_ok, &bad);
    /* What its agents may name as resource / audience (protocol/audience.h). */
    in->resources = admin_string_array(req, json_object_get(b, "resources"), "resources", 50,
                                       oauth_resource_valid, &bad);
    if (bad)
        return -1;
    if ((create && in->name == NULL) || (in->name != NULL && in->name[0] == '\0')) {
        http_error(req, 400, "invalid_request", "name is required");
        return -1;
    }
    return 0;
}

static void app_create(http_req *req)
{
    json_t *b = admin_body(req);
    store_app_in in = {0};
    if (b == NULL || read_app(req, b, &in, true) != 0)
        return;
    in.id = new_id(req, "app_", 16);
    store_actor who = admin_actor(req);
    if (store_app_create(http_req_pool(req), &in, &who, on_app_created, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void app_list(http_req *req)
{
    admin_listing *p = admin_listing_new(req);
    if (p == NULL)
        return;
    if (store_app_list(admin_read_pool(req), &p->q, admin_on_listing, p) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void app_get(http_req *req)
{
    if (store_app_get(http_req_pool(req), http_req_param(req, "id"), on_app, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void app_update(http_req *req)
{
    json_t *b = admin_body(req);
    store_app_in in = {0};
    if (b == NULL || read_app(req, b, &in, false) != 0)
        return;
    in.id = http_req_param(req, "id");
    store_actor who = admin_actor(req);
    if (store_app_update(http_req_pool(req), &in, &who, on_app, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_app_deleted(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    /* An agent created for the app while the delete waited for its lock is
     * not in the statement's snapshot; its foreign key stops the delete. */
    if (err == STORE_EINVALID) {
        http_error(req, 409, "conflict", "agents were added to the app during the delete; retry");
        return;
    }
    if (admin_db_error(req, err))
        return;
    store_app_delete_row r;
    store_app_delete_row_read(res, &r);
    if (!r.found) {
        http_error(req, 404, "not_found", "no such app");
        return;
    }
    if (!r.deleted) {
        http_error(req, 409, "conflict",
                   arena_printf(http_req_arena(req),
                                "the app has %lld agents; delete with ?cascade=true to disable and "
                                "revoke them",
                                (long long)r.agents));
        return;
    }
    http_respond(req, 204, NULL, NULL, 0);
}

static void app_delete(http_req *req)
{
    const char *cascade = http_req_query_get(req, "cascade");
    if (cascade != NULL && strcmp(cascade, "true") != 0 && strcmp(cascade, "false") != 0) {
        http_error(req, 400, "invalid_request", "cascade must be true or false");
        return;
    }
    store_actor who = admin_actor(req);
    if (store_app_delete(http_req_pool(req), http_req_param(req, "id"),
                         cascade != NULL && strcmp(cascade, "true") == 0, &who, on_app_deleted,
                         req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* -------------------------------------------------------------- agents */

struct agent_req {
    http_req *req;
    const char *secret;
    const char *new_jkt;
    bool dry; /* ?dry_run=true: counts only */
};

static bool id_char_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

static bool grant_ok(const char *g)
{
    return strcmp(g, "client_credentials") == 0 ||
           strcmp(g, "urn:ietf:params:oauth:grant-type:token-exchange") == 0;
}

static bool jkt_ok(const char *s)
{
    uint8_t raw[32];
    return strlen(s) == 43 && enc_b64url_decode(s, 43, raw, sizeof(raw)) == 32;
}

/* resource_server: an agent that may introspect any token (RFC 7662 for a
 * resource server); "true"/"false", NULL when absent. */
static const char *read_resource_server(http_req *req, json_t *b, bool *bad)
{
    json_t *v = json_object_get(b, "resource_server");
    if (v == NULL || *bad)
        return NULL;
    if (!json_is_boolean(v)) {
        http_error(req, 400, "invalid_request", "resource_server must be true or false");
        *bad = true;
        return NULL;
    }
    return json_is_true(v) ? "true" : "false";
}

/* The secret is shown once, here: merged into the stored agent's JSON. */
static void on_agent_created(void *ud, PGresult *res, int err, const char *msg)
{
    struct agent_req *a = ud;
    http_req *req = a->req;
    (void)msg;
    if (err == STORE_ECONFLICT) {
        http_error(req, 409, "conflict", "an agent with this id exists");
        return;
    }
    if (admin_db_error(req, err))
        return;
    store_agent_create_row r;
    store_agent_create_row_read(res, http_req_arena(req), &r);
    if (!r.app_found) {
        http_error(req, 404, "not_found", "no such app");
        return;
    }
    if (!r.user_found) {
        http_error(req, 400, "invalid_request", "created_by names no user");
        return;
    }
    if (!r.scopes_ok || r.agent == NULL) {
        http_error(req, 400, "invalid_request", "scopes must be among the app's scopes");
        return;
    }
    json_t *agent = json_loads(r.agent, 0, NULL);
    json_object_set_new(agent, "client_secret", json_string(a->secret));
    http_respond_json(req, 201, agent);
}

static void agent_create(http_req *req)
{
    json_t *b = admin_body(req);
    if (b == NULL)
        return;
    struct agent_req *a = arena_calloc(http_req_arena(req), sizeof(*a));
    a->req = req;
    store_agent_in in = {0};
    bool bad = false;
    in.app_id = admin_string(req, b, "app_id", 100, &bad);
    in.name = admin_string(req, b, "name", 200, &bad);
    in.description = admin_string(req, b, "description", 2000, &bad);
    in.created_by = admin_string(req, b, "created_by", 100, &bad);
    in.dpop_jkt = admin_string(req, b, "dpop_jkt", 43, &bad);
    in.id = admin_string(req, b, "client_id", 100, &bad);
    in.scopes = admin_string_array(req, json_object_get(b, "scopes"), "scopes", MAX_SCOPES,
                                   scope_ok, &bad);
    in.grant_types = admin_string_array(req, json_object_get(b, "grant_types"), "grant_types", 2,
                                        grant_ok, &bad);
    in.resource_server = read_resource_server(req, b, &bad);
    if (bad)
        return;
    if (in.app_id == NULL || in.name == NULL || in.name[0] == '\0') {
        http_error(req, 400, "invalid_request", "app_id and name are required");
        return;
    }
    if (in.dpop_jkt != NULL && !jkt_ok(in.dpop_jkt)) {
        http_error(req, 400, "invalid_request", "dpop_jkt must be an RFC 7638 SHA-256 thumbprint");
        return;
    }
    /* A caller-chosen id lets fleets share a prefix (revoke-by-pattern). */
    if (in.id != NULL &&
        (strncmp(in.id, "shark_agent_", 12) != 0 || strlen(in.id) < 13 || !id_char_ok(in.id))) {
        http_error(req, 400, "invalid_request",
                   "client_id must start with shark_agent_ and use letters, digits, . _ -");
        return;
    }
    if (in.id == NULL)
        in.id = new_id(req, "shark_agent_", 16);
    if (in.scopes == NULL)
        in.scopes = "[]";
    if (in.grant_types == NULL)
        in.grant_types =
            "[\"client_credentials\",\"urn:ietf:params:oauth:grant-type:token-exchange\"]";
    a->secret = new_id(req, "", 32);
    char hash[65];
    hash_sha256_hex(a->secret, strlen(a->secret), hash);
    in.secret_hash = hash;
    store_actor who = admin_actor(req);
    if (store_agent_create(http_req_pool(req), &in, &who, on_agent_created, a) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void agent_list(http_req *req)
{
    admin_listing *p = admin_listing_new(req);
    if (p == NULL)
        return;
    const char *status = http_req_query_get(req, "status");
    if (status != NULL && strcmp(status, "active") != 0 && strcmp(status, "disabled") != 0) {
        http_error(req, 400, "invalid_request", "status must be active or disabled");
        return;
    }
    if (store_agent_list(admin_read_pool(req), http_req_query_get(req, "app_id"),
                         http_req_query_get(req, "created_by"), status, &p->q, admin_on_listing,
                         p) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_agent(void *ud, PGresult *res, int err, const char *msg)
{
    (void)msg;
    admin_respond_row(ud, res, err, 200, "agent");
}

static void agent_get(http_req *req)
{
    if (store_agent_get(http_req_pool(req), http_req_param(req, "id"), on_agent, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_agent_updated(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (!admin_found(req, res, err, "agent"))
        return;
    store_flag_doc_row r;
    store_flag_doc_row_read(res, http_req_arena(req), &r);
    if (!r.flag) {
        http_error(req, 400, "invalid_request", "scopes must be among the app's scopes");
        return;
    }
    admin_respond_text(req, 200, r.doc);
}

static void agent_update(http_req *req)
{
    json_t *b = admin_body(req);
    if (b == NULL)
        return;
    store_agent_in in = {0};
    bool bad = false;
    in.name = admin_string(req, b, "name", 200, &bad);
    in.description = admin_string(req, b, "description", 2000, &bad);
    in.status = admin_string(req, b, "status", 16, &bad);
    in.scopes = admin_string_array(req, json_object_get(b, "scopes"), "scopes", MAX_SCOPES,
                                   scope_ok, &bad);
    in.resource_server = read_resource_server(req, b, &bad);
    if (bad)
        return;
    if ((in.name != NULL && in.name[0] == '\0') ||
        (in.status != NULL && strcmp(in.status, "active") != 0 &&
         strcmp(in.status, "disabled") != 0)) {
        http_error(req, 400, "invalid_request",
                   "name must not be empty; status is active or disabled");
        return;
    }
    in.id = http_req_param(req, "id");
    store_actor who = admin_actor(req);
    if (store_agent_update(http_req_pool(req), &in, &who, on_agent_updated, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_agent_deleted(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (!admin_found(req, res, err, "agent"))
        return;
    http_respond(req, 204, NULL, NULL, 0);
}

static void agent_delete(http_req *req)
{
    store_actor who = admin_actor(req);
    if (store_agent_delete(http_req_pool(req), http_req_param(req, "id"), &who, on_agent_deleted,
                           req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* Pages by its own keyset (expires_at, jti); the total only when asked
 * (counting a million tokens is what made the first page slow). */
static void agent_tokens(http_req *req)
{
    admin_listing *p = admin_listing_new(req);
    if (p == NULL)
        return;
    p->missing = "no such agent";
    if (store_agent_tokens(http_req_pool(req), http_req_param(req, "id"), &p->q, admin_on_listing,
                           p) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_revoked_all(void *ud, PGresult *res, int err, const char *msg)
{
    struct agent_req *a = ud;
    http_req *req = a->req;
    (void)msg;
    if (!admin_found(req, res, err, "agent"))
        return;
    json_t *out = json_pack("{s:I,s:s}", "revoked_count", (json_int_t)store_count_read(res),
                            "agent_id", http_req_param(req, "id"));
    if (a->dry)
        json_object_set_new(out, "dry_run", json_true());
    http_respond_json(req, 200, out);
}

static void agent_revoke_all(http_req *req)
{
    struct agent_req *a = arena_calloc(http_req_arena(req), sizeof(*a));
    a->req = req;
    if (admin_dry_run(req, &a->dry) != 0)
        return;
    store_actor who = admin_actor(req);
    if (store_agent_revoke_all(http_req_pool(req), http_req_param(req, "id"), a->dry, &who,
                               on_revoked_all, a) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_secret_rotated(void *ud, PGresult *res, int err, const char *msg)
{
    struct agent_req *a = ud;
    (void)msg;
    if (!admin_found(a->req, res, err, "agent"))
        return;
    const char *id = http_req_param(a->req, "id");
    http_respond_json(a->req, 200,
                      json_pack("{s:s,s:s,s:s,s:s}", "agent_id", id, "client_id", id,
                                "client_secret", a->secret, "rotated_at",
                                store_rotated_at(res, http_req_arena(a->req))));
}

static void agent_rotate_secret(http_req *req)
{
    size_t len;
    http_req_body(req, &len);
    json_int_t grace = 0;
    if (len > 0) {
        json_t *b = admin_body(req);
        if (b == NULL)
            return;
        json_t *g = json_object_get(b, "grace_period_seconds");
        if (g != NULL && (!json_is_integer(g) || json_integer_value(g) < 0 ||
                          json_integer_value(g) > 7 * 86400)) {
            http_error(req, 400, "invalid_request",
                       "grace_period_seconds must be a whole number from 0 to 604800");
            return;
        }
        grace = g ? json_integer_value(g) : 0;
    }
    struct agent_req *a = arena_calloc(http_req_arena(req), sizeof(*a));
    a->req = req;
    a->secret = new_id(req, "", 32);
    char hash[65];
    hash_sha256_hex(a->secret, strlen(a->secret), hash);
    store_actor who = admin_actor(req);
    if (store_agent_rotate_secret(http_req_pool(req), http_req_param(req, "id"), hash, (int)grace,
                                  &who, on_secret_rotated, a) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_dpop_rotated(void *ud, PGresult *res, int err, const char *msg)
{
    struct agent_req *a = ud;
    (void)msg;
    if (!admin_found(a->req, res, err, "agent"))
        return;
    store_dpop_rotation_row r;
    store_dpop_rotation_row_read(res, http_req_arena(a->req), &r);
    json_t *out = json_pack("{s:s,s:s,s:I}", "old_jkt", r.old_jkt, "new_jkt", a->new_jkt,
                            "revoked_token_count", (json_int_t)r.revoked_token_count);
    if (a->dry)
        json_object_set_new(out, "dry_run", json_true());
    else
        json_object_set_new(out, "audit_event_id", json_string(r.audit_event_id));
    http_respond_json(a->req, 200, out);
}

static void agent_rotate_dpop(http_req *req)
{
    bool dry;
    if (admin_dry_run(req, &dry) != 0)
        return;
    json_t *b = admin_body(req);
    if (b == NULL)
        return;
    bool bad = false;
    const char *reason = admin_string(req, b, "reason", 1000, &bad);
    if (bad)
        return;
    json_t *jwk = json_object_get(b, "new_public_key_jwk");
    if (!json_is_object(jwk)) {
        http_error(req, 400, "invalid_request", "new_public_key_jwk must be a JWK object");
        return;
    }
    jwk_key *key = NULL;
    int rc = jwk_from_json(jwk, &key);
    if (rc == JWK_ERR_PRIVATE || rc == JWK_ERR_SYMMETRIC) {
        http_error(
            req, 400, "invalid_request",
            "new_public_key_jwk must be a public key: private or symmetric key material is refused");
        return;
    }
    if (rc != 0) {
        http_error(req, 400, "invalid_request",
                   "new_public_key_jwk is not a supported key (EC P-256, Ed25519 or RSA >= 2048)");
        return;
    }
    struct agent_req *a = arena_calloc(http_req_arena(req), sizeof(*a));
    a->req = req;
    char jkt[JWK_THUMBPRINT_LEN + 1];
    rc = jwk_thumbprint_json(jwk, jkt);
    jwk_free(key);
    if (rc != 0) {
        http_error(req, 400, "invalid_request", "cannot compute the key's thumbprint");
        return;
    }
    a->new_jkt = arena_strdup(http_req_arena(req), jkt);
    a->dry = dry;
    store_actor who = admin_actor(req);
    if (store_agent_rotate_dpop(http_req_pool(req), http_req_param(req, "id"), a->new_jkt, reason,
                                dry, &who, on_dpop_rotated, a) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static const admin_route routes[] = {
    {"POST", "/api/v1/apps", app_create},
    {"GET", "/api/v1/apps", app_list},
    {"GET", "/api/v1/apps/{id}", app_get},
    {"PATCH", "/api/v1/apps/{id}", app_update},
    {"DELETE", "/api/v1/apps/{id}", app_delete},
    {"POST", "/api/v1/agents", agent_create},
    {"GET", "/api/v1/agents", agent_list},
    {"GET", "/api/v1/agents/{id}", agent_get},
    {"PATCH", "/api/v1/agents/{id}", agent_update},
    {"DELETE", "/api/v1/agents/{id}", agent_delete},
    {"GET", "/api/v1/agents/{id}/tokens", agent_tokens},
    {"POST", "/api/v1/agents/{id}/tokens/revoke-all", agent_revoke_all},
    {"POST", "/api/v1/agents/{id}/rotate-secret", agent_rotate_secret},
    {"POST", "/api/v1/agents/{id}/rotate-dpop-key", agent_rotate_dpop},
};

int admin_agents_register(router *r)
{
    return admin_routes_add(r, routes, sizeof(routes) / sizeof(routes[0]));
}
