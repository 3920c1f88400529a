/*
 * The webhook delivery thread (see outbound.h). Everything below runs on
 * its loop except outbound_start/stop/join and the LISTEN connect, which
 * runs on the uv thread pool because PQconnectdb blocks.
 *
 * Wake-ups: a 1 s tick claims due rows (retries come due on their own and
 * other processes' crashed claims expire, which nothing announces), and
 * NOTIFY shark_webhooks, sent by the outbox trigger at commit, claims at
 * once so a fresh event leaves within milliseconds. The LISTEN connection
 * is only a latency optimisation: while it is down the tick still delivers
 * everything.
 */
#include "outbound.h"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../crypto/seal.h"
#include "../store/store.h"
#include "../store/webhooks.h"
#include "cidr.h"
#include "curluv.h"
#include "fatal.h"
#include "log.h"
#include "shark_config.h"

#define TICK_MS 1000
#define GAUGE_EVERY 5       /* ticks between outbox-depth refreshes */
#define MAX_INFLIGHT 64     /* concurrent attempts per process */
#define BODY_KEEP 1024      /* response bytes recorded */
#define BODY_MAX (64 * 1024) /* response bytes read before giving up */
#define RETRY_AFTER_MAX_S 3600
/* A claim outlives the attempt timeout by this much: enough for the record
 * write (the pool gives up on a query after 5 s), short enough that rows a
 * crashed process held are retried soon. */
#define LOCK_SLACK_S 10

typedef struct outbound outbound;
typedef struct hook_xfer hook_xfer;

struct outbound {
    app *app;
    uv_thread_t thread;
    uv_loop_t loop;
    uv_async_t stop;
    uv_timer_t tick, deadline;
    curluv curl;
    store_pool *pool;
    PGconn *listen;
    uv_poll_t *listen_poll;
    hook_xfer *xfers; /* in flight */
    int inflight;
    int db_pending;   /* queries out: claim, records, gauge */
    unsigned ticks;
    bool connecting;  /* a LISTEN connect is on the thread pool */
    bool claiming, claim_again;
    bool stopping, closing, db_down;
};

struct hook_xfer {
    hook_xfer *next, **prev;
    outbound *ob;
    CURL *easy;
    struct curl_slist *headers;
    char id[64], webhook_id[64], host[256];
    int attempt;
    char *body;
    uint64_t start_ns;
    size_t resp_len, resp_total;
    char resp[BODY_KEEP + 1];
    char refused[200]; /* why a destination address was refused */
    char errbuf[CURL_ERROR_SIZE];
    bool aborted;      /* cut short by shutdown */
};

/* ------------------------------------------------------ address policy */

/* Ranges no webhook may reach unless allowed: the host itself, private
 * networks and cloud metadata (169.254.169.254) are the SSRF targets. */
static const struct {
    const char *cidr, *kind;
} blocked[] = {
    {"0.0.0.0/8", "unspecified"},     {"10.0.0.0/8", "private"},
    {"100.64.0.0/10", "CGNAT"},       {"127.0.0.0/8", "loopback"},
    {"169.254.0.0/16", "link-local"}, {"172.16.0.0/12", "private"},
    {"192.0.0.0/24", "reserved"},     {"192.168.0.0/16", "private"},
    {"198.18.0.0/15", "reserved"},    {"224.0.0.0/4", "multicast"},
    {"240.0.0.0/4", "reserved"},      {"::/128", "unspecified"},
    {"::1/128", "loopback"},          {"64:ff9b::/96", "NAT64"},
    {"fc00::/7", "private"},          {"fe80::/10", "link-local"},
    {"fec0::/10", "site-local"},      {"ff00::/8", "multicast"},
};

