/*
 * The outbound HTTP service (see fetch.h). Three kinds of code live here:
 * fetch_submit and the reply side run on request loops; everything between
 * (resolution, curl) runs on the fetch thread's loop; init/start/stop/join
 * run on the main thread.
 *
 * The destination policy itself is core/egress.c.
 *
 * A job goes: caller's loop -> f->queue (f->lock) -> fetch loop (resolve,
 * check, curl) -> reply->done (reply->lock) -> caller's loop -> freed.
 */
#include "fetch.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"
#include "curluv.h"
#include "egress.h"
#include "fatal.h"
#include "shark_config.h"

#define WATCH_MS 100 /* how often a reply loop looks for its own shutdown */

typedef struct fetch_job fetch_job;
typedef struct fetch_reply fetch_reply;

/* One per registered loop; freed by fetch_join. */
struct fetch_reply {
    uv_loop_t *loop;
    fetch_loop_state state; /* is the loop still there for answers? */
    void *owner;
    uv_async_t async;  /* fetch thread -> this loop: jobs are done */
    uv_timer_t watch;
    uv_mutex_t lock;   /* guards done and closed */
    fetch_job *done, **done_tail;
    bool closed;       /* handles closing: finished jobs are dropped */
    int pending;       /* submitted, not yet delivered (this loop only) */
};

typedef struct fetch {
    app *app;
    uv_thread_t thread;
    uv_loop_t loop;
    uv_async_t wake;   /* request loops / main -> fetch loop */
    uv_timer_t deadline;
    curluv curl;
    uv_mutex_t lock;   /* guards queue and accepting */
    fetch_job *queue, **queue_tail;
    bool accepting;    /* false before start and from the first signal on */
    bool running, stopping, aborting, closing; /* fetch loop only */
    fetch_job *inflight;
    int ninflight;
    fetch_reply **replies; /* written before the loops start, then read-only */
    int nreplies;
} fetch;

struct fetch_job {
    fetch_job *next;           /* f->queue, then reply->done */
    fetch_job *inext, **iprev; /* f->inflight */
    fetch *f;
    fetch_reply *reply;
    fetch_cb cb;
    void *ud;
    char *method, *url, *body, *ca_file;
    size_t body_len, body_max;
    bool https_only;
    struct curl_slist *headers, *resolve;
    int timeout_ms;
    char host[256];
    uv_getaddrinfo_t gai;
    bool resolving;
    CURL *easy;
    char *resp;
    size_t resp_len, resp_cap;
    bool too_big, refused;
    long status;
    long long retry_after;
    char content_type[128];
    char cache_control[256];
    char error[300];
    char errbuf[CURL_ERROR_SIZE];
    uint64_t start_ns;
};

static void job_free(fetch_job *j)
{
    if (j->body != NULL) {
        sodium_memzero(j->body, j->body_len);
        free(j->body);
    }
    if (j->resp != NULL) {
        sodium_memzero(j->resp, j->resp_len);
        free(j->resp);
    }
    free(j->method);
    free(j->url);
    free(j->ca_file);
    curl_slist_free_all(j->headers);
    curl_slist_free_all(j->resolve);
    free(j);
}

/* ------------------------------------------------------ the reply side */

/* Any thread: hands a finished job to its loop, or drops it if that loop
 * is gone. */
static void reply_post(fetch_job *j)
{
    fetch_reply *r = j->reply;
    uv_mutex_lock(&r->lock);
    if (r->closed) {
        uv_mutex_unlock(&r->lock);
        job_free(j);
        return;
    }
    j->next = NULL;
    *r->done_tail = j;
    r->done_tail = &j->next;
    uv_async_send(&r->async);
    uv_mutex_unlock(&r->lock);
}

static fetch_job *reply_take(fetch_reply *r)
{
    uv_mutex_lock(&r->lock);
    fetch_job *list = r->done;
    r->done = NULL;
    r->done_tail = &r->done;
    uv_mutex_unlock(&r->lock);
    return list;
}

static void reply_close(fetch_reply *r)
{
    uv_mutex_lock(&r->lock);
    r->closed = true;
    uv_mutex_unlock(&r->lock);
    for (fetch_job *j = reply_take(r), *next; j != NULL; j = next) {
        next = j->next;
        r->pending--;
        job_free(j);
    }
    uv_close((uv_handle_t *)&r->async, NULL);
    uv_close((uv_handle_t *)&r->watch, NULL);
}

