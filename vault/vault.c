/* The vault's routes, in order (see vault.h). */
#include "vault.h"

#include "common.h"

/* Order matters: "/api/v1/vault/connections/token" matches two patterns
 * with as many literal segments, and the first registered wins. */
int vault_register(router *r)
{
    if (vault_providers_register(r) != 0 || vault_connections_register(r) != 0 ||
        vault_connect_register(r) != 0)
        return -1;
    return vault_token_register(r);
}
