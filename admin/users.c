#include "users.h"

#include <stdlib.h>
#include <string.h>

#include "../store/users.h"
#include "../store/rows_admin.h"
#include "admin.h"

#define MAX_EMAIL 254
#define MAX_NAME 200
#define MAX_REASON 1000
#define MAX_AGENT_IDS 1000

static void no_user(http_req *req)
{
    http_error(req, 404, "not_found", "no user with that id");
}

/* Sends the JSON text in column 0 of the first row, or 404 when no row. */
static void respond_user(http_req *req, PGresult *res, int err, int status)
{
    if (admin_db_error(req, err))
        return;
    const char *user = store_json_doc(res, http_req_arena(req));
    if (user == NULL) {
        no_user(req);
        return;
    }
    admin_respond_text(req, status, user);
}

static void email_taken(http_req *req)
{
    http_error(req, 409, "conflict", "a user with that email already exists");
}

static bool email_ok(const char *s)
{
    if (strchr(s, '@') == NULL)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* Reads the user members of b into f; answers 400 and returns -1 on a wrong
 * type, a bad email, or a member this API does not take. */
static int read_user(http_req *req, json_t *b, store_user_fields *f)
{
    static const char *const known[] = {"email", "name", "email_verified", NULL};
    const char *key;
    json_t *v;
    json_object_foreach (b, key, v) {
        size_t i = 0;
        while (known[i] != NULL && strcmp(known[i], key) != 0)
            i++;
        if (known[i] == NULL) {
            http_error(req, 400, "invalid_request",
                       arena_printf(http_req_arena(req), "unknown member '%.64s'", key));
            return -1;
        }
    }
    bool bad = false;
    f->email = admin_string(req, b, "email", MAX_EMAIL, &bad);
    f->name = admin_string(req, b, "name", MAX_NAME, &bad);
    if (bad)
        return -1;
    if (f->email != NULL && !email_ok(f->email)) {
        http_error(req, 400, "invalid_request", "email must contain @ and no control characters");
        return -1;
    }
    v = json_object_get(b, "email_verified");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            http_error(req, 400, "invalid_request", "email_verified must be a boolean");
            return -1;
        }
        f->email_verified = json_is_true(v) ? "true" : "false";
    }
    return 0;
}

static void on_created(void *ud, PGresult *res, int err, const char *msg)
{
    (void)msg;
    if (err == STORE_ECONFLICT)
        email_taken(ud);
    else
        respond_user(ud, res, err, 201);
}