static void on_reply(uv_async_t *h)
{
    fetch_reply *r = h->data;
    if (r->state(r->owner) == FETCH_LOOP_GONE) {
        reply_close(r);
        return;
    }
    for (fetch_job *j = reply_take(r), *next; j != NULL; j = next) {
        next = j->next;
        r->pending--;
        fetch_response res = {
            .status = j->status,
            .error = j->error[0] ? j->error : NULL,
            .refused = j->refused,
            .too_big = j->too_big,
            .body = j->resp ? j->resp : "",
            .body_len = j->resp_len,
            .content_type = j->content_type,
            .cache_control = j->cache_control,
            .retry_after_s = j->retry_after,
            .elapsed_ms = (long long)((uv_hrtime() - j->start_ns) / 1000000u),
        };
        j->cb(j->ud, &res);
        job_free(j);
    }
}

/* The loop ends only once every handle is closed: ours close when the
 * loop drains with nothing outstanding, or when it is gone. */
static void on_watch(uv_timer_t *t)
{
    fetch_reply *r = t->data;
    fetch_loop_status st = r->state(r->owner);
    if ((st == FETCH_LOOP_DRAINING && r->pending == 0) || st == FETCH_LOOP_GONE)
        reply_close(r);
}

/* A request loop is there for answers while its pool is. */
static fetch_loop_status worker_state(void *owner)
{
    worker *w = owner;
    return w->pool == NULL ? FETCH_LOOP_GONE : w->draining ? FETCH_LOOP_DRAINING : FETCH_LOOP_LIVE;
}

void fetch_loop_init(worker *w)
{
    fetch_attach(w->app, &w->loop, worker_state, w);
}

void fetch_attach(app *a, uv_loop_t *loop, fetch_loop_state state, void *owner)
{
    fetch *f = a->fetch;
    if (f == NULL)
        return;
    fetch_reply *r = calloc(1, sizeof(*r));
    fetch_reply **grown = realloc(f->replies, (size_t)(f->nreplies + 1) * sizeof(*grown));
    if (r == NULL || grown == NULL || uv_mutex_init(&r->lock) != 0)
        shark_fatal("cannot set up outbound HTTP replies");
    f->replies = grown;
    f->replies[f->nreplies++] = r;
    r->loop = loop;
    r->state = state;
    r->owner = owner;
    r->done_tail = &r->done;
    uv_async_init(loop, &r->async, on_reply);
    uv_timer_init(loop, &r->watch);
    r->async.data = r->watch.data = r;
    uv_timer_start(&r->watch, on_watch, WATCH_MS, WATCH_MS);
}

/* Request loop: the caller's memory is copied; the job goes to the fetch
 * thread, or straight back as failed when the service does not accept. */
int fetch_submit(app *a, const fetch_request *rq, fetch_cb cb, void *ud, uv_loop_t *reply_loop)
{
    fetch *f = a->fetch;
    fetch_reply *r = NULL;
    for (int i = 0; f != NULL && i < f->nreplies && r == NULL; i++)
        if (f->replies[i]->loop == reply_loop)
            r = f->replies[i];
    if (r == NULL)
        return -1;
    fetch_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return -1;
    j->f = f;
    j->reply = r;
    j->cb = cb;
    j->ud = ud;
    j->retry_after = -1;
    j->start_ns = uv_hrtime();
    j->timeout_ms = rq->timeout_ms > 0 ? rq->timeout_ms : FETCH_TIMEOUT_MS;
    j->body_max = rq->body_max > 0 && rq->body_max < FETCH_BODY_MAX ? rq->body_max : FETCH_BODY_MAX;
    j->https_only = rq->https_only;
    j->method = strdup(rq->method ? rq->method : rq->body ? "POST" : "GET");
    j->url = strdup(rq->url);
    j->ca_file = rq->ca_file != NULL && *rq->ca_file != '\0' ? strdup(rq->ca_file) : NULL;
    bool ok = j->method != NULL && j->url != NULL &&
              (j->ca_file != NULL || rq->ca_file == NULL || *rq->ca_file == '\0');
    if (ok && rq->body != NULL) {
        j->body = malloc(rq->body_len + 1);
        ok = j->body != NULL;
        if (ok) {
            memcpy(j->body, rq->body, rq->body_len);
            j->body[rq->body_len] = '\0';
            j->body_len = rq->body_len;
        }
    }
    for (const char *const *h = rq->headers; ok && h != NULL && *h != NULL; h++) {
        struct curl_slist *l = curl_slist_append(j->headers, *h);
        ok = l != NULL;
        if (ok)
            j->headers = l;
    }
    if (!ok) {
        job_free(j);
        return -1;
    }
    r->pending++;
    uv_mutex_lock(&f->lock);
    bool accepted = f->accepting;
    if (accepted) {
        *f->queue_tail = j;
        f->queue_tail = &j->next;
        uv_async_send(&f->wake);
    }
    uv_mutex_unlock(&f->lock);
    if (!accepted) {
        snprintf(j->error, sizeof(j->error), "outbound HTTP is shutting down");
        reply_post(j);
    }
    return 0;
}

