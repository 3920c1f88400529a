/* authorize: /oauth/authorize, /oauth/par, the login and consent pages. */
#ifndef SHARK_PROTOCOL_AUTHORIZE_H
#define SHARK_PROTOCOL_AUTHORIZE_H

#include "../core/router.h"

int oauth_authorize_routes(router *r);

#endif
