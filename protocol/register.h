/*
 * register: dynamic client registration — RFC 7591 POST /oauth/register
 * and RFC 7592 GET/PUT/DELETE /oauth/register/{client_id} with the
 * registration access token. Secrets and registration tokens are returned
 * once, stored hashed.
 *
 * What a registration may ask for depends on who vouches for it: anonymous
 * registration, an initial access token from the admin API (admin/dcr.c)
 * or the admin key, and updates stay within the same (the rules are
 * register_meta.h's).
 */
#ifndef SHARK_PROTOCOL_REGISTER_H
#define SHARK_PROTOCOL_REGISTER_H

#include "../core/router.h"

int oauth_register_routes(router *r);

#endif
