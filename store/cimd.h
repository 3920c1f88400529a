/*
 * store/cimd: clients described by a Client ID Metadata Document, cached as
 * oauth_clients rows of kind 'cimd' until their document expires.
 */
#ifndef SHARK_STORE_CIMD_H
#define SHARK_STORE_CIMD_H

#include "store.h"

/* Row: fresh ('t' when a cimd row exists and its document has not expired),
 * other ('t' when the id belongs to a client of another kind). */
int store_cimd_state(store_pool *p, const char *client_id, store_cb cb, void *ud);

typedef struct store_cimd {
    const char *client_id, *name, *auth_method, *grant_types /* JSON */, *redirect_uris /* JSON */,
        *scope /* space-separated */, *jwks /* JSON or NULL */;
    int max_age_s;
} store_cimd;
/* Inserts or refreshes the row (never touching clients of another kind). */
int store_cimd_save(store_pool *p, const store_cimd *c, store_cb cb, void *ud);

#endif
