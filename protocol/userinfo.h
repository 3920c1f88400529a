/* userinfo: OpenID Connect UserInfo (GET and POST /oauth/userinfo). */
#ifndef SHARK_PROTOCOL_USERINFO_H
#define SHARK_PROTOCOL_USERINFO_H

#include "../core/router.h"

int oauth_userinfo_routes(router *r);

#endif
