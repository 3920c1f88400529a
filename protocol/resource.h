/*
 * resource: the access-token check of our own protected endpoints
 * (userinfo, the vault). Accepts `Authorization: Bearer <token>` or, for
 * DPoP-bound tokens only and then required, `Authorization: DPoP <token>`
 * with a `DPoP` proof (htm, htu, ath and the token's cnf.jkt checked, jti
 * recorded against replay; the server nonce too with --dpop-nonce on, a 401
 * use_dpop_nonce carrying a fresh DPoP-Nonce otherwise: protocol/proof.h).
 * Only tokens whose aud names this server (the issuer) are accepted (RFC
 * 9068 §4). Revocation is checked on every call.
 */
#ifndef SHARK_PROTOCOL_RESOURCE_H
#define SHARK_PROTOCOL_RESOURCE_H

#include "../core/http.h"
#include "access.h"

/* On failure the request has been answered (401 with WWW-Authenticate,
 * 503) and cb is not called. */
typedef void (*resource_cb)(http_req *req, void *ud, const oauth_access *tok);
void oauth_resource_auth(http_req *req, resource_cb cb, void *ud);

#endif
