/*
 * store/system: installation state — the admin key (hash only), first boot,
 * bootstrapping, schema version — and the start-up audit trail.
 */
#ifndef SHARK_STORE_SYSTEM_H
#define SHARK_STORE_SYSTEM_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/loop.h"
#include "store.h"

/* Blocking, at start-up. If this database has no installation yet, records
 * one with the admin key hash `key_hash` (id `key_id`) and the audit event
 * system.first_boot, in one transaction; concurrent starters agree on one
 * winner. Always appends system.started. *created says whether this call
 * installed. Returns 0, or -1 with a message in err. */
int store_system_boot(const char *conninfo, const char *key_id, const char *key_hash,
                      const char *version, bool *created, char *err, size_t errlen);

/* Row: one column `id` when key_hash names a live admin key (none
 * otherwise). Marks the installation bootstrapped on first success. A key
 * that checks out is remembered in the calling loop's lc (p's loop): */
int store_admin_key_check(store_pool *p, loop_ctx *lc, const char *key_hash, store_cb cb,
                          void *ud);
/* True when key_hash checked out on this loop and no admin key has been
 * changed or removed since, on any node (the check then needs no query). */
bool store_admin_key_cached(const loop_ctx *lc, const char *key_hash);
/* Frees the loop's admin-key cache (after the loop ended). */
void store_admin_keys_free(loop_ctx *lc);

/* Row: `bootstrapped` ('t'/'f'). */
int store_system_bootstrapped(store_pool *p, store_cb cb, void *ud);

/* Row: `version` (max applied migration, NULL if none). */
int store_system_schema_version(store_pool *p, store_cb cb, void *ud);

#endif
