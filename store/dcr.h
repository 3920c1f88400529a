/*
 * store/dcr: initial access tokens for dynamic client registration (RFC 7591
 * §3), issued through the admin API. Only their SHA-256 is stored; a use is
 * counted by the registration that spends it (store/clients.h). Each change
 * and its audit event (admin.dcr_token_created / _revoked) go in together.
 */
#ifndef SHARK_STORE_DCR_H
#define SHARK_STORE_DCR_H

#include "agents.h"
#include "page.h"
#include "store.h"

typedef struct store_dcr_token_in {
    const char *id, *token_hash, *description;
    const char *scopes, *grant_types, *resources; /* JSON arrays of strings */
    int max_uses, expires_in_s;
} store_dcr_token_in;
/* Row: token (JSON, without the token). */
int store_dcr_token_create(store_pool *p, const store_dcr_token_in *in, const store_actor *who,
                           store_cb cb, void *ud);
/* A page of the tokens (store/page.h). */
int store_dcr_token_list(store_pool *p, const store_page_q *q, store_cb cb, void *ud);
/* Row: found ('t'/'f'). Revoking a revoked token changes nothing. Clients
 * registered with it stay. */
int store_dcr_token_revoke(store_pool *p, const char *id, const store_actor *who, store_cb cb,
                           void *ud);
/* A token that can still be used, by hash. Row (none otherwise): id, then
 * scopes, grant_types and resources it allows, each space-separated. */
int store_dcr_token_find(store_pool *p, const char *token_hash, store_cb cb, void *ud);

#endif
