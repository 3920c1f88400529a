#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic int cur_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

int log_level_parse(const char *s)
{
    for (int i = 0; i <= LOG_OFF; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void log_set_level(log_level lvl)
{
    atomic_store(&cur_level, lvl);
}

int log_enabled(log_level lvl)
{
    return (int)lvl >= atomic_load_explicit(&cur_level, memory_order_relaxed) && lvl < LOG_OFF;
}

/* A fixed buffer per line; JSON strings are escaped and cut, never overrun. */
struct line {
    char buf[2048];
    size_t n;
};

static void put(struct line *l, const char *s, size_t n)
{
    size_t room = sizeof(l->buf) - 2 - l->n; /* keep space for "}\n" */
    if (n > room)
        n = room;
    memcpy(l->buf + l->n, s, n);
    l->n += n;
}

static void put_str(struct line *l, const char *s)
{
    put(l, "\"", 1);
    for (; s != NULL && *s != '\0' && l->n < sizeof(l->buf) - 16; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(l, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(l, esc, 6);
        } else {
            put(l, (const char *)&c, 1);
        }
    }
    put(l, "\"", 1);
}

static void put_key(struct line *l, const char *k)
{
    put(l, ",", 1);
    put_str(l, k);
    put(l, ":", 1);
}

static void begin(struct line *l, log_level lvl, const char *msg)
{
    struct timeval tv;
    struct tm tm;
    char ts[40];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
    l->n = 0;
    put(l, "{\"time\":", 8);
    put_str(l, ts);
    put_key(l, "level");
    put_str(l, level_names[lvl]);
    put_key(l, "msg");
    put_str(l, msg);
}

static void finish(struct line *l)
{
    l->buf[l->n++] = '}';
    l->buf[l->n++] = '\n';
    /* One write(2) per line: atomic for pipes up to PIPE_BUF and never
     * interleaved mid-line with other threads' stdio. */
    ssize_t r = write(STDERR_FILENO, l->buf, l->n);
    (void)r;
}

void log_msg(log_level lvl, const char *msg, ...)
{
    if (!log_enabled(lvl))
        return;
    struct line l;
    begin(&l, lvl, msg);
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (k == NULL)
            break;
        const char *v = va_arg(ap, const char *);
        put_key(&l, k);
        put_str(&l, v);
    }
    va_end(ap);
    finish(&l);
}

void log_access(const log_access_rec *r)
{
    if (!log_enabled(LOG_INFO))
        return;
    struct line l;
    char num[64];
    begin(&l, LOG_INFO, "request");
    put_key(&l, "request_id");
    put_str(&l, r->request_id);
    if (r->client_request_id != NULL) {
        put_key(&l, "client_request_id");
        put_str(&l, r->client_request_id);
    }
    put_key(&l, "method");
    put_str(&l, r->method);
    put_key(&l, "route");
    put_str(&l, r->route);
    put_key(&l, "path");
    put_str(&l, r->path);
    put_key(&l, "client_ip");
    put_str(&l, r->client_ip);
    int n = snprintf(num, sizeof(num), ",\"status\":%d,\"duration_ms\":%.3f,\"bytes\":%zu",
                     r->status, r->duration_ms, r->bytes);
    put(&l, num, (size_t)n);
    finish(&l);
}