static void user_create(http_req *req)
{
    json_t *b = admin_body(req);
    store_user_fields f = {0};
    if (b == NULL || read_user(req, b, &f) != 0)
        return;
    if (f.email == NULL) {
        http_error(req, 400, "invalid_request", "email is required");
        return;
    }
    store_actor who = admin_actor(req);
    if (store_user_create(http_req_pool(req), &f, &who, on_created, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void user_list(http_req *req)
{
    admin_listing *p = admin_listing_new(req);
    if (p == NULL)
        return;
    const char *email = http_req_query_get(req, "email");
    if (email != NULL && *email == '\0')
        email = NULL;
    if (store_user_list(admin_read_pool(req), email, &p->q, admin_on_listing, p) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* The {id} of the path; answers 404 when it does not decode. */
static const char *user_id(http_req *req)
{
    const char *id = http_req_param(req, "id");
    if (id == NULL)
        no_user(req);
    return id;
}

static void on_user(void *ud, PGresult *res, int err, const char *msg)
{
    (void)msg;
    respond_user(ud, res, err, 200);
}

static void user_get(http_req *req)
{
    const char *id = user_id(req);
    if (id != NULL && store_user_get(http_req_pool(req), id, on_user, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void on_updated(void *ud, PGresult *res, int err, const char *msg)
{
    (void)msg;
    if (err == STORE_ECONFLICT)
        email_taken(ud);
    else
        respond_user(ud, res, err, 200);
}

static void user_update(http_req *req)
{
    const char *id = user_id(req);
    json_t *b = id != NULL ? admin_body(req) : NULL;
    store_user_fields f = {0};
    if (b == NULL || read_user(req, b, &f) != 0)
        return;
    if (f.email == NULL && f.name == NULL && f.email_verified == NULL) {
        http_error(req, 400, "invalid_request", "give at least one of email, name, email_verified");
        return;
    }
    store_actor who = admin_actor(req);
    if (store_user_update(http_req_pool(req), id, &f, &who, on_updated, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* For statements whose single row counts what they changed: 204 or 404. */
static void respond_changed(http_req *req, PGresult *res, int err, void (*missing)(http_req *))
{
    if (admin_db_error(req, err))
        return;
    if (store_count_read(res) == 0)
        missing(req);
    else
        http_respond(req, 204, NULL, NULL, 0);
}

static void on_deleted(void *ud, PGresult *res, int err, const char *msg)
{
    (void)msg;
    respond_changed(ud, res, err, no_user);
}

static void user_delete(http_req *req)
{
    const char *id = user_id(req);
    store_actor who = admin_actor(req);
    if (id != NULL && store_user_delete(http_req_pool(req), id, &who, on_deleted, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void user_agents(http_req *req)
{
    const char *id = user_id(req);
    if (id == NULL)
        return;
    const char *filter = http_req_query_get(req, "filter");
    if (filter == NULL)
        filter = "all";
    if (strcmp(filter, "created") != 0 && strcmp(filter, "authorized") != 0 &&
        strcmp(filter, "all") != 0) {
        http_error(req, 400, "invalid_request", "filter must be created, authorized or all");
        return;
    }
    admin_listing *p = admin_listing_new(req);
    if (p == NULL)
        return;
    p->missing = "no user with that id";
    p->extra = arena_printf(http_req_arena(req), "\"filter\":\"%s\"", filter);
    if (store_user_agents(http_req_pool(req), id, filter, &p->q, admin_on_listing, p) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void user_consents(http_req *req)
{
    const char *id = user_id(req);
    admin_listing *p = id != NULL ? admin_listing_new(req) : NULL;
    if (p == NULL)
        return;
    p->missing = "no user with that id";
    if (store_user_consents(http_req_pool(req), id, &p->q, admin_on_listing, p) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void no_consent(http_req *req)
{
    http_error(req, 404, "not_found", "no live consent with that id for this user");
}

static void on_consent_revoked(void *ud, PGresult *res, int err, const char *msg)
{
    (void)msg;
    respond_changed(ud, res, err, no_consent);
}

static void consent_delete(http_req *req)
{
    const char *id = user_id(req);
    if (id == NULL)
        return;
    const char *consent = http_req_param(req, "consent_id");
    if (consent == NULL) {
        no_consent(req);
        return;
    }
    store_actor who = admin_actor(req);
    if (store_consent_revoke(http_req_pool(req), id, consent, &who, on_consent_revoked, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* ---- Layer 3 ---- */

static void on_agents_revoked(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    store_user_revoke_row r;
    store_user_revoke_row_read(res, http_req_arena(req), &r);
    if (!r.found) {
        no_user(req);
        return;
    }
    const char *refused = r.refused;
    if (strcmp(refused, "[]") != 0) {
        http_error(req, 400, "invalid_request",
                   arena_printf(http_req_arena(req),
                                "agent_ids not created or authorized by this user: %.900s; "
                                "nothing was revoked",
                                refused));
        return;
    }
    admin_respond_text(req, 200, r.body);
}

static bool nonempty(const char *s)
{
    return *s != '\0';
}

static void user_revoke_agents(http_req *req)
{
    const char *id = user_id(req);
    if (id == NULL)
        return;
    /* No body means "every agent of the user", as with an empty object. */
    size_t len;
    http_req_body(req, &len);
    json_t *b = len > 0 ? admin_body(req) : NULL;
    if (len > 0 && b == NULL)
        return;
    bool bad = false;
    json_t *ids = json_object_get(b, "agent_ids");
    const char *agent_ids = json_is_null(ids) ? NULL
                                              : admin_string_array(req, ids, "agent_ids",
                                                                   MAX_AGENT_IDS, nonempty, &bad);
    const char *reason = bad ? NULL : admin_string(req, b, "reason", MAX_REASON, &bad);
    if (bad)
        return;
    if (agent_ids != NULL && strcmp(agent_ids, "[]") == 0) {
        http_error(req, 400, "invalid_request",
                   "agent_ids must name at least one agent; leave it out to revoke them all");
        return;
    }
    bool dry;
    if (admin_dry_run(req, &dry) != 0)
        return;
    store_actor who = admin_actor(req);
    if (store_user_revoke_agents(http_req_pool(req), id, agent_ids, reason, dry, &who,
                                 on_agents_revoked, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static const admin_route routes[] = {
    {"POST", "/api/v1/users", user_create},
    {"GET", "/api/v1/users", user_list},
    {"GET", "/api/v1/users/{id}", user_get},
    {"PATCH", "/api/v1/users/{id}", user_update},
    {"DELETE", "/api/v1/users/{id}", user_delete},
    {"GET", "/api/v1/users/{id}/agents", user_agents},
    {"GET", "/api/v1/users/{id}/consents", user_consents},
    {"DELETE", "/api/v1/users/{id}/consents/{consent_id}", consent_delete},
    {"POST", "/api/v1/users/{id}/revoke-agents", user_revoke_agents},
};

int admin_users_register(router *r)
{
    return admin_routes_add(r, routes, sizeof(routes) / sizeof(routes[0]));
}
