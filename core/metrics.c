#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fatal.h"

/* Status codes get their own series; anything else is counted by class. */
static const int statuses[] = {200, 201, 204, 301, 302, 303, 304, 400, 401, 403, 404,
                               405, 408, 409, 413, 415, 422, 429, 431, 500, 502, 503};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))
#define NSLOTS (NSTATUS + 5) /* + 1xx..5xx catch-alls */

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

/* Webhook attempts are network round trips, up to the attempt timeout. */
static const double hook_buckets[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define NHOOK_BUCKETS (sizeof(hook_buckets) / sizeof(hook_buckets[0]))
static const char *const hook_results[] = {"delivered", "failed", "retried"};

/* Requests no route took are counted by their method. */
static const char *const methods[] = {"GET",    "POST", "PUT",     "PATCH",
                                      "DELETE", "HEAD", "OPTIONS", "other"};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

struct pool_slot {
    _Atomic int in_use, idle, size;
};

struct metrics {
    int nroutes, nloops;
    _Atomic unsigned long *counts; /* (NMETHODS + nroutes) x NSLOTS; unmatched rows first */
    _Atomic unsigned long hist[NBUCKETS + 1];
    _Atomic unsigned long hist_count;
    _Atomic unsigned long long hist_sum_us;
    struct pool_slot *pools;
    _Atomic unsigned long hook_results[3];
    _Atomic unsigned long hook_hist[NHOOK_BUCKETS + 1];
    _Atomic unsigned long long hook_sum_us;
    _Atomic long hook_queued;
};

metrics *metrics_new(int nroutes, int nloops)
{
    metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        shark_fatal("out of memory");
    m->nroutes = nroutes;
    m->nloops = nloops;
    m->counts = calloc((NMETHODS + (size_t)nroutes) * NSLOTS, sizeof(*m->counts));
    m->pools = calloc((size_t)nloops, sizeof(*m->pools));
    if (m->counts == NULL || m->pools == NULL)
        shark_fatal("out of memory");
    return m;
}

void metrics_free(metrics *m)
{
    if (m == NULL)
        return;
    free(m->counts);
    free(m->pools);
    free(m);
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i < NSTATUS; i++)
        if (statuses[i] == status)
            return i;
    int cls = status / 100;
    return NSTATUS + (size_t)(cls >= 1 && cls <= 5 ? cls - 1 : 4);
}

static size_t method_row(const char *method)
{
    for (size_t i = 0; i + 1 < NMETHODS; i++)
        if (strcmp(methods[i], method) == 0)
            return i;
    return NMETHODS - 1;
}

