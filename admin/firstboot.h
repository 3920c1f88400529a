/*
 * firstboot: start-up work on the data directory and the database — the
 * master key (SHARK_MASTER_KEY or <data-dir>/master.key, 0600) and, on the
 * first boot of an installation, the admin API key: printed once, written to
 * <data-dir>/admin.key.firstboot (0600), stored only as a hash.
 */
#ifndef SHARK_ADMIN_FIRSTBOOT_H
#define SHARK_ADMIN_FIRSTBOOT_H

#include <stddef.h>
#include <stdint.h>

#include "../core/server.h"

/* Loads or creates the master key into a->master_key. */
int firstboot_master_key(app *a, const char *env_value, char *err, size_t errlen);

/* Installs on first boot (printing the key), records system.started, and
 * loads an existing admin.key.firstboot into a->firstboot_key. */
int firstboot_run(app *a, char *err, size_t errlen);

#endif
