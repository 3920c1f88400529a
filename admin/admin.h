/*
 * admin: the /api/v1/ admin surface and the operational endpoints
 * (/healthz, /readyz, /metrics). Admin routes are registered through
 * admin_route so every one of them checks the admin API key first.
 */
#ifndef SHARK_ADMIN_H
#define SHARK_ADMIN_H

#include "../core/http.h"
#include "../core/router.h"
#include "../store/agents.h"
#include "../store/page.h"

/* An admin route: `handler` runs only after the key checked out. */
typedef struct admin_route {
    const char *method, *pattern;
    route_handler handler;
} admin_route;

/* Registers a table of admin routes behind the key check. */
int admin_routes_add(router *r, const admin_route *routes, size_t n);

/* For reads that may be stale (listings, audit): the --db-read replica's
 * pool when there is one and it is up, else http_req_pool. Never for token,
 * client, key or revocation checks, nor for reading back one's own write. */
store_pool *admin_read_pool(const http_req *req);

/* Registers everything this module serves, and the /api/ surface's error
 * envelope. */
int admin_register(router *r);

/* route_envelope of /api/ (and, set by app/, of every path no other module
 * claims): {"error":{"code","message","request_id"}}. */
void admin_envelope(http_req *r, int status, const char *code, const char *message);

/* The request body as a JSON object, released with the request. Every
 * route that reads JSON reads it here: a body not sent as application/json
 * (parameters such as charset allowed) gets 415; a missing, malformed or
 * non-object body 400; both return NULL. */
json_t *admin_body(http_req *req);
/* ?dry_run=true|false (absent: false) into *dry; answers 400 and returns -1
 * on any other value. A dry run of a revoke route answers the counts it
 * would revoke and changes nothing. */
int admin_dry_run(http_req *req, bool *dry);
/* Keyset cursors: an opaque base64url text of "<timestamp> <id>" (the last
 * row shown; the timestamp as the store writes it, the id of letters,
 * digits and . _ -). admin_cursor_parse reads ?cursor (absent or empty: *ts
 * and *id NULL) and answers 400, returning -1, when it is not one of ours;
 * admin_cursor_make encodes "<timestamp> <id>" (NULL: NULL). */
int admin_cursor_parse(http_req *req, const char **ts, const char **id);
const char *admin_cursor_make(http_req *req, const char *pos);
/* The readers below do nothing once *bad is set, so a run of them needs one
 * check of bad at the end (the first failure has answered 400). */
/* Validates v as an array of at most max strings (each accepted by ok when
 * given) and returns it as compact JSON text in the request arena; NULL for
 * an absent member; on error answers 400 naming field and sets *bad. */
const char *admin_string_array(http_req *req, json_t *v, const char *field, int max,
                               bool (*ok)(const char *), bool *bad);
/* An optional string member of at most max bytes: NULL when absent; answers
 * 400 and sets *bad on a wrong type or length. */
const char *admin_string(http_req *req, json_t *obj, const char *field, size_t max, bool *bad);
/* Sends JSON text (a result column, say) as the body; it is copied. */
void admin_respond_text(http_req *req, int status, const char *json);
/* The first column of row 0 (JSON text) with status, or the error: the
 * database's, or 404 "no such <what>" when there is no row or it is NULL. */
void admin_respond_row(http_req *req, PGresult *res, int err, int status, const char *what);
/* A listing request (the listing contract): limit (1..1000, default 100),
 * cursor (admin_cursor_parse), legacy offset (not with a cursor) and
 * total=true|false, in the request arena; NULL when the query was bad
 * (answered 400). Set `missing` (the 404 message) for listings under a
 * resource that may be unknown, `items` to repeat data as items, `extra`
 * for members to add (JSON text without braces). */
typedef struct admin_listing {
    http_req *req;
    store_page_q q;
    const char *missing, *extra;
    bool items;
} admin_listing;
admin_listing *admin_listing_new(http_req *req);
/* Answers {"data":[…],"limit":N,"next_cursor":"…"|null} (+ "total" when
 * asked, + items and extra). */
void admin_respond_listing(admin_listing *l, const store_page_row *pg);
/* store_cb of a listing statement (store/page.h): answers the page, the
 * store error, or 404 `missing` when there is no row. */
void admin_on_listing(void *ud, PGresult *res, int err, const char *msg);

/* Answers a database error, or 404 "no such <what>" when res has no row;
 * true when the caller may go on with row 0. */
bool admin_found(http_req *req, PGresult *res, int err, const char *what);
/* Who asks and from where, for audit events. */
store_actor admin_actor(http_req *req);

/* Answers 503 in the surface's envelope for a database failure, or 400 for
 * input the database refused; returns true when it answered. */
bool admin_db_error(http_req *req, int err);

#endif
