/*
 * hooks/deliver: webhook delivery, once per process, on a thread of its own
 * with its own uv_loop, its own database pool and a LISTEN connection
 * (store/listen.h). The HTTP itself goes through the outbound service
 * (core/fetch.h) and its destination policy; answers come back on this
 * thread's loop.
 *
 * The outbox is the table webhook_deliveries, filled by a trigger in the
 * very transaction that writes an audit event (store/migrations/
 * 0006_webhooks.sql). This thread claims due rows with FOR UPDATE SKIP
 * LOCKED (several shark processes share the work, none sends a row another
 * holds), POSTs them signed per Standard Webhooks, records every attempt
 * and schedules retries. Request loops never wait for it.
 */
#ifndef SHARK_HOOKS_DELIVER_H
#define SHARK_HOOKS_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "../core/server.h"

/* app->start_background / stop_background / join_background parts. start
 * runs on the main thread after fetch_start and before the request loops
 * run; stop only signals (it never blocks); join waits for in-flight
 * attempts (the outbound service bounds them by --shutdown-timeout) and
 * frees everything. */
int hooks_start(app *a);
void hooks_stop(app *a);
void hooks_join(app *a);

/* Standard Webhooks signature: "v1," + base64 HMAC-SHA256 of
 * "<id>.<timestamp>.<body>" under key. out must hold HOOK_SIG_LEN bytes. */
#define HOOK_SIG_LEN 48
void hook_sign(const uint8_t *key, size_t keylen, const char *id, long long ts, const char *body,
               size_t bodylen, char out[HOOK_SIG_LEN]);

#endif
