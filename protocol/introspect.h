/* introspect: POST /oauth/introspect (RFC 7662) and POST /oauth/revoke (RFC 7009). */
#ifndef SHARK_PROTOCOL_INTROSPECT_H
#define SHARK_PROTOCOL_INTROSPECT_H

#include "../core/router.h"

int oauth_introspect_routes(router *r);

#endif
