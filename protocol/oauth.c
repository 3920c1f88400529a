/* The protocol's route table: every /oauth/ and /.well-known/ route, and the
 * /oauth/ surface's error envelope. Nothing else lives here. */
#include "oauth.h"

#include "authorize.h"
#include "device.h"
#include "discovery.h"
#include "errors.h"
#include "introspect.h"
#include "logout.h"
#include "register.h"
#include "token.h"
#include "userinfo.h"

int oauth_routes(router *r)
{
    if (router_surface(r, "/oauth/", oauth_envelope) != 0 || oauth_discovery_routes(r) != 0 ||
        router_add(r, "POST", "/oauth/token", oauth_token_endpoint, NULL) != 0 ||
        oauth_introspect_routes(r) != 0 || oauth_register_routes(r) != 0 ||
        oauth_authorize_routes(r) != 0 || oauth_userinfo_routes(r) != 0 ||
        oauth_device_routes(r) != 0 || oauth_logout_routes(r) != 0)
        return -1;
    return 0;
}
