/*
 * client: who is calling the token, introspection and revocation endpoints.
 * Authenticates a client by client_secret_basic, client_secret_post,
 * private_key_jwt (RFC 7523, assertion jti recorded against replay) or none
 * (public clients), loading its record from the store.
 */
#ifndef SHARK_PROTOCOL_CLIENT_H
#define SHARK_PROTOCOL_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "../core/http.h"
#include "../core/loop.h"
#include "access.h"
#include "form.h"

typedef struct oauth_client {
    const char *client_id, *kind, *name, *auth_method, *scopes, *dpop_jkt, *created_by;
    const char *resources;     /* space-separated: what it may name as resource/audience */
    const char *registered_by; /* open | admin | initial access token id; NULL unless dcr */
    json_t *grant_types, *redirect_uris; /* owned by the request arena */
    const char *used_method; /* how it authenticated this time */
    const char *id_token_alg; /* registered id_token_signed_response_alg, or NULL */
    bool resource_server;     /* may introspect any token (set with the admin key) */
} oauth_client;

/* Runs with the authenticated client. On failure the request has been
 * answered (401 invalid_client, 400 invalid_request, 503) and cb is not
 * called. */
typedef void (*oauth_client_cb)(http_req *req, void *ud, const oauth_client *c);
/* Frees the loop's client cache (after the loop ended). */
void oauth_client_cache_free(loop_ctx *lc);

void oauth_client_authenticate(http_req *req, const form *f, oauth_client_cb cb, void *ud);

/* Whether an access token whose signature and expiry have been verified is
 * still usable: not revoked (by its jti, or by a watermark on its client,
 * its person or their grant to the client) and its client active. Both come from
 * memory in the steady state (the process's revoked set, store/revoked.h, and
 * this loop's client cache); the database answers while the revoked set may
 * be missing a revocation, and the client record is fetched once when not
 * cached. The token's record is not looked up: a token is only signed and
 * handed out after its record has committed, and records outlive their
 * tokens' expiry. cb may run before this returns. */
enum oauth_token_state { OAUTH_TOKEN_UNAVAILABLE = -1, OAUTH_TOKEN_INACTIVE, OAUTH_TOKEN_ACTIVE };
typedef void (*oauth_token_cb)(void *ud, enum oauth_token_state state);
void oauth_token_check(http_req *req, const oauth_access *tok, oauth_token_cb cb, void *ud);
/* Loads a client without authenticating it (through the same per-loop cache,
 * resolving metadata-document clients). c is NULL when it is unknown or not
 * active (error NULL), when the store is unavailable (error ==
 * OAUTH_LOOKUP_UNAVAILABLE), or when its metadata document cannot be used
 * (error says why). c lives as long as the request. */
#define OAUTH_LOOKUP_UNAVAILABLE "unavailable"
typedef void (*oauth_lookup_cb)(http_req *req, void *ud, const oauth_client *c, const char *error);
void oauth_client_lookup(http_req *req, const char *client_id, oauth_lookup_cb cb, void *ud);

bool oauth_client_has_grant(const oauth_client *c, const char *grant);
/* True when every space-separated scope of want is in have. */
bool oauth_scope_subset(const char *want, const char *have);
/* The space-separated scopes of s that are also in allow, in s's order, in
 * the arena ("" when none are). */
const char *oauth_scope_clip(arena *a, const char *s, const char *allow);
/* Scope text is 1*( %x21 / %x23-5B / %x5D-7E ) separated by single spaces. */
bool oauth_scope_valid(const char *s);

#endif
