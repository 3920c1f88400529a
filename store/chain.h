/*
 * store/chain: a token's delegation chain, read from the parent-jti links
 * that token exchange records (migration 0020).
 */
#ifndef SHARK_STORE_CHAIN_H
#define SHARK_STORE_CHAIN_H

#include "store.h"

/* Row: one JSON text column, NULL when no token has that jti:
 * {"jti","principal":{"subject","user_id"},"hops":[...]} with the hops from
 * the first token (the principal's) to this one, each with its client,
 * scope, cnf.jkt, times and the audit events that name its jti. At most 32
 * hops are followed (exchange chains are far shorter). */
int store_token_chain(store_pool *p, const char *jti, store_cb cb, void *ud);

#endif
