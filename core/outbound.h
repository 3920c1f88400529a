/*
 * outbound: webhook delivery, once per process, on a thread of its own with
 * its own uv_loop driving libcurl's multi-socket API, its own database pool
 * and a LISTEN connection.
 *
 * The outbox is the table webhook_deliveries, filled by a trigger in the
 * very transaction that writes an audit event (store/migrations/
 * 0006_webhooks.sql). This thread claims due rows with FOR UPDATE SKIP
 * LOCKED (several shark processes share the work, none sends a row another
 * holds), POSTs them signed per Standard Webhooks, records every attempt
 * and schedules retries. Request loops never wait for it.
 *
 * Also the destination policy (no loopback, private, link-local, CGNAT,
 * multicast or unspecified addresses unless allowed) shared with the admin
 * API, which applies it to literal addresses when an endpoint is saved.
 */
#ifndef SHARK_CORE_OUTBOUND_H
#define SHARK_CORE_OUTBOUND_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"

/* app->start_background / stop_background / join_background. start runs on
 * the main thread before the request loops do; stop only signals (it never
 * blocks); join waits for in-flight attempts, bounded by
 * --shutdown-timeout, and frees everything. */
int outbound_start(app *a);
void outbound_stop(app *a);
void outbound_join(app *a);

/* NULL when addr (16-byte form, IPv4 mapped) may be reached: a public
 * address, or host or addr listed in `allow` (--webhook-allowed-hosts: comma
 * list of hostnames and CIDRs; host may be NULL). Otherwise what kind of
 * address it is ("loopback", "private", ...). */
const char *hook_refusal(const char *allow, const char *host, const uint8_t addr[16]);

/* Checks a webhook URL: http or https with a host, and a literal IP host
 * must pass hook_refusal. Returns 0, or -1 with a message for the client. */
int hook_url_check(const char *allow, const char *url, char *err, size_t errlen);

/* Standard Webhooks signature: "v1," + base64 HMAC-SHA256 of
 * "<id>.<timestamp>.<body>" under key. out must hold HOOK_SIG_LEN bytes. */
#define HOOK_SIG_LEN 48
void hook_sign(const uint8_t *key, size_t keylen, const char *id, long long ts, const char *body,
               size_t bodylen, char out[HOOK_SIG_LEN]);

#endif
