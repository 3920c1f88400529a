/*
 * vault: the token vault's HTTP surface, one file per audience
 * (providers.c and connections.c for the admin key, connect.c for a
 * signed-in browser, token.c for agents) and the offline
 * `shark vault rekey` command (rekey.c).
 *
 *   /api/v1/vault/providers[/{id}]        admin key: provider templates
 *   /api/v1/vault/connections[/{id}]      admin key: list, get, create, disconnect
 *   /api/v1/vault/connect/{provider}      session cookie: start the connect flow
 *   /api/v1/vault/callback                session cookie: the provider's redirect
 *   /api/v1/vault/{provider}/token        DPoP-bound token with vault:read
 *
 * Third-party tokens are sealed under the master key (crypto/seal.h, key
 * version 1) with AD "<connection id>|<provider id>"; provider client
 * secrets with AD "<provider id>". Plaintext exists only in request memory,
 * wiped when the request ends.
 */
#ifndef SHARK_VAULT_H
#define SHARK_VAULT_H

#include "../core/router.h"

/* Registers every vault route (app/ calls it after admin_register). */
int vault_register(router *r);

/* `shark vault <subcommand> ...`: argv holds what follows "vault". Returns
 * the process exit code. */
int vault_cli_main(int argc, char **argv);

#endif
