/*
 * store/admin_session: dashboard sessions opened with the admin key
 * (migration 0032). Callers pass hex SHA-256 digests, never the key or the
 * cookie value. A session is live while unexpired and its key unrevoked.
 */
#ifndef SHARK_STORE_ADMIN_SESSION_H
#define SHARK_STORE_ADMIN_SESSION_H

#include "store.h"

/* When key_hash names a live admin key, opens session `id` (token_hash,
 * lasting ttl_s seconds), purges expired ones and appends
 * admin.session_created. Row: `expires_at` (ISO-8601 UTC); none when the key
 * is not live. Marks the installation bootstrapped, as a key check does. */
int store_admin_session_open(store_pool *p, const char *key_hash, const char *id,
                             const char *token_hash, int ttl_s, const char *request_id,
                             const char *client_ip, store_cb cb, void *ud);
/* Row: `id`, `key_id`, `expires_at` for a live session; none otherwise. */
int store_admin_session_check(store_pool *p, const char *token_hash, store_cb cb, void *ud);
/* Ends the session (admin.session_ended). Row: `id` when there was one. */
int store_admin_session_close(store_pool *p, const char *token_hash, const char *request_id,
                              const char *client_ip, store_cb cb, void *ud);

#endif