static bool allow_listed(const char *allow, const char *host, const uint8_t addr[16])
{
    char item[256];
    while (*allow != '\0') {
        size_t n = strcspn(allow, ",");
        if (n < sizeof(item)) {
            memcpy(item, allow, n);
            item[n] = '\0';
            cidr c;
            if ((host != NULL && strcasecmp(item, host) == 0) ||
                (cidr_parse(item, &c) == 0 && cidr_match(&c, addr)))
                return true;
        }
        allow += n + (allow[n] == ',');
    }
    return false;
}

const char *hook_refusal(const char *allow, const char *host, const uint8_t addr[16])
{
    for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++) {
        cidr c;
        if (cidr_parse(blocked[i].cidr, &c) != 0)
            shark_fatal("bad built-in range");
        if (cidr_match(&c, addr))
            return allow_listed(allow, host, addr) ? NULL : blocked[i].kind;
    }
    return NULL;
}

int hook_url_check(const char *allow, const char *url, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = -1;
    if (u == NULL)
        shark_fatal("out of memory");
    if (strlen(url) > 2000 || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        snprintf(err, errlen, "url must be an absolute http or https URL of at most 2000 bytes");
        goto done;
    }
    /* curl keeps IPv6 literals in brackets. */
    size_t hl = strlen(host);
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    uint8_t addr[16];
    const char *why;
    if (cidr_addr_parse(host, addr) == 0 && (why = hook_refusal(allow, host, addr)) != NULL) {
        snprintf(err, errlen,
                 "url points at a %s address; list it in --webhook-allowed-hosts to allow it", why);
        goto done;
    }
    rc = 0;
done:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

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

static void claim(outbound *ob);
static void maybe_finish(outbound *ob);

static void db_failed(outbound *ob, const char *what, const char *msg)
{
    /* One line per outage, not one per tick. */
    if (!ob->db_down)
        log_msg(LOG_WARN, "webhook delivery: database unavailable", "step", what, "error",
                msg ? msg : "unavailable", NULL);
    ob->db_down = true;
}

static void on_recorded(void *ud, PGresult *res, int err, const char *msg)
{
    outbound *ob = ud;
    ob->db_pending--;
    if (err != STORE_OK)
        db_failed(ob, "record attempt", msg);
    else if (PQgetvalue(res, 0, 1)[0] == 't')
        log_msg(LOG_WARN, "webhook endpoint disabled after failing continuously", "webhook_id",
                PQgetvalue(res, 0, 0), NULL);
    maybe_finish(ob);
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

static void xfer_free(hook_xfer *x)
{
    if (x->easy != NULL) {
        curl_multi_remove_handle(x->ob->curl.multi, x->easy);
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->headers);
    free(x->body);
    free(x);
}

/* Judges one finished (or abandoned) attempt, records it and frees it. */
static void xfer_done(hook_xfer *x, CURLcode rc)
{
    outbound *ob = x->ob;
    const config *c = &ob->app->cfg;
    long code = 0;
    curl_off_t retry_after = -1;
    if (x->easy != NULL) {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &retry_after);
    }
    double secs = (double)(uv_hrtime() - x->start_ns) / 1e9;
    bool answered = code > 0 && (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR &&
                                                     x->resp_total > BODY_MAX));
    const char *status;
    char error[400] = "";
    if (x->aborted) {
        status = "retrying";
        snprintf(error, sizeof(error), "abandoned: the server shut down during the attempt");
    } else if (x->refused[0] != '\0' && !answered) {
        status = "failed"; /* retrying cannot make the address public */
        snprintf(error, sizeof(error), "%s", x->refused);
    } else if (!answered) {
        status = "retrying";
        snprintf(error, sizeof(error), "%s%s%s", curl_easy_strerror(rc), x->errbuf[0] ? ": " : "",
                 x->errbuf);
    } else if (code >= 200 && code < 300) {
        status = "delivered";
    } else {
        /* 408 and 429 ask us to come back; 5xx are the endpoint's trouble;
         * any other answer (4xx, and 3xx since redirects are not followed)
         * will not change. */
        status = code == 408 || code == 429 || code >= 500 ? "retrying" : "failed";
        snprintf(error, sizeof(error), "HTTP %ld%s", code,
                 x->resp_total > BODY_MAX ? " (response body over 64 KB, not read)" : "");
    }
    double delay = 0;
    if (strcmp(status, "retrying") == 0 && x->attempt > c->n_webhook_retry)
        status = "failed";
    else if (strcmp(status, "retrying") == 0)
        delay = retry_delay(c, x->attempt, x->aborted ? 0 : (long long)retry_after);
    metrics_webhook(ob->app->metrics,
                    status[0] == 'd'   ? METRICS_HOOK_DELIVERED
                    : status[0] == 'r' ? METRICS_HOOK_RETRIED
                                       : METRICS_HOOK_FAILED,
                    secs);
    printable(x->resp, x->resp_len);
    printable(error, strlen(error));
    store_hook_attempt in = {
        .delivery_id = x->id,
        .webhook_id = x->webhook_id,
        .attempt = x->attempt,
        .status_code = answered ? (int)code : 0,
        .latency_ms = (int)(secs * 1000),
        .response_body = answered ? x->resp : NULL,
        .error = error[0] ? error : NULL,
        .status = status,
        .retry_in_s = delay,
        .disable_after_s = c->webhook_disable_after_s,
    };
    if (store_hook_record(ob->pool, &in, on_recorded, ob) == 0)
        ob->db_pending++;
    else
        db_failed(ob, "record attempt", "queue full");
    *x->prev = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    ob->inflight--;
    xfer_free(x);
    if (ob->claim_again)
        claim(ob);
    maybe_finish(ob);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    hook_xfer *x = ud;
    size_t len = size * n;
    x->resp_total += len;
    if (x->resp_total > BODY_MAX)
        return 0; /* aborts the transfer: an endpoint cannot make us read forever */
    size_t keep = len < BODY_KEEP - x->resp_len ? len : BODY_KEEP - x->resp_len;
    memcpy(x->resp + x->resp_len, p, keep);
    x->resp_len += keep;
    return len;
}

