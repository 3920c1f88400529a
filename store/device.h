/*
 * store/device: the device authorization grant (RFC 8628) — codes, the
 * user's decision on the /device page, and the client's polling.
 */
#ifndef SHARK_STORE_DEVICE_H
#define SHARK_STORE_DEVICE_H

#include "agents.h"
#include "store.h"

/* STORE_ECONFLICT if the user code is taken (draw another). */
int store_device_create(store_pool *p, const char *device_code_hash, const char *user_code,
                        const char *client_id, const char *scope, int interval_s, int ttl_s,
                        store_cb cb, void *ud);
/* Wrong user codes are counted per user and per client address on every
 * call that takes one; past a limit in 15 minutes (10 per user, 30 per
 * address) the calls are throttled: they find nothing and count nothing. */
/* A user looks a pending code up. Row: throttled ('t'), found, client_id,
 * client_name, scope. A miss is counted. */
int store_device_lookup(store_pool *p, const char *user_code, const char *user_id,
                        const char *client_ip, store_cb cb, void *ud);
/* Approve or deny a pending code. Approval is the person's consent to the
 * client for the code's scopes (shark_consent_grant). Row: throttled,
 * decided count (a miss is counted), consented count. Audit
 * oauth.device_approved / oauth.device_denied. */
int store_device_decide(store_pool *p, const char *user_code, const char *user_id, int approve,
                        int64_t auth_time, const store_actor *who, store_cb cb, void *ud);
/* The client polls. Row (none if unknown): status (pending, approved,
 * denied, used — as it was), expired, too_fast ('t' when polled before its
 * interval passed; the interval then grows by 5 s), client_id, user_id,
 * scope, auth_time. An approved code becomes used. */
int store_device_poll(store_pool *p, const char *device_code_hash, store_cb cb, void *ud);

#endif
