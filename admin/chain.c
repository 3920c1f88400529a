/* GET /api/v1/tokens/{jti}/chain: the delegation chain behind the
 * dashboard's canvas, in one call. */
#include "chain.h"

#include <string.h>

#include "../store/chain.h"
#include "admin.h"

static void on_chain(void *ud, PGresult *res, int err, const char *msg)
{
    (void)msg;
    admin_respond_row(ud, res, err, 200, "token");
}

static void token_chain(http_req *req)
{
    const char *jti = http_req_param(req, "jti");
    if (jti == NULL || *jti == '\0' || strlen(jti) > 128) {
        http_error(req, 400, "invalid_request", "jti must be 1 to 128 characters");
        return;
    }
    if (store_token_chain(http_req_pool(req), jti, on_chain, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static const admin_route routes[] = {
    {"GET", "/api/v1/tokens/{jti}/chain", token_chain},
};

int admin_chain_register(router *r)
{
    return admin_routes_add(r, routes, sizeof(routes) / sizeof(routes[0]));
}