/* Every connection curl opens passes here with the address it is about to
 * use, after DNS, so a name that resolves (or re-resolves) to a private
 * address is refused, whichever address curl tries. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *sa)
{
    hook_xfer *x = ud;
    uint8_t addr[16] = {0};
    char text[64] = "?";
    if (sa->family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&sa->addr;
        addr[10] = addr[11] = 0xff;
        memcpy(addr + 12, &s4->sin_addr, 4);
        uv_ip4_name(s4, text, sizeof(text));
    } else if (sa->family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&sa->addr;
        memcpy(addr, &s6->sin6_addr, 16);
        uv_ip6_name(s6, text, sizeof(text));
    } else {
        return CURL_SOCKET_BAD;
    }
    const char *why = hook_refusal(x->ob->app->cfg.webhook_allowed_hosts, x->host, addr);
    if (why != NULL) {
        snprintf(x->refused, sizeof(x->refused),
                 "refused: %s resolves to %s, a %s address (see --webhook-allowed-hosts)",
                 x->host, text, why);
        return CURL_SOCKET_BAD;
    }
    return socket(sa->family, sa->socktype | SOCK_CLOEXEC, sa->protocol);
}

static void header_add(hook_xfer *x, const char *h)
{
    struct curl_slist *l = curl_slist_append(x->headers, h);
    if (l == NULL)
        shark_fatal("out of memory");
    x->headers = l;
}

/* The 32-byte signing key: sealed under the master key with the webhook id
 * as associated data (a ciphertext copied to another row does not open). */