void metrics_request(metrics *m, int route_index, const char *method, int status, double seconds)
{
    size_t row = route_index >= 0 && route_index < m->nroutes ? NMETHODS + (size_t)route_index
                                                              : method_row(method);
    atomic_fetch_add_explicit(&m->counts[row * NSLOTS + status_slot(status)], 1,
                              memory_order_relaxed);
    size_t b = 0;
    while (b < NBUCKETS && seconds > buckets[b])
        b++;
    atomic_fetch_add_explicit(&m->hist[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->hist_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->hist_sum_us, (unsigned long long)(seconds * 1e6),
                              memory_order_relaxed);
}

void metrics_pool(metrics *m, int loop, int in_use, int idle, int size)
{
    if (loop < 0 || loop >= m->nloops)
        return;
    atomic_store_explicit(&m->pools[loop].in_use, in_use, memory_order_relaxed);
    atomic_store_explicit(&m->pools[loop].idle, idle, memory_order_relaxed);
    atomic_store_explicit(&m->pools[loop].size, size, memory_order_relaxed);
}

void metrics_webhook(metrics *m, enum metrics_hook_result result, double seconds)
{
    atomic_fetch_add_explicit(&m->hook_results[result], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < NHOOK_BUCKETS && seconds > hook_buckets[b])
        b++;
    atomic_fetch_add_explicit(&m->hook_hist[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->hook_sum_us, (unsigned long long)(seconds * 1e6),
                              memory_order_relaxed);
}

void metrics_webhook_queued(metrics *m, long queued)
{
    atomic_store_explicit(&m->hook_queued, queued, memory_order_relaxed);
}

struct out {
    char *s;
    size_t n, cap;
};

__attribute__((format(printf, 2, 3))) static void outf(struct out *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(o->s + o->n, o->cap - o->n, fmt, ap);
        va_end(ap);
        if (k >= 0 && (size_t)k < o->cap - o->n) {
            o->n += (size_t)k;
            return;
        }
        o->cap = o->cap * 2 + (size_t)(k > 0 ? k : 0);
        o->s = realloc(o->s, o->cap);
        if (o->s == NULL)
            shark_fatal("out of memory");
    }
}

static void status_label(size_t slot, char out[8])
{
    if (slot < NSTATUS)
        snprintf(out, 8, "%d", statuses[slot]);
    else
        snprintf(out, 8, "%dxx", (int)(slot - NSTATUS) + 1);
}

char *metrics_render(const metrics *m, const router *r, const char *version, double uptime_s)
{
    struct out o = {malloc(8192), 0, 8192};
    if (o.s == NULL)
        shark_fatal("out of memory");
    outf(&o,
         "# HELP shark_build_info Build information.\n# TYPE shark_build_info gauge\n"
         "shark_build_info{version=\"%s\"} 1\n",
         version);
    outf(&o,
         "# HELP shark_uptime_seconds Seconds since start.\n# TYPE shark_uptime_seconds "
         "gauge\nshark_uptime_seconds %.0f\n",
         uptime_s);
    outf(&o, "# HELP shark_http_requests_total HTTP requests by route, method and status.\n"
             "# TYPE shark_http_requests_total counter\n");
    for (size_t row = 0; row < NMETHODS + (size_t)m->nroutes; row++) {
        const route *rt = row >= NMETHODS ? router_get(r, (int)(row - NMETHODS)) : NULL;
        for (size_t s = 0; s < NSLOTS; s++) {
            unsigned long c = atomic_load_explicit(&m->counts[row * NSLOTS + s],
                                                   memory_order_relaxed);
            if (c == 0)
                continue;
            char st[8];
            status_label(s, st);
            outf(&o, "shark_http_requests_total{route=\"%s\",method=\"%s\",status=\"%s\"} %lu\n",
                 rt ? rt->pattern : "unmatched", rt ? rt->method : methods[row], st, c);
        }
    }
    outf(&o, "# HELP shark_http_request_duration_seconds Request latency.\n"
             "# TYPE shark_http_request_duration_seconds histogram\n");
    unsigned long cum = 0;
    for (size_t b = 0; b <= NBUCKETS; b++) {
        cum += atomic_load_explicit(&m->hist[b], memory_order_relaxed);
        if (b < NBUCKETS)
            outf(&o, "shark_http_request_duration_seconds_bucket{le=\"%g\"} %lu\n", buckets[b],
                 cum);
        else
            outf(&o, "shark_http_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
    }
    outf(&o, "shark_http_request_duration_seconds_sum %.6f\n",
         (double)atomic_load_explicit(&m->hist_sum_us, memory_order_relaxed) / 1e6);
    outf(&o, "shark_http_request_duration_seconds_count %lu\n",
         atomic_load_explicit(&m->hist_count, memory_order_relaxed));
    int in_use = 0, idle = 0, size = 0;
    for (int i = 0; i < m->nloops; i++) {
        in_use += atomic_load_explicit(&m->pools[i].in_use, memory_order_relaxed);
        idle += atomic_load_explicit(&m->pools[i].idle, memory_order_relaxed);
        size += atomic_load_explicit(&m->pools[i].size, memory_order_relaxed);
    }
    outf(&o,
         "# HELP shark_db_pool_connections Database connections by state.\n"
         "# TYPE shark_db_pool_connections gauge\n"
         "shark_db_pool_connections{state=\"in_use\"} %d\n"
         "shark_db_pool_connections{state=\"idle\"} %d\n"
         "shark_db_pool_connections{state=\"configured\"} %d\n",
         in_use, idle, size);
    outf(&o, "# HELP shark_webhook_deliveries_total Webhook delivery attempts by outcome.\n"
             "# TYPE shark_webhook_deliveries_total counter\n");
    for (size_t i = 0; i < 3; i++)
        outf(&o, "shark_webhook_deliveries_total{result=\"%s\"} %lu\n", hook_results[i],
             atomic_load_explicit(&m->hook_results[i], memory_order_relaxed));
    outf(&o,
         "# HELP shark_webhook_queued Webhook deliveries waiting or in flight.\n"
         "# TYPE shark_webhook_queued gauge\nshark_webhook_queued %ld\n",
         atomic_load_explicit(&m->hook_queued, memory_order_relaxed));
    outf(&o, "# HELP shark_webhook_delivery_seconds Webhook attempt duration.\n"
             "# TYPE shark_webhook_delivery_seconds histogram\n");
    unsigned long hcum = 0;
    for (size_t b = 0; b <= NHOOK_BUCKETS; b++) {
        hcum += atomic_load_explicit(&m->hook_hist[b], memory_order_relaxed);
        if (b < NHOOK_BUCKETS)
            outf(&o, "shark_webhook_delivery_seconds_bucket{le=\"%g\"} %lu\n", hook_buckets[b],
                 hcum);
        else
            outf(&o, "shark_webhook_delivery_seconds_bucket{le=\"+Inf\"} %lu\n", hcum);
    }
    outf(&o, "shark_webhook_delivery_seconds_sum %.6f\nshark_webhook_delivery_seconds_count %lu\n",
         (double)atomic_load_explicit(&m->hook_sum_us, memory_order_relaxed) / 1e6, hcum);
    return o.s;
}