/* ------------------------------------------------- the fetch thread */

static void maybe_finish(fetch *f);
static void on_deadline(uv_timer_t *t);

static void inflight_add(fetch *f, fetch_job *j)
{
    j->inext = f->inflight;
    j->iprev = &f->inflight;
    if (f->inflight != NULL)
        f->inflight->iprev = &j->inext;
    f->inflight = j;
    f->ninflight++;
}

/* Ends a job in flight (answered or not) and sends it home. */
static void job_done(fetch_job *j)
{
    fetch *f = j->f;
    if (j->easy != NULL) {
        curl_multi_remove_handle(f->curl.multi, j->easy);
        curl_easy_cleanup(j->easy);
        j->easy = NULL;
    }
    *j->iprev = j->inext;
    if (j->inext != NULL)
        j->inext->iprev = j->iprev;
    f->ninflight--;
    reply_post(j);
    maybe_finish(f);
}

static void job_fail(fetch_job *j, bool refused, const char *fmt, const char *arg)
{
    j->refused = refused;
    snprintf(j->error, sizeof(j->error), fmt, arg);
    job_done(j);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    fetch_job *j = ud;
    size_t len = size * n;
    if (j->resp_len + len > j->body_max) {
        j->too_big = true;
        return 0; /* aborts the transfer: a server cannot make us read forever */
    }
    if (j->resp_len + len + 1 > j->resp_cap) {
        size_t cap = j->resp_cap ? j->resp_cap : 4096;
        while (cap < j->resp_len + len + 1)
            cap *= 2;
        char *grown = malloc(cap);
        if (grown == NULL)
            return 0;
        if (j->resp != NULL) {
            memcpy(grown, j->resp, j->resp_len);
            sodium_memzero(j->resp, j->resp_len); /* token responses carry secrets */
            free(j->resp);
        }
        j->resp = grown;
        j->resp_cap = cap;
    }
    memcpy(j->resp + j->resp_len, p, len);
    j->resp_len += len;
    j->resp[j->resp_len] = '\0';
    return len;
}

static void addr16(const struct sockaddr *sa, uint8_t addr[16], char *text, size_t tl)
{
    memset(addr, 0, 16);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        addr[10] = addr[11] = 0xff;
        memcpy(addr + 12, &s4->sin_addr, 4);
        uv_ip4_name(s4, text, tl);
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        memcpy(addr, &s6->sin6_addr, 16);
        uv_ip6_name(s6, text, tl);
    }
}

/* Belt and braces behind the pinning: every socket curl opens is checked
 * against the policy with the address it is about to use. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *sa)
{
    fetch_job *j = ud;
    uint8_t addr[16];
    char text[64] = "?";
    if (sa->family != AF_INET && sa->family != AF_INET6)
        return CURL_SOCKET_BAD;
    addr16(&sa->addr, addr, text, sizeof(text));
    const char *why = egress_refusal(j->f->app->cfg.webhook_allowed_hosts, j->host, addr);
    if (why != NULL) {
        j->refused = true;
        snprintf(j->error, sizeof(j->error), "refused: %s is a %s address", text, why);
        return CURL_SOCKET_BAD;
    }
    return socket(sa->family, sa->socktype | SOCK_CLOEXEC, sa->protocol);
}

static void job_transfer(fetch_job *j)
{
    CURL *e = j->easy = curl_easy_init();
    if (e == NULL) {
        job_fail(j, false, "%s", "cannot create a transfer");
        return;
    }
    curl_easy_setopt(e, CURLOPT_URL, j->url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, j->method);
    if (j->body != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)j->body_len);
    } else if (strcmp(j->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    struct curl_slist *h = curl_slist_append(j->headers, "Expect:"); /* no 100-continue */
    if (h == NULL) {
        job_fail(j, false, "%s", "out of memory");
        return;
    }
    j->headers = h;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "SharkAuth/" SHARK_VERSION);
    curl_easy_setopt(e, CURLOPT_RESOLVE, j->resolve);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, j->https_only ? "https" : "http,https");
    if (j->ca_file != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, j->ca_file);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*"); /* a proxy would connect where we cannot check */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)j->timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, j);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (curl_multi_add_handle(j->f->curl.multi, e) != CURLM_OK)
        job_fail(j, false, "%s", "cannot start the transfer");
}

