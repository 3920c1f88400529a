/*
 * register: dynamic client registration — RFC 7591 POST /oauth/register
 * (open, or behind an initial access token per --dcr) and RFC 7592
 * GET/PUT/DELETE /oauth/register/{client_id} with the registration access
 * token. Secrets and registration tokens are returned once, stored hashed.
 */
#ifndef SHARK_PROTOCOL_REGISTER_H
#define SHARK_PROTOCOL_REGISTER_H

#include "../core/router.h"

int oauth_register_routes(router *r);
/* NULL if u is an absolute https URL (or http to a loopback host) without a
 * fragment or user credentials; otherwise what is wrong with it. Shared by
 * every place that accepts a client's redirect URIs. */
const char *oauth_redirect_uri_problem(const char *u);

#endif
