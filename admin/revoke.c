#include "revoke.h"

#include <stdlib.h>
#include <string.h>

#include "../store/revoke.h"
#include "../store/rows_admin.h"
#include "admin.h"
#include "glob.h"

#define MAX_PATTERN 1000
#define MAX_REASON 1000

struct by_pattern {
    http_req *req;
    const char *pattern, *reason;
    bool dry;
};

static void on_pattern_revoked(void *ud, PGresult *res, int err, const char *msg)
{
    struct by_pattern *bp = ud;
    (void)msg;
    if (admin_db_error(bp->req, err))
        return;
    store_pattern_revoke_row r;
    store_pattern_revoke_row_read(res, http_req_arena(bp->req), &r);
    json_t *out = json_pack("{s:I,s:s}", "revoked_count", (json_int_t)r.revoked_count,
                            "pattern_matched", bp->pattern);
    if (bp->dry) {
        json_object_set_new(out, "dry_run", json_true());
        json_object_set_new(out, "matched_client_count",
                            json_integer((json_int_t)r.matched_client_count));
    } else {
        json_object_set_new(out, "audit_event_id", json_string(r.audit_event_id));
    }
    http_respond_json(bp->req, 200, out);
}

/* The database narrowed by the literal prefix; the GLOB itself is decided
 * here, then one statement revokes and records. */
static void on_candidates(void *ud, PGresult *res, int err, const char *msg)
{
    struct by_pattern *bp = ud;
    (void)msg;
    if (admin_db_error(bp->req, err))
        return;
    json_t *ids = json_array();
    arena *a = http_req_arena(bp->req);
    for (int i = 0, n = store_row_count(res); i < n; i++) {
        const char *id = store_revoke_candidate(res, i, a);
        if (glob_match(bp->pattern, id))
            json_array_append_new(ids, json_string(id));
    }
    char *text = json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    if (text == NULL) {
        admin_db_error(bp->req, STORE_EINTERNAL);
        return;
    }
    store_actor who = {http_req_id(bp->req), http_req_client_ip(bp->req)};
    int rc = store_revoke_clients(http_req_pool(bp->req), text, bp->pattern, bp->reason, bp->dry,
                                  &who, on_pattern_revoked, bp);
    free(text);
    if (rc != 0)
        admin_db_error(bp->req, STORE_EUNAVAIL);
}

static void revoke_by_pattern(http_req *req)
{
    json_t *b = admin_body(req);
    if (b == NULL)
        return;
    struct by_pattern *bp = arena_calloc(http_req_arena(req), sizeof(*bp));
    bp->req = req;
    if (admin_dry_run(req, &bp->dry) != 0)
        return;
    bool bad = false;
    bp->pattern = admin_string(req, b, "client_id_pattern", MAX_PATTERN, &bad);
    bp->reason = admin_string(req, b, "reason", MAX_REASON, &bad);
    if (bad)
        return;
    if (bp->pattern == NULL || bp->pattern[0] == '\0') {
        http_error(req, 400, "invalid_request", "client_id_pattern is required");
        return;
    }
    if (bp->reason == NULL || bp->reason[0] == '\0') {
        http_error(req, 400, "invalid_request", "reason is required");
        return;
    }
    /* Such a pattern matches nothing (SQLite semantics); in an emergency
     * rollback that is a typo, not an intent. */
    if (!glob_valid(bp->pattern)) {
        http_error(req, 400, "invalid_request", "client_id_pattern has a [ with no closing ]");
        return;
    }
    const char *prefix = arena_strndup(http_req_arena(req), bp->pattern,
                                       strcspn(bp->pattern, "*?["));
    if (store_revoke_candidates(http_req_pool(req), prefix, on_candidates, bp) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

/* ---- revocation feed ---- */

static void on_feed(void *ud, PGresult *res, int err, const char *msg)
{
    admin_listing *l = ud;
    if (err == STORE_EINVALID) {
        http_error(l->req, 400, "invalid_request", "since must be an ISO-8601 timestamp");
        return;
    }
    admin_on_listing(ud, res, err, msg);
}

/* ISO-8601 shape only; PostgreSQL would also take 'yesterday' or 'epoch'. */
static bool iso8601_like(const char *s)
{
    for (int i = 0; i < 10; i++)
        if ((i == 4 || i == 7) ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
            return false;
    for (const char *p = s + 10; *p; p++)
        if (strchr("0123456789Tt:.+-Zz ", *p) == NULL)
            return false;
    return true;
}

/* The listing contract's limit and cursor (a position like since and
 * after_jti, which stay for the readers that poll by them). */
static void revocations(http_req *req)
{
    const char *since = http_req_query_get(req, "since");
    const char *after = http_req_query_get(req, "after_jti");
    if (since != NULL && *since == '\0')
        since = NULL;
    if (after != NULL && *after == '\0')
        after = NULL;
    if (since != NULL && !iso8601_like(since)) {
        http_error(req, 400, "invalid_request", "since must be an ISO-8601 timestamp");
        return;
    }
    if (after != NULL && since == NULL) {
        http_error(req, 400, "invalid_request", "after_jti needs since");
        return;
    }
    admin_listing *l = admin_listing_new(req);
    if (l == NULL)
        return;
    if (l->q.after_ts != NULL && since != NULL) {
        http_error(req, 400, "invalid_request", "give cursor or since, not both");
        return;
    }
    if (store_revocations(http_req_pool(req), since, after, &l->q, on_feed, l) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static const admin_route routes[] = {
    {"POST", "/api/v1/admin/oauth/revoke-by-pattern", revoke_by_pattern},
    {"GET", "/api/v1/revocations", revocations},
};

int admin_revoke_register(router *r)
{
    return admin_routes_add(r, routes, sizeof(routes) / sizeof(routes[0]));
}
