/*
 * store/webhooks: webhook endpoints (admin API) and the delivery outbox
 * (the delivery thread, hooks/deliver.c). Deliveries are created by the
 * trigger on audit_events (migration 0006), never from C, except the
 * targeted webhook.test. Changes to endpoints write their audit event in
 * the same statement. Event lists travel as JSON array text; results carry
 * ready JSON built by shark_webhook_json / shark_delivery_json.
 */
#ifndef SHARK_STORE_WEBHOOKS_H
#define SHARK_STORE_WEBHOOKS_H

#include <stdbool.h>

#include "agents.h"
#include "page.h"
#include "store.h"

/* ---- endpoints (admin) ---- */
typedef struct store_hook_in {
    const char *id, *url, *description; /* NULL = unchanged on update */
    const char *events;                 /* JSON array of canonical filters, or NULL */
    const char *enabled;                /* "true" / "false" / NULL (update only) */
    const char *secret_sealed;          /* base64 sealed signing key (create) */
} store_hook_in;
/* Row: webhook (JSON). */
int store_hook_create(store_pool *p, const store_hook_in *in, const store_actor *who, store_cb cb,
                      void *ud);
/* A page of the endpoints (store/page.h). */
int store_hook_list(store_pool *p, const store_page_q *q, store_cb cb, void *ud);
/* Row (none if unknown): webhook. */
int store_hook_get(store_pool *p, const char *id, store_cb cb, void *ud);
/* Row (none if unknown): webhook. Enabling clears the failure record. */
int store_hook_update(store_pool *p, const store_hook_in *in, const store_actor *who, store_cb cb,
                      void *ud);
/* Row (none if unknown): id. Its deliveries go with it. */
int store_hook_delete(store_pool *p, const char *id, const store_actor *who, store_cb cb, void *ud);
/* Row (none if unknown): rotated_at. */
int store_hook_rotate(store_pool *p, const char *id, const char *secret_sealed,
                      const store_actor *who, store_cb cb, void *ud);
/* Queues a webhook.test delivery to this endpoint only, if enabled. Row
 * (none if unknown): enabled ('t'/'f'), delivery (JSON, NULL if disabled). */
int store_hook_test(store_pool *p, const char *id, store_cb cb, void *ud);
/* A page of the endpoint's deliveries (store/page.h; no row for an unknown
 * webhook); status may be NULL. */
int store_hook_deliveries(store_pool *p, const char *id, const char *status, const store_page_q *q,
                          store_cb cb, void *ud);
/* Queues a delivery again now (one more attempt). Row (none if unknown):
 * sending ('t' while an attempt is in flight: nothing changed), delivery. */
int store_hook_redeliver(store_pool *p, const char *delivery_id, const store_actor *who,
                         store_cb cb, void *ud);

/* ---- the outbox (delivery thread): typed rows ---- */
/* A claimed delivery; the strings live during the callback only. */
typedef struct store_hook_due {
    const char *id, *webhook_id, *url;
    const char *secret_sealed; /* base64 */
    int attempt;               /* this one, counted from 1 */
    const char *payload;       /* the JSON body */
} store_hook_due;
typedef void (*store_hook_due_cb)(void *ud, const store_hook_due *rows, int n, int err,
                                  const char *msg);
/* Claims up to `limit` due deliveries of enabled endpoints, and 'sending'
 * rows whose lock expired (a crashed process), locking them for lock_s
 * seconds and counting the attempt. */
int store_hook_claim(store_pool *p, int limit, int lock_s, store_hook_due_cb cb, void *ud);

typedef struct store_hook_attempt {
    const char *delivery_id, *webhook_id;
    int attempt;
    int status_code; /* 0: no response */
    int latency_ms;
    const char *response_body; /* first 1 KB, or NULL */
    const char *error;         /* NULL on success */
    const char *status;        /* delivered | retrying | failed */
    double retry_in_s;         /* when retrying */
    int disable_after_s;       /* --webhook-disable-after */
} store_hook_attempt;
/* Records an attempt and its outcome; an endpoint failing continuously for
 * longer than disable_after_s is disabled (its queued deliveries fail) and
 * webhook.disabled is audited: `disabled` says so. */
typedef void (*store_hook_recorded_cb)(void *ud, int err, const char *msg, const char *webhook_id,
                                       bool disabled);
int store_hook_record(store_pool *p, const store_hook_attempt *a, store_hook_recorded_cb cb,
                      void *ud);
/* Deliveries pending, retrying or sending (-1 on error). */
typedef void (*store_hook_queued_cb)(void *ud, int err, long queued);
int store_hook_queued(store_pool *p, store_hook_queued_cb cb, void *ud);

#endif
