/* admin/keys: signing-key rotation for the admin API (the keyring itself is
 * protocol/keys.h; every node loads the new key within seconds). */
#ifndef SHARK_ADMIN_KEYS_H
#define SHARK_ADMIN_KEYS_H

#include "../core/router.h"

int admin_keys_register(router *r);

#endif