/* Checks every address the name has; curl is pinned to the allowed ones. */
static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    fetch_job *j = g->data;
    j->resolving = false;
    const char *allow = j->f->app->cfg.webhook_allowed_hosts;
    char pin[1024], why_text[200] = "";
    size_t pl = 0;
    int port = 0;
    for (struct addrinfo *ai = res; status == 0 && ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        uint8_t addr[16];
        char text[64];
        addr16(ai->ai_addr, addr, text, sizeof(text));
        port = ntohs(ai->ai_family == AF_INET ? ((struct sockaddr_in *)ai->ai_addr)->sin_port
                                               : ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port);
        const char *why = egress_refusal(allow, j->host, addr);
        if (why != NULL) {
            snprintf(why_text, sizeof(why_text), "%s resolves to %s, a %s address", j->host, text,
                     why);
            continue;
        }
        int n = snprintf(pin + pl, sizeof(pin) - pl, ai->ai_family == AF_INET6 ? "%s[%s]" : "%s%s",
                         pl ? "," : "", text);
        if (n > 0 && (size_t)n < sizeof(pin) - pl)
            pl += (size_t)n;
    }
    uv_freeaddrinfo(res);
    if (j->f->aborting) {
        job_fail(j, false, "%s", "abandoned: the server shut down");
    } else if (status != 0) {
        job_fail(j, false, "cannot resolve %s", j->host);
    } else if (pl == 0) {
        job_fail(j, true, "refused: %s (see --webhook-allowed-hosts)",
                 why_text[0] ? why_text : "no usable address");
    } else {
        char entry[1400];
        snprintf(entry, sizeof(entry), "%s:%d:%s", j->host, port, pin);
        j->resolve = curl_slist_append(NULL, entry);
        job_transfer(j);
    }
}

/* Splits the URL; names are resolved here, literal addresses go straight
 * to curl (the socket check applies to them). */
