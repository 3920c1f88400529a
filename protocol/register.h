/*
 * register: dynamic client registration — RFC 7591 POST /oauth/register
 * and RFC 7592 GET/PUT/DELETE /oauth/register/{client_id} with the
 * registration access token. Secrets and registration tokens are returned
 * once, stored hashed.
 *
 * What a registration may ask for depends on who vouches for it. Anonymous
 * registration (--dcr open, or token with the static --dcr-token) gets only
 * the interactive grants (authorization_code, refresh_token, device_code)
 * and scopes from --dcr-scopes, and no resources. An initial access token
 * from the admin API (admin/dcr.c) allows what the operator gave it; the
 * admin key allows everything that validates. Updates stay within the same.
 */
#ifndef SHARK_PROTOCOL_REGISTER_H
#define SHARK_PROTOCOL_REGISTER_H

#include <stdbool.h>

#include "../core/arena.h"
#include "../core/router.h"

int oauth_register_routes(router *r);

/* Whether grant is a grant type registration accepts. */
bool oauth_register_grant_supported(const char *grant);
/* Every such grant type, as a JSON array in the arena. */
const char *oauth_register_grants_json(arena *a);

#endif
