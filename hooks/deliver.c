/*
 * The webhook delivery thread (see deliver.h). Everything below runs on its
 * loop except hooks_start/stop/join.
 *
 * Wake-ups: a 1 s tick claims due rows (retries come due on their own and
 * other processes' crashed claims expire, which nothing announces), and
 * NOTIFY shark_webhooks, sent by the outbox trigger at commit, claims at
 * once so a fresh event leaves within milliseconds.
 */
#include "deliver.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/fatal.h"
#include "../core/fetch.h"
#include "../core/log.h"
#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../crypto/seal.h"
#include "../store/listen.h"
#include "../store/store.h"
#include "../store/webhooks.h"
#include "shark_config.h"

#define TICK_MS 1000
#define GAUGE_EVERY 5    /* ticks between outbox-depth refreshes */
#define MAX_INFLIGHT 64  /* concurrent attempts per process */
#define BODY_KEEP 1024   /* response bytes recorded */
#define RETRY_AFTER_MAX_S 3600
/* A claim outlives the attempt timeout by this much: enough for the record
 * write (the pool gives up on a query after 5 s), short enough that rows a
 * crashed process held are retried soon. */
#define LOCK_SLACK_S 10

typedef struct hooks hooks;
typedef struct hook_xfer hook_xfer;

struct hooks {
    app *app;
    uv_thread_t thread;
    uv_loop_t loop;
    uv_async_t stop;
    uv_timer_t tick;
    store_pool *pool;
    store_listener *listen;
    int inflight;   /* attempts out at the outbound service */
    int db_pending; /* queries out: claim, records, gauge */
    unsigned ticks;
    bool claiming, claim_again;
    bool stopping, closing, db_down;
};

/* One attempt, from the claim until its answer is recorded. */
struct hook_xfer {
    hooks *h;
    char id[64], webhook_id[64];
    int attempt;
};

/* The one delivery service of the process (hooks_start to hooks_join). */
static hooks *running;

void hook_sign(const uint8_t *key, size_t keylen, const char *id, long long ts, const char *body,
               size_t bodylen, char out[HOOK_SIG_LEN])
{
    char head[96];
    int hl = snprintf(head, sizeof(head), "%s.%lld.", id, ts);
    char *msg = malloc((size_t)hl + bodylen);
    if (msg == NULL)
        shark_fatal("out of memory");
    memcpy(msg, head, (size_t)hl);
    memcpy(msg + hl, body, bodylen);
    uint8_t mac[HASH_SHA256_LEN];
    hash_hmac_sha256(key, keylen, msg, (size_t)hl + bodylen, mac);
    free(msg);
    memcpy(out, "v1,", 3);
    enc_b64(mac, sizeof(mac), out + 3, HOOK_SIG_LEN - 3);
}

/* -------------------------------------------------------- the outbox */

static void claim(hooks *h);
static void maybe_finish(hooks *h);

static void db_failed(hooks *h, const char *what, const char *msg)
{
    /* One line per outage, not one per tick. */
    if (!h->db_down)
        log_msg(LOG_WARN, "webhook delivery: database unavailable", "step", what, "error",
                msg ? msg : "unavailable", NULL);
    h->db_down = true;
}

static void on_recorded(void *ud, int err, const char *msg, const char *webhook_id, bool disabled)
{
    hooks *h = ud;
    h->db_pending--;
    if (err != STORE_OK)
        db_failed(h, "record attempt", msg);
    else if (disabled)
        log_msg(LOG_WARN, "webhook endpoint disabled after failing continuously", "webhook_id",
                webhook_id, NULL);
    maybe_finish(h);
}

/* Delay before the next attempt: the schedule's entry with +-20 % jitter
 * (so endpoints that failed together do not retry in lockstep), and never
 * sooner than the endpoint's own Retry-After. */
static double retry_delay(const config *c, int attempt, long long retry_after)
{
    uint32_t r;
    hash_random(&r, sizeof(r));
    double d = c->webhook_retry_s[attempt - 1] * (0.8 + 0.4 * (r / 4294967295.0));
    if (retry_after > RETRY_AFTER_MAX_S)
        retry_after = RETRY_AFTER_MAX_S;
    return retry_after > d ? (double)retry_after : d;
}

/* Text columns take valid UTF-8 only: what an endpoint sends is kept as
 * printable ASCII, anything else becomes '?'. */