static void job_start(fetch *f, fetch_job *j)
{
    inflight_add(f, j);
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    if (u == NULL)
        shark_fatal("out of memory");
    bool ok = curl_url_set(u, CURLUPART_URL, j->url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
              ((strcmp(scheme, "http") == 0 && !j->https_only) || strcmp(scheme, "https") == 0) &&
              strlen(host) < sizeof(j->host);
    if (ok)
        snprintf(j->host, sizeof(j->host), "%s", host);
    uint8_t addr[16];
    bool literal = ok && (host[0] == '[' || cidr_addr_parse(host, addr) == 0);
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%s", ok ? port : "");
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    if (!ok) {
        job_fail(j, false, "%s",
                 j->https_only ? "not an absolute https URL" : "not an absolute http(s) URL");
        return;
    }
    if (literal) {
        job_transfer(j);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    j->gai.data = j;
    if (uv_getaddrinfo(&f->loop, &j->gai, on_resolved, j->host, port_text, &hints) != 0) {
        job_fail(j, false, "cannot resolve %s", j->host);
        return;
    }
    j->resolving = true;
}

static void on_wake(uv_async_t *h)
{
    fetch *f = h->data;
    uv_mutex_lock(&f->lock);
    fetch_job *list = f->queue;
    f->queue = NULL;
    f->queue_tail = &f->queue;
    bool stop = !f->accepting;
    uv_mutex_unlock(&f->lock);
    for (fetch_job *j = list, *next; j != NULL; j = next) {
        next = j->next;
        if (stop) {
            snprintf(j->error, sizeof(j->error), "outbound HTTP is shutting down");
            reply_post(j);
        } else {
            job_start(f, j);
        }
    }
    if (stop && !f->stopping) {
        f->stopping = true;
        uv_timer_start(&f->deadline, on_deadline, (uint64_t)f->app->cfg.shutdown_timeout_ms, 0);
        maybe_finish(f);
    }
}

/* A transfer ended: what it answered goes back to its caller. */
static void on_transfer_done(void *ud, CURL *easy, CURLcode rc)
{
    (void)ud;
    char *p;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p);
    fetch_job *j = (fetch_job *)p;
    long code = 0;
    curl_off_t ra = -1;
    char *ct = NULL;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(j->easy, CURLINFO_RETRY_AFTER, &ra);
    curl_easy_getinfo(j->easy, CURLINFO_CONTENT_TYPE, &ct);
    j->retry_after = ra > 0 ? (long long)ra : -1;
    snprintf(j->content_type, sizeof(j->content_type), "%s", ct ? ct : "");
    struct curl_header *cc = NULL;
    if (curl_easy_header(j->easy, "Cache-Control", 0, CURLH_HEADER, -1, &cc) == CURLHE_OK)
        snprintf(j->cache_control, sizeof(j->cache_control), "%s", cc->value);
    if (rc == CURLE_OK) {
        j->status = code;
    } else if (j->too_big) {
        j->status = code; /* answered, but more than the caller would read */
        snprintf(j->error, sizeof(j->error), "response body over %zu bytes", j->body_max);
    } else if (j->error[0] == '\0') {
        snprintf(j->error, sizeof(j->error), "%s%s%s", curl_easy_strerror(rc),
                 j->errbuf[0] ? ": " : "", j->errbuf);
    }
    job_done(j);
}

/* ------------------------------------------------------------ lifecycle */

/* The fetch loop ends once stopping and nothing is in flight. */
static void maybe_finish(fetch *f)
{
    if (!f->stopping || f->closing || f->ninflight > 0)
        return;
    f->closing = true;
    /* Closes curl's cached connections (their CURL_POLL_REMOVE closes the
     * poll handles) before the loop's last handles go. */
    curluv_close(&f->curl);
    uv_close((uv_handle_t *)&f->wake, NULL);
    uv_close((uv_handle_t *)&f->deadline, NULL);
}

/* Out of patience: what is still running is abandoned (the callers hear
 * so); names still resolving fail when their answer comes. */
static void on_deadline(uv_timer_t *t)
{
    fetch *f = t->data;
    f->aborting = true;
    for (fetch_job *j = f->inflight, *next; j != NULL; j = next) {
        next = j->inext;
        if (j->resolving)
            uv_cancel((uv_req_t *)&j->gai);
        else
            job_fail(j, false, "%s", "abandoned: the server shut down");
    }
}

static void thread_main(void *arg)
{
    fetch *f = arg;
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

int fetch_init(app *a)
{
    fetch *f = calloc(1, sizeof(*f));
    if (f == NULL || uv_loop_init(&f->loop) != 0 || uv_mutex_init(&f->lock) != 0) {
        free(f);
        return -1;
    }
    f->app = a;
    f->queue_tail = &f->queue;
    a->fetch = f;
    return 0;
}

int fetch_start(app *a)
{
    fetch *f = a->fetch;
    /* Not thread-safe, hence here: the request loops have not started
     * (reference-counted by libcurl, so other users may call it too). */
    if (f == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    uv_async_init(&f->loop, &f->wake, on_wake);
    uv_timer_init(&f->loop, &f->deadline);
    f->wake.data = f->deadline.data = f;
    if (curluv_init(&f->curl, &f->loop, on_transfer_done, f) != 0)
        shark_fatal("cannot set up outbound HTTP");
    f->accepting = true;
    f->running = true;
    if (uv_thread_create(&f->thread, thread_main, f) != 0)
        shark_fatal("cannot start the outbound HTTP thread");
    return 0;
}

void fetch_stop(app *a)
{
    fetch *f = a->fetch;
    if (f == NULL || !f->running)
        return;
    uv_mutex_lock(&f->lock);
    bool was = f->accepting;
    f->accepting = false;
    if (was)
        uv_async_send(&f->wake);
    uv_mutex_unlock(&f->lock);
}

void fetch_join(app *a)
{
    fetch *f = a->fetch;
    if (f == NULL)
        return;
    if (f->running) {
        fetch_stop(a);
        uv_thread_join(&f->thread);
        curl_global_cleanup();
    }
    uv_loop_close(&f->loop);
    /* The request loops have ended: no reply handle is in use any more. */
    for (int i = 0; i < f->nreplies; i++) {
        uv_mutex_destroy(&f->replies[i]->lock);
        free(f->replies[i]);
    }
    free(f->replies);
    uv_mutex_destroy(&f->lock);
    free(f);
    a->fetch = NULL;
}
