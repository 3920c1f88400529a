/*
 * proof: the DPoP proof (RFC 9449) of a request to one of our endpoints —
 * token, PAR, userinfo, the vault. One header at most; htm and htu are the
 * request's method and the issuer's URL of path; with --dpop-nonce on the
 * proof must carry the current or the previous server nonce (§8), and the
 * current one goes out in a DPoP-Nonce header on every answer. Replay
 * (the proof's jti) is the caller's to record, in its own statement.
 */
#ifndef SHARK_PROTOCOL_PROOF_H
#define SHARK_PROTOCOL_PROOF_H

#include "../core/http.h"
#include "../crypto/dpop.h"

enum oauth_proof {
    OAUTH_PROOF_NONE,    /* no DPoP header */
    OAUTH_PROOF_OK,      /* out is filled */
    OAUTH_PROOF_INVALID, /* answer invalid_dpop_proof with *why */
    OAUTH_PROOF_NONCE,   /* answer use_dpop_nonce (the fresh nonce is set already) */
};

/* access_token and jkt: for a proof presented with a bound token (ath and
 * the key checked), else NULL. */
enum oauth_proof oauth_proof_check(http_req *req, const char *path, const char *access_token,
                                   const char *jkt, dpop_result *out, const char **why);

#endif
