/* OpenID Connect UserInfo: the signed-in user's claims, by scope. */
#include <string.h>

#include "../store/auth.h"
#include "../store/rows_oauth.h"
#include "client.h"
#include "userinfo.h"
#include "issuer.h"
#include "resource.h"

static void on_claims(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    const oauth_access *tok = http_req_ctx(req);
    (void)msg;
    if (err != STORE_OK) {
        http_error(req, 503, "internal_error", "database unavailable; retry shortly");
        return;
    }
    const char *claims = store_user_claims_json(res, http_req_arena(req));
    if (claims == NULL) {
        http_error(req, 401, "invalid_token", "the token's user no longer exists");
        return;
    }
    json_t *u = json_loads(claims, 0, NULL);
    const char *scope = tok->scope ? tok->scope : "";
    if (!oauth_scope_subset("email", scope)) {
        json_object_del(u, "email");
        json_object_del(u, "email_verified");
    }
    if (!oauth_scope_subset("profile", scope))
        json_object_del(u, "name");
    http_respond_json(req, 200, u);
}

static void on_token(http_req *req, void *ud, const oauth_access *tok)
{
    (void)ud;
    if (tok->scope == NULL || !oauth_scope_subset("openid", tok->scope) ||
        strncmp(tok->sub, "usr_", 4) != 0) {
        http_header(req, "WWW-Authenticate",
                    "Bearer error=\"insufficient_scope\", scope=\"openid\"");
        http_error(req, 403, "insufficient_scope", "userinfo needs a user token with openid scope");
        return;
    }
    http_req_set_ctx(req, (void *)tok);
    if (store_user_claims(http_req_pool(req), tok->sub, on_claims, req) != 0)
        http_error(req, 503, "internal_error", "database unavailable; retry shortly");
}

static void userinfo(http_req *req)
{
    oauth_resource_auth(req, on_token, NULL);
}

int oauth_userinfo_routes(router *r)
{
    if (router_add(r, "GET", "/oauth/userinfo", userinfo, NULL) != 0 ||
        router_add(r, "POST", "/oauth/userinfo", userinfo, NULL) != 0)
        return -1;
    return 0;
}