static void printable(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x7f ||
            ((unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\r' && s[i] != '\t'))
            s[i] = '?';
    s[n] = '\0';
}

/* Judges one finished (or failed) attempt, records it and frees it.
 * res == NULL: the request could not even be made. */
static void xfer_done(hook_xfer *x, const fetch_response *res)
{
    hooks *h = x->h;
    const config *c = &h->app->cfg;
    long code = res != NULL ? res->status : 0;
    bool answered = code > 0 && (res->error == NULL || res->too_big);
    const char *status;
    char error[400] = "", body[BODY_KEEP + 1] = "";
    size_t body_len = 0;
    if (res == NULL) {
        status = "failed";
        snprintf(error, sizeof(error), "cannot prepare the request (secret or URL)");
    } else if (res->refused && !answered) {
        status = "failed"; /* retrying cannot make the address public */
        snprintf(error, sizeof(error), "%s", res->error);
    } else if (!answered) {
        status = "retrying";
        snprintf(error, sizeof(error), "%s", res->error ? res->error : "no answer");
    } else if (code >= 200 && code < 300) {
        status = "delivered";
    } else {
        /* 408 and 429 ask us to come back; 5xx are the endpoint's trouble;
         * any other answer (4xx, and 3xx since redirects are not followed)
         * will not change. */
        status = code == 408 || code == 429 || code >= 500 ? "retrying" : "failed";
        snprintf(error, sizeof(error), "HTTP %ld%s", code,
                 res->too_big ? " (response body over 64 KB, not read)" : "");
    }
    if (answered) {
        body_len = res->body_len < BODY_KEEP ? res->body_len : BODY_KEEP;
        memcpy(body, res->body, body_len);
    }
    double delay = 0;
    if (strcmp(status, "retrying") == 0 && x->attempt > c->n_webhook_retry)
        status = "failed";
    else if (strcmp(status, "retrying") == 0)
        delay = retry_delay(c, x->attempt, res != NULL ? res->retry_after_s : -1);
    double secs = res != NULL ? (double)res->elapsed_ms / 1e3 : 0;
    metrics_webhook(h->app->metrics,
                    status[0] == 'd'   ? METRICS_HOOK_DELIVERED
                    : status[0] == 'r' ? METRICS_HOOK_RETRIED
                                       : METRICS_HOOK_FAILED,
                    secs);
    printable(body, body_len);
    printable(error, strlen(error));
    store_hook_attempt in = {
        .delivery_id = x->id,
        .webhook_id = x->webhook_id,
        .attempt = x->attempt,
        .status_code = answered ? (int)code : 0,
        .latency_ms = res != NULL ? (int)res->elapsed_ms : 0,
        .response_body = answered ? body : NULL,
        .error = error[0] ? error : NULL,
        .status = status,
        .retry_in_s = delay,
        .disable_after_s = c->webhook_disable_after_s,
    };
    if (store_hook_record(h->pool, &in, on_recorded, h) == 0)
        h->db_pending++;
    else
        db_failed(h, "record attempt", "queue full");
    h->inflight--;
    free(x);
    if (h->claim_again)
        claim(h);
    maybe_finish(h);
}

static void on_answer(void *ud, const fetch_response *res)
{
    xfer_done(ud, res);
}

/* The 32-byte signing key: sealed under the master key with the webhook id
 * as associated data (a ciphertext copied to another row does not open). */
static int open_secret(hooks *h, const char *webhook_id, const char *sealed_b64, uint8_t key[32])
{
    uint8_t box[128], plain[64];
    long n = enc_b64_decode(sealed_b64, strlen(sealed_b64), box, sizeof(box));
    long k = n > 0 ? seal_open(h->app->master_key, box, (size_t)n, (const uint8_t *)webhook_id,
                               strlen(webhook_id), plain, sizeof(plain))
                   : -1;
    int rc = k == 32 ? 0 : -1;
    if (rc == 0)
        memcpy(key, plain, 32);
    sodium_memzero(plain, sizeof(plain));
    return rc;
}

static bool url_usable(const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL;
    if (u == NULL)
        shark_fatal("out of memory");
    bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK;
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* Signs the claimed row and hands it to the outbound service. */
static int xfer_submit(hook_xfer *x, const store_hook_due *row)
{
    hooks *h = x->h;
    uint8_t key[32];
    if (!url_usable(row->url) || open_secret(h, x->webhook_id, row->secret_sealed, key) != 0)
        return -1;
    char id[96], stamp[64], sig[HOOK_SIG_LEN], sighdr[96];
    long long ts = (long long)time(NULL);
    size_t len = strlen(row->payload);
    hook_sign(key, 32, x->id, ts, row->payload, len, sig);
    sodium_memzero(key, sizeof(key));
    snprintf(id, sizeof(id), "webhook-id: %s", x->id);
    snprintf(stamp, sizeof(stamp), "webhook-timestamp: %lld", ts);
    snprintf(sighdr, sizeof(sighdr), "webhook-signature: %s", sig);
    const char *headers[] = {"Content-Type: application/json",
                             "User-Agent: SharkAuth-Webhooks/" SHARK_VERSION,
                             id,
                             stamp,
                             sighdr,
                             NULL};
    fetch_request rq = {
        .method = "POST",
        .url = row->url,
        .headers = headers,
        .body = row->payload,
        .body_len = len,
        .timeout_ms = h->app->cfg.webhook_timeout_s * 1000,
    };
    return fetch_submit(h->app, &rq, on_answer, x, &h->loop);
}

/* A row that cannot even be tried is recorded as failed. */
static void xfer_start(hooks *h, const store_hook_due *row)
{
    hook_xfer *x = calloc(1, sizeof(*x));
    if (x == NULL)
        shark_fatal("out of memory");
    x->h = h;
    snprintf(x->id, sizeof(x->id), "%s", row->id);
    snprintf(x->webhook_id, sizeof(x->webhook_id), "%s", row->webhook_id);
    x->attempt = row->attempt;
    h->inflight++;
    if (xfer_submit(x, row) != 0)
        xfer_done(x, NULL);
}

static void on_claimed(void *ud, const store_hook_due *rows, int n, int err, const char *msg)
{
    hooks *h = ud;
    h->db_pending--;
    h->claiming = false;
    if (err != STORE_OK) {
        db_failed(h, "claim", msg);
        maybe_finish(h);
        return;
    }
    h->db_down = false;
    for (int i = 0; i < n; i++)
        xfer_start(h, &rows[i]);
    /* Rows came: more may be due; an empty answer ends the round. */
    if (n > 0)
        h->claim_again = true;
    if (h->claim_again)
        claim(h);
    maybe_finish(h);
}

static void claim(hooks *h)
{
    int room = MAX_INFLIGHT - h->inflight;
    h->claim_again = h->claiming || room <= 0;
    if (h->stopping || h->claim_again)
        return;
    int lock_s = h->app->cfg.webhook_timeout_s + LOCK_SLACK_S;
    if (store_hook_claim(h->pool, room, lock_s, on_claimed, h) != 0)
        return;
    h->claiming = true;
    h->db_pending++;
}

static void on_gauge(void *ud, int err, long queued)
{
    hooks *h = ud;
    h->db_pending--;
    if (err == STORE_OK)
        metrics_webhook_queued(h->app->metrics, queued);
    maybe_finish(h);
}

static void on_notified(void *ud)
{
    claim(ud);
}

static void on_tick(uv_timer_t *t)
{
    hooks *h = t->data;
    store_listen_check(h->listen);
    claim(h);
    if (h->ticks++ % GAUGE_EVERY == 0 && store_hook_queued(h->pool, on_gauge, h) == 0)
        h->db_pending++;
}

/* ------------------------------------------------------------ lifecycle */

static void on_pool_closed(void *ud)
{
    hooks *h = ud;
    h->pool = NULL;
    uv_close((uv_handle_t *)&h->stop, NULL);
    uv_close((uv_handle_t *)&h->tick, NULL);
}

/* The loop ends once stopping, no attempt is out and every record is
 * written: then the pool and the handles close (the outbound service's
 * reply handles on this loop close when it says GONE). */
static void maybe_finish(hooks *h)
{
    if (!h->stopping || h->closing || h->inflight > 0 || h->db_pending > 0)
        return;
    h->closing = true;
    store_pool_close(h->pool, on_pool_closed, h);
}

static fetch_loop_status loop_state(void *owner)
{
    hooks *h = owner;
    return h->pool == NULL ? FETCH_LOOP_GONE : h->stopping ? FETCH_LOOP_DRAINING : FETCH_LOOP_LIVE;
}

static void on_stop(uv_async_t *a)
{
    hooks *h = a->data;
    if (h->stopping)
        return;
    h->stopping = true;
    uv_timer_stop(&h->tick);
    store_listen_free(h->listen);
    h->listen = NULL;
    maybe_finish(h);
}

static void thread_main(void *arg)
{
    hooks *h = arg;
    uv_run(&h->loop, UV_RUN_DEFAULT);
}

int hooks_start(app *a)
{
    hooks *h = calloc(1, sizeof(*h));
    if (h == NULL || uv_loop_init(&h->loop) != 0) {
        free(h);
        return -1;
    }
    h->app = a;
    uv_async_init(&h->loop, &h->stop, on_stop);
    uv_timer_init(&h->loop, &h->tick);
    h->stop.data = h->tick.data = h;
    h->pool = store_pool_new(&h->loop, a->conninfo, 2, 5000);
    h->listen = store_listen_new(&h->loop, a->conninfo, "shark_webhooks", on_notified, h);
    if (h->pool == NULL || h->listen == NULL)
        shark_fatal("cannot set up webhook delivery");
    fetch_attach(a, &h->loop, loop_state, h);
    uv_timer_start(&h->tick, on_tick, 0, TICK_MS);
    running = h;
    if (uv_thread_create(&h->thread, thread_main, h) != 0)
        shark_fatal("cannot start the webhook delivery thread");
    return 0;
}

void hooks_stop(app *a)
{
    if (running != NULL)
        uv_async_send(&running->stop);
}

void hooks_join(app *a)
{
    hooks *h = running;
    if (h == NULL)
        return;
    uv_async_send(&h->stop);
    uv_thread_join(&h->thread);
    uv_loop_close(&h->loop);
    free(h);
    running = NULL;
}