static int open_secret(outbound *ob, const char *webhook_id, const char *sealed_b64,
                       uint8_t key[32])
{
    uint8_t box[128], plain[64];
    long n = enc_b64_decode(sealed_b64, strlen(sealed_b64), box, sizeof(box));
    long k = n > 0 ? seal_open(ob->app->master_key, box, (size_t)n, (const uint8_t *)webhook_id,
                               strlen(webhook_id), plain, sizeof(plain))
                   : -1;
    int rc = k == 32 ? 0 : -1;
    if (rc == 0)
        memcpy(key, plain, 32);
    sodium_memzero(plain, sizeof(plain));
    return rc;
}

static int xfer_setup(hook_xfer *x, const char *url, const uint8_t key[32])
{
    const config *c = &x->ob->app->cfg;
    CURLU *u = curl_url();
    char *host = NULL;
    if (u == NULL)
        shark_fatal("out of memory");
    int ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK;
    if (ok) {
        size_t hl = strlen(host);
        bool v6 = hl > 2 && host[0] == '[';
        snprintf(x->host, sizeof(x->host), "%.*s", (int)(v6 ? hl - 2 : hl), host + v6);
    }
    curl_free(host);
    curl_url_cleanup(u);
    if (!ok || (x->easy = curl_easy_init()) == NULL)
        return -1;

    char h[128], sig[HOOK_SIG_LEN];
    long long ts = (long long)time(NULL);
    hook_sign(key, 32, x->id, ts, x->body, strlen(x->body), sig);
    header_add(x, "Content-Type: application/json");
    header_add(x, "User-Agent: SharkAuth-Webhooks/" SHARK_VERSION);
    header_add(x, "Expect:"); /* no 100-continue round trip */
    snprintf(h, sizeof(h), "webhook-id: %s", x->id);
    header_add(x, h);
    snprintf(h, sizeof(h), "webhook-timestamp: %lld", ts);
    header_add(x, h);
    snprintf(h, sizeof(h), "webhook-signature: %s", sig);
    header_add(x, h);

    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*"); /* a proxy would connect where we cannot check */
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->webhook_timeout_s * 1000);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    return curl_multi_add_handle(x->ob->curl.multi, e) == CURLM_OK ? 0 : -1;
}

/* Row of the claim: id, webhook_id, url, secret (sealed, base64), attempt,
 * payload. A row that cannot even be tried is recorded as failed. */
static void xfer_start(outbound *ob, PGresult *res, int row)
{
    hook_xfer *x = calloc(1, sizeof(*x));
    if (x == NULL || (x->body = strdup(PQgetvalue(res, row, 5))) == NULL)
        shark_fatal("out of memory");
    x->ob = ob;
    snprintf(x->id, sizeof(x->id), "%s", PQgetvalue(res, row, 0));
    snprintf(x->webhook_id, sizeof(x->webhook_id), "%s", PQgetvalue(res, row, 1));
    x->attempt = atoi(PQgetvalue(res, row, 4));
    x->start_ns = uv_hrtime();
    x->next = ob->xfers;
    x->prev = &ob->xfers;
    if (ob->xfers != NULL)
        ob->xfers->prev = &x->next;
    ob->xfers = x;
    ob->inflight++;
    uint8_t key[32];
    int rc = open_secret(ob, x->webhook_id, PQgetvalue(res, row, 3), key);
    if (rc == 0)
        rc = xfer_setup(x, PQgetvalue(res, row, 2), key);
    sodium_memzero(key, sizeof(key));
    if (rc != 0) {
        snprintf(x->refused, sizeof(x->refused), "cannot prepare the request (secret or URL)");
        xfer_done(x, CURLE_FAILED_INIT);
    }
}

static void on_claimed(void *ud, PGresult *res, int err, const char *msg)
{
    outbound *ob = ud;
    ob->db_pending--;
    ob->claiming = false;
    if (err != STORE_OK) {
        db_failed(ob, "claim", msg);
        maybe_finish(ob);
        return;
    }
    ob->db_down = false;
    int n = PQntuples(res);
    for (int i = 0; i < n; i++)
        xfer_start(ob, res, i);
    /* Rows came: more may be due; an empty answer ends the round. */
    if (n > 0)
        ob->claim_again = true;
    if (ob->claim_again)
        claim(ob);
    maybe_finish(ob);
}

