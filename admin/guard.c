/* The admin API key check in front of every admin route. */
#include <string.h>
#include <strings.h>

#include "../crypto/hash.h"
#include "../store/system.h"
#include "admin.h"

bool admin_db_error(http_req *req, int err)
{
    if (err == STORE_OK)
        return false;
    if (err == STORE_EINVALID)
        http_error(req, 400, "invalid_request", "a value in the request is not valid");
    else if (err == STORE_ECONFLICT)
        http_error(req, 409, "conflict", "conflicts with an existing resource");
    else
        http_error(req, 503, "internal_error", "database unavailable; retry shortly");
    return true;
}

static void unauthorized(http_req *req)
{
    http_header(req, "WWW-Authenticate", "Bearer realm=\"shark-admin\"");
    http_error(req, 401, "unauthorized", "missing or invalid admin API key");
}

static void on_key_checked(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    if (PQntuples(res) != 1) {
        unauthorized(req);
        return;
    }
    const admin_route *ar = http_req_route_data(req);
    ar->handler(req);
}

static void guard(http_req *req)
{
    const char *auth = http_req_header(req, "Authorization");
    if (auth == NULL || http_req_header_count(req, "Authorization") != 1 ||
        strncasecmp(auth, "Bearer ", 7) != 0 || strncmp(auth + 7, "sk_live_", 8) != 0 ||
        strlen(auth + 7) > 128) {
        unauthorized(req);
        return;
    }
    /* Only the hash is stored; lookup by hash and the database compare
     * reveal nothing about the key itself. */
    char hash[65];
    hash_sha256_hex(auth + 7, strlen(auth + 7), hash);
    if (store_admin_key_check(http_req_pool(req), hash, on_key_checked, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

int admin_routes_add(router *r, const admin_route *routes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (router_add(r, routes[i].method, routes[i].pattern, guard, &routes[i]) != 0)
            return -1;
    return 0;
}
