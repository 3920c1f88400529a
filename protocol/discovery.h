/*
 * discovery: the authorization server's metadata, one document at both
 * /.well-known/oauth-authorization-server and /.well-known/openid-configuration,
 * and the signing keys at /.well-known/jwks.json.
 */
#ifndef SHARK_PROTOCOL_DISCOVERY_H
#define SHARK_PROTOCOL_DISCOVERY_H

#include "../core/router.h"

int oauth_discovery_routes(router *r);

#endif
