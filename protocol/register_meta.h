/*
 * register_meta: the client metadata rules of dynamic registration (RFC
 * 7591 §2, RFC 7592 §2.2) — what each member may hold, the grant types
 * and auth methods offered, and the bounds set by who vouches for a
 * registration. No request and no store: register.c answers and stores.
 *
 * Anonymous registration (--dcr open, or token with the static
 * --dcr-token) gets only the interactive grants and scopes from
 * --dcr-scopes, and no resources; an initial access token allows what the
 * operator gave it; the admin key allows everything that validates.
 */
#ifndef SHARK_PROTOCOL_REGISTER_META_H
#define SHARK_PROTOCOL_REGISTER_META_H

#include <jansson.h>
#include <stdbool.h>

#include "../core/arena.h"
#include "../core/config.h"
#include "../store/clients.h"

/* Who vouches for a registration, and so what it may register. */
typedef struct oauth_reg_bounds {
    const char *via; /* registered_by: open | admin | the initial access token's id */
    bool any;        /* the admin key: validation only */
    const char *scopes, *grants, *resources; /* space-separated, unless any */
} oauth_reg_bounds;

/* Validated metadata as the store takes it (arena strings), or the error
 * to answer with (an RFC 7591 error code and its description). */
typedef struct oauth_client_meta {
    store_client_reg row;
    bool needs_secret, authz_code, client_credentials;
    const char *error, *desc;
} oauth_client_meta;

/* Validates the metadata in body and fills m->row (everything but ids,
 * hashes and request facts); members not interpreted are kept as given.
 * 0, or -1 with m->error/desc set. */
int oauth_register_parse(arena *a, const json_t *body, const char *signing_alg,
                         oauth_client_meta *m);
/* Holds validated metadata to what b allows (an interactive client without
 * scope gets the default scopes b allows). 0, or -1 with m->error/desc. */
int oauth_register_within(oauth_client_meta *m, arena *a, const oauth_reg_bounds *b);
/* The bounds of anonymous registration as configured. */
oauth_reg_bounds oauth_register_open_bounds(const config *cfg);

/* Whether grant is a grant type registration accepts. */
bool oauth_register_grant_supported(const char *grant);
/* Every such grant type, as a JSON array in the arena. */
const char *oauth_register_grants_json(arena *a);

#endif
