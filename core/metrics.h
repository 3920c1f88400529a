/*
 * metrics: process-wide counters for /metrics (Prometheus text format).
 * Updates are relaxed atomics so loop threads never lock; reading sums them.
 * Pool gauges are published by each loop into its own slot.
 */
#ifndef SHARK_CORE_METRICS_H
#define SHARK_CORE_METRICS_H

#include <stddef.h>

#include "router.h"

typedef struct metrics metrics;

/* nroutes from the router; nloops sizes the per-loop gauge slots. */
metrics *metrics_new(int nroutes, int nloops);
void metrics_free(metrics *m);

/* route_index -1 means unmatched (404/405 and errors before routing); those
 * are counted under their method. */
void metrics_request(metrics *m, int route_index, const char *method, int status, double seconds);
void metrics_pool(metrics *m, int loop, int in_use, int idle, int size);

/* Webhook delivery attempts (core/outbound.c): the outcome and how long the
 * attempt took; and the outbox depth last read from the database. */
enum metrics_hook_result { METRICS_HOOK_DELIVERED, METRICS_HOOK_FAILED, METRICS_HOOK_RETRIED };
void metrics_webhook(metrics *m, enum metrics_hook_result result, double seconds);
void metrics_webhook_queued(metrics *m, long queued);

/* Renders the text exposition; returns a malloc'd NUL-terminated string. */
char *metrics_render(const metrics *m, const router *r, const char *version, double uptime_s);

#endif
