/*
 * admin/chain: GET /api/v1/tokens/{jti}/chain, a token's act chain (each
 * hop's client, scope, key thumbprint, times and audit events; see
 * store/chain.h), 404 for an unknown jti.
 */
#ifndef SHARK_ADMIN_CHAIN_H
#define SHARK_ADMIN_CHAIN_H

#include "../core/router.h"

int admin_chain_register(router *r);

#endif
