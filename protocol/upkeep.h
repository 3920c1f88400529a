/*
 * upkeep: the protocol's start-up and background work: loading or creating
 * the signing keys before the loops run, and on loop 0 a timer that
 * refreshes the keyring from the database (keys rotated on another node),
 * purges spent replay keys, summarizes the audit jti index and runs the
 * token tables' maintenance.
 */
#ifndef SHARK_PROTOCOL_UPKEEP_H
#define SHARK_PROTOCOL_UPKEEP_H

#include <stddef.h>

#include "../core/server.h"

/* Start-up (blocking): loads or creates the signing keys. */
int oauth_startup(app *a, char *err, size_t errlen);
/* Per loop, before it runs: key refresh and token-table upkeep timers. */
void oauth_loop_init(worker *w);

#endif