static void claim(outbound *ob)
{
    int room = MAX_INFLIGHT - ob->inflight;
    ob->claim_again = ob->claiming || room <= 0;
    if (ob->stopping || ob->claim_again)
        return;
    int lock_s = ob->app->cfg.webhook_timeout_s + LOCK_SLACK_S;
    if (store_hook_claim(ob->pool, room, lock_s, on_claimed, ob) != 0)
        return;
    ob->claiming = true;
    ob->db_pending++;
}

static void on_gauge(void *ud, PGresult *res, int err, const char *msg)
{
    outbound *ob = ud;
    ob->db_pending--;
    if (err == STORE_OK)
        metrics_webhook_queued(ob->app->metrics, atol(PQgetvalue(res, 0, 0)));
    maybe_finish(ob);
}

/* ------------------------------------------------ LISTEN shark_webhooks */

struct listen_work {
    uv_work_t work;
    outbound *ob;
    PGconn *pg;
};

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void listen_close(outbound *ob)
{
    if (ob->listen_poll != NULL)
        uv_close((uv_handle_t *)ob->listen_poll, free_handle);
    ob->listen_poll = NULL;
    PQfinish(ob->listen);
    ob->listen = NULL;
}

static void on_listen_readable(uv_poll_t *h, int status, int events)
{
    outbound *ob = h->data;
    if (status < 0 || !PQconsumeInput(ob->listen)) {
        listen_close(ob); /* the next tick reconnects */
        return;
    }
    bool woken = false;
    PGnotify *n;
    while ((n = PQnotifies(ob->listen)) != NULL) {
        PQfreemem(n);
        woken = true;
    }
    if (woken)
        claim(ob);
}

/* Thread pool: a blocking connect and LISTEN, bounded by connect_timeout. */
static void listen_connect_run(uv_work_t *w)
{
    struct listen_work *lw = w->data;
    const char *keys[] = {"dbname", "connect_timeout", NULL};
    const char *vals[] = {lw->ob->app->conninfo, "5", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    PGresult *r = PQstatus(pg) == CONNECTION_OK ? PQexec(pg, "LISTEN shark_webhooks") : NULL;
    if (PQresultStatus(r) != PGRES_COMMAND_OK || PQsetnonblocking(pg, 1) != 0) {
        PQfinish(pg);
        pg = NULL;
    }
    PQclear(r);
    lw->pg = pg;
}

static void listen_connect_done(uv_work_t *w, int status)
{
    struct listen_work *lw = w->data;
    outbound *ob = lw->ob;
    PGconn *pg = lw->pg;
    free(lw);
    ob->connecting = false;
    if (pg != NULL && !ob->stopping) {
        ob->listen = pg;
        ob->listen_poll = malloc(sizeof(*ob->listen_poll));
        if (ob->listen_poll == NULL ||
            uv_poll_init_socket(&ob->loop, ob->listen_poll, PQsocket(pg)) != 0) {
            free(ob->listen_poll);
            ob->listen_poll = NULL;
            listen_close(ob);
            return;
        }
        ob->listen_poll->data = ob;
        uv_poll_start(ob->listen_poll, UV_READABLE, on_listen_readable);
        claim(ob); /* catch up on what was queued while we were not listening */
        return;
    }
    PQfinish(pg);
    maybe_finish(ob);
}

static void listen_connect(outbound *ob)
{
    struct listen_work *lw = calloc(1, sizeof(*lw));
    if (lw == NULL)
        return;
    lw->ob = ob;
    lw->work.data = lw;
    if (uv_queue_work(&ob->loop, &lw->work, listen_connect_run, listen_connect_done) != 0) {
        free(lw);
        return;
    }
    ob->connecting = true;
}

static void on_tick(uv_timer_t *t)
{
    outbound *ob = t->data;
    if (ob->listen == NULL && !ob->connecting)
        listen_connect(ob);
    claim(ob);
    if (ob->ticks++ % GAUGE_EVERY == 0 && store_hook_queued(ob->pool, on_gauge, ob) == 0)
        ob->db_pending++;
}

/* A delivery attempt ended. */
static void on_transfer_done(void *ud, CURL *easy, CURLcode rc)
{
    char *x;
    (void)ud;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &x);
    xfer_done((hook_xfer *)x, rc);
}

