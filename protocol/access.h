/*
 * access: checks our own access tokens (JWTs signed by the keyring): format,
 * typ at+jwt, signature under a published kid, issuer, expiry. A verified
 * token's claims are cached per loop (loop_ctx, keyed by its SHA-256) while the
 * signing keys stay the same; revocation is a separate check on every call
 * (oauth_token_check, protocol/client.h). Also the DPoP server nonce, which
 * every node derives from the shared master key.
 */
#ifndef SHARK_PROTOCOL_ACCESS_H
#define SHARK_PROTOCOL_ACCESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/http.h"
#include "../core/loop.h"
#include "../core/server.h"

typedef struct oauth_access {
    json_t *claims; /* released with the arena; read only (shared with a cache) */
    const char *jti, *sub, *client_id, *scope, *jkt;
    json_t *act;    /* borrowed from claims; NULL for direct tokens */
    int64_t iat, exp;
} oauth_access;

/* 0 when token is one of ours and unexpired; -1 otherwise. The claims live
 * in the request's arena; the cache is the request loop's. */
int oauth_access_verify(http_req *req, const char *token, oauth_access *out);
/* Frees the loop's verified-token cache (after the loop ended). */
void oauth_token_cache_free(loop_ctx *lc);
/* True when the claims' aud (a string or an array of strings) names who. */
bool oauth_access_aud_has(const json_t *claims, const char *who);
/* Hops in an act chain. */
int oauth_act_depth(const json_t *act);

/* The current DPoP nonce (window = 5 min); out holds 44 bytes. */
void oauth_dpop_nonce(const app *a, int64_t now, int back, char out[44]);

#endif
