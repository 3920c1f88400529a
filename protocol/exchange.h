/*
 * exchange: who may exchange which token (RFC 8693), as one pure function.
 * The caller is entitled to the subject token when it was issued to it (and
 * then proven with the token's DPoP key when bound), or when the token names
 * it in aud or may_act; a may_act in the subject token is always enforced;
 * an actor_token must be the caller's own, proven with its key when bound; a
 * bound subject token needs a proof; the act chain stays within the depth
 * limit. Scope, lifetime and binding of the new token are the grant's
 * (grant_exchange.c).
 */
#ifndef SHARK_PROTOCOL_EXCHANGE_H
#define SHARK_PROTOCOL_EXCHANGE_H

#include "access.h"

typedef struct oauth_exchange_facts {
    const char *caller;          /* the authenticated client's id */
    const oauth_access *subject; /* the verified subject_token */
    const oauth_access *actor;   /* the verified actor_token, NULL without one */
    const char *proof_jkt;       /* the request's DPoP key thumbprint, NULL without a proof */
    int max_depth;               /* --max-delegation-depth */
} oauth_exchange_facts;

/* NULL when the caller may exchange the subject token; else why not (for
 * the client: invalid_grant's description). */
const char *oauth_exchange_denial(const oauth_exchange_facts *f);

#endif
