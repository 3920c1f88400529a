/*
 * dpopkeys: the DPoP proof keys of each loop thread, kept so that a client
 * sending proofs with the same key does not have its key rebuilt (an EC
 * group and a point decoded and checked) on every request.
 */
#ifndef SHARK_PROTOCOL_DPOPKEYS_H
#define SHARK_PROTOCOL_DPOPKEYS_H

#include "../crypto/dpop.h"

/* This thread's key source for dpop_verify_keys; NULL (import per proof)
 * when it cannot be had. */
const dpop_keys *oauth_dpop_keys(void);

#endif
