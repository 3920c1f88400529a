/*
 * store/oidc: the client registration members OpenID Connect endpoints read
 * beside the cached client record (protocol/client.h): the registered
 * post-logout redirect URIs and the client's keys for request objects.
 */
#ifndef SHARK_STORE_OIDC_H
#define SHARK_STORE_OIDC_H

#include "store.h"

/* Row (none unless the client exists and is active): post_logout_redirect_uris
 * (JSON array text, "[]" when none), jwks (JSON text or NULL). */
int store_client_oidc(store_pool *p, const char *client_id, store_cb cb, void *ud);

#endif