/* ------------------------------------------------------------ lifecycle */

static void on_pool_closed(void *ud)
{
    outbound *ob = ud;
    ob->pool = NULL;
    /* Closes curl's cached connections (their CURL_POLL_REMOVE closes the
     * poll handles) before the loop's last handles go. */
    curluv_close(&ob->curl);
    uv_close((uv_handle_t *)&ob->stop, NULL);
    uv_close((uv_handle_t *)&ob->tick, NULL);
    uv_close((uv_handle_t *)&ob->deadline, NULL);
}

/* The loop ends once stopping, nothing is in flight, every record is
 * written and no connect is out: then the pool and the handles close. */
static void maybe_finish(outbound *ob)
{
    if (!ob->stopping || ob->closing || ob->inflight > 0 || ob->db_pending > 0 || ob->connecting)
        return;
    ob->closing = true;
    uv_timer_stop(&ob->deadline);
    store_pool_close(ob->pool, on_pool_closed, ob);
}

/* Out of patience: attempts still running are abandoned and rescheduled. */
static void on_deadline(uv_timer_t *t)
{
    outbound *ob = t->data;
    while (ob->xfers != NULL) {
        ob->xfers->aborted = true;
        xfer_done(ob->xfers, CURLE_ABORTED_BY_CALLBACK);
    }
}

static void on_stop(uv_async_t *h)
{
    outbound *ob = h->data;
    if (ob->stopping)
        return;
    ob->stopping = true;
    uv_timer_stop(&ob->tick);
    listen_close(ob);
    uv_timer_start(&ob->deadline, on_deadline, (uint64_t)ob->app->cfg.shutdown_timeout_ms, 0);
    maybe_finish(ob);
}

static void thread_main(void *arg)
{
    outbound *ob = arg;
    uv_run(&ob->loop, UV_RUN_DEFAULT);
}

int outbound_start(app *a)
{
    /* Not thread-safe, hence here: the request loops have not started. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    outbound *ob = calloc(1, sizeof(*ob));
    if (ob == NULL || uv_loop_init(&ob->loop) != 0) {
        free(ob);
        return -1;
    }
    ob->app = a;
    uv_async_init(&ob->loop, &ob->stop, on_stop);
    uv_timer_init(&ob->loop, &ob->tick);
    uv_timer_init(&ob->loop, &ob->deadline);
    ob->stop.data = ob->tick.data = ob->deadline.data = ob;
    ob->pool = store_pool_new(&ob->loop, a->conninfo, 2, 5000);
    if (curluv_init(&ob->curl, &ob->loop, on_transfer_done, ob) != 0 || ob->pool == NULL)
        shark_fatal("cannot set up webhook delivery");
    uv_timer_start(&ob->tick, on_tick, 0, TICK_MS);
    a->outbound = ob;
    if (uv_thread_create(&ob->thread, thread_main, ob) != 0)
        shark_fatal("cannot start the webhook delivery thread");
    return 0;
}

void outbound_stop(app *a)
{
    if (a->outbound != NULL)
        uv_async_send(&a->outbound->stop);
}

void outbound_join(app *a)
{
    outbound *ob = a->outbound;
    if (ob == NULL)
        return;
    uv_async_send(&ob->stop);
    uv_thread_join(&ob->thread);
    uv_loop_close(&ob->loop);
    free(ob);
    a->outbound = NULL;
    curl_global_cleanup();
}
