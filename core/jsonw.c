#include "jsonw.h"

#include <string.h>

#include "utf8.h"

#define JSONW_DEPTH 8

struct jsonw {
    arena *a;
    char *buf;
    size_t n, cap;
    int depth;
    int failed;
    /* Whether the object at each depth has a member yet (for commas). */
    unsigned char any[JSONW_DEPTH];
};

static void reserve(jsonw *w, size_t more)
{
    if (w->n + more <= w->cap)
        return;
    size_t cap = w->cap * 2;
    while (cap < w->n + more)
        cap *= 2;
    char *nb = arena_alloc(w->a, cap);
    memcpy(nb, w->buf, w->n);
    w->buf = nb;
    w->cap = cap;
}

static void put(jsonw *w, const char *s, size_t n)
{
    reserve(w, n);
    memcpy(w->buf + w->n, s, n);
    w->n += n;
}

jsonw *jsonw_new(arena *a)
{
    jsonw *w = arena_calloc(a, sizeof(*w));
    w->a = a;
    w->cap = 512;
    w->buf = arena_alloc(a, w->cap);
    w->buf[w->n++] = '{';
    return w;
}

static void key(jsonw *w, const char *k)
{
    size_t kl = strlen(k);
    reserve(w, kl + 4);
    if (w->any[w->depth])
        w->buf[w->n++] = ',';
    w->any[w->depth] = 1;
    w->buf[w->n++] = '"';
    memcpy(w->buf + w->n, k, kl);
    w->n += kl;
    w->buf[w->n++] = '"';
    w->buf[w->n++] = ':';
}

void jsonw_str(jsonw *w, const char *k, const char *val)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)val;
    size_t len = strlen(val);
    key(w, k);
    /* Worst case: every byte a \u00XX escape. */
    reserve(w, len * 6 + 2);
    char *o = w->buf + w->n;
    *o++ = '"';
    while (*s != '\0') {
        unsigned c = *s;
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            *o++ = (char)c;
            s++;
        } else if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            s++;
        } else if (c < 0x20) {
            *o++ = '\\';
            switch (c) {
            case '\n':
                *o++ = 'n';
                break;
            case '\r':
                *o++ = 'r';
                break;
            case '\t':
                *o++ = 't';
                break;
            case '\b':
                *o++ = 'b';
                break;
            case '\f':
                *o++ = 'f';
                break;
            default:
                memcpy(o, "u00", 3);
                o[3] = hex[c >> 4];
                o[4] = hex[c & 15];
                o += 5;
            }
            s++;
        } else {
            size_t n = utf8_seq_len(s);
            if (n == 0) {
                w->failed = 1;
                break;
            }
            memcpy(o, s, n);
            o += n;
            s += n;
        }
    }
    *o++ = '"';
    w->n = (size_t)(o - w->buf);
}

void jsonw_int(jsonw *w, const char *k, int64_t val)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    uint64_t u = val < 0 ? 0 - (uint64_t)val : (uint64_t)val;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (val < 0)
        *--p = '-';
    key(w, k);
    put(w, p, (size_t)(tmp + sizeof(tmp) - p));
}

void jsonw_raw(jsonw *w, const char *k, const char *json, size_t len)
{
    key(w, k);
    put(w, json, len);
}

void jsonw_open(jsonw *w, const char *k)
{
    key(w, k);
    put(w, "{", 1);
    if (w->depth + 1 >= JSONW_DEPTH) {
        w->failed = 1;
        return;
    }
    w->any[++w->depth] = 0;
}

void jsonw_close(jsonw *w)
{
    if (w->depth == 0) {
        w->failed = 1;
        return;
    }
    w->depth--;
    put(w, "}", 1);
}

const char *jsonw_finish(jsonw *w, size_t *len)
{
    while (w->depth > 0)
        jsonw_close(w);
    put(w, "}", 1);
    reserve(w, 1);
    w->buf[w->n] = '\0';
    *len = w->n;
    return w->failed ? NULL : w->buf;
}
