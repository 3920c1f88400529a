/*
 * dpopkeys: the DPoP proof keys of each loop (its loop_ctx), kept so that a client
 * sending proofs with the same key does not have its key rebuilt (an EC
 * group and a point decoded and checked) on every request.
 */
#ifndef SHARK_PROTOCOL_DPOPKEYS_H
#define SHARK_PROTOCOL_DPOPKEYS_H

#include "../core/loop.h"
#include "../crypto/dpop.h"

/* The loop's key source for dpop_verify_keys; NULL (import per proof)
 * when it cannot be had. */
const dpop_keys *oauth_dpop_keys(loop_ctx *lc);
/* Frees the loop's keys (after the loop ended). */
void oauth_dpop_keys_free(loop_ctx *lc);

#endif
