#include "router.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fatal.h"

#define MAX_SEGS 16

struct seg {
    const char *s;
    size_t len;
    bool param;
};

struct entry {
    route r;
    int nsegs;
    struct seg segs[MAX_SEGS];
};

struct surface {
    const char *prefix;
    size_t len;
    route_envelope envelope;
};

struct router {
    struct entry *v;
    int n, cap;
    struct surface surfaces[ROUTER_MAX_SURFACES];
    int nsurfaces;
};

router *router_new(void)
{
    router *r = calloc(1, sizeof(*r));
    if (r == NULL)
        shark_fatal("out of memory");
    return r;
}

void router_free(router *r)
{
    if (r == NULL)
        return;
    free(r->v);
    free(r);
}

/* Splits "/a/{b}/c" into segments; the empty path "/" has zero segments. */
static int split(const char *p, size_t len, struct seg *segs, bool pattern)
{
    int n = 0;
    size_t i = 0;
    if (len == 0 || p[0] != '/')
        return -1;
    while (i < len) {
        i++; /* skip '/' */
        size_t start = i;
        while (i < len && p[i] != '/')
            i++;
        if (i == start && i == len && n == 0)
            break; /* "/" */
        if (n == MAX_SEGS)
            return -1;
        struct seg *s = &segs[n++];
        s->s = p + start;
        s->len = i - start;
        s->param = false;
        if (pattern && s->len >= 2 && s->s[0] == '{' && s->s[s->len - 1] == '}') {
            s->param = true;
            s->s++;
            s->len -= 2;
        }
        /* A pattern has no empty segments, and braces only around a whole,
         * non-empty parameter name. */
        if (pattern && (s->len == 0 || memchr(s->s, '{', s->len) || memchr(s->s, '}', s->len)))
            return -1;
    }
    return n;
}

static bool seg_eq(const struct seg *a, const struct seg *b)
{
    return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

static bool same_shape(const struct entry *a, const struct entry *b)
{
    if (a->nsegs != b->nsegs)
        return false;
    for (int i = 0; i < a->nsegs; i++) {
        if (a->segs[i].param != b->segs[i].param)
            return false;
        if (!a->segs[i].param && !seg_eq(&a->segs[i], &b->segs[i]))
            return false;
    }
    return true;
}

int router_add(router *r, const char *method, const char *pattern, route_handler handler,
               const void *data)
{
    struct entry e = {0};
    e.nsegs = split(pattern, strlen(pattern), e.segs, true);
    if (e.nsegs < 0)
        return -1;
    int params = 0;
    for (int i = 0; i < e.nsegs; i++) {
        params += e.segs[i].param;
        for (int k = 0; k < i && e.segs[i].param; k++)
            if (e.segs[k].param && seg_eq(&e.segs[k], &e.segs[i]))
                return -1; /* the same parameter name twice */
    }
    if (params > ROUTER_MAX_PARAMS)
        return -1;
    /* A duplicate is the same method with the same shape: "/a/{id}" and
     * "/a/{x}" would match the same paths, and only the first could win. */
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->v[i].r.method, method) == 0 && same_shape(&r->v[i], &e))
            return -1;
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 32;
        struct entry *v = realloc(r->v, (size_t)cap * sizeof(*v));
        if (v == NULL)
            shark_fatal("out of memory");
        r->v = v;
        r->cap = cap;
    }
    e.r = (route){method, pattern, handler, data, r->n};
    r->v[r->n++] = e;
    return 0;
}

static bool seg_match(const struct entry *e, const struct seg *segs, int n, route_match *m)
{
    if (e->nsegs != n)
        return false;
    for (int i = 0; i < n; i++) {
        const struct seg *ps = &e->segs[i];
        if (ps->param) {
            if (segs[i].len == 0)
                return false;
        } else if (ps->len != segs[i].len || memcmp(ps->s, segs[i].s, ps->len) != 0) {
            return false;
        }
    }
    if (m != NULL) {
        m->nparams = 0;
        for (int i = 0; i < n; i++) {
            if (!e->segs[i].param)
                continue;
            m->params[m->nparams].name = e->segs[i].s;
            m->params[m->nparams].value = segs[i].s;
            m->params[m->nparams].len = segs[i].len;
            m->nparams++;
        }
    }
    return true;
}

int router_match(const router *r, const char *method, const char *path, size_t pathlen,
                 route_match *m)
{
    struct seg segs[MAX_SEGS];
    memset(m, 0, sizeof(*m));
    int n = split(path, pathlen, segs, false);
    if (n < 0)
        return ROUTER_NOT_FOUND;
    bool path_found = false;
    /* Literal segments beat {params}: take the match with the most literals. */
    const struct entry *best = NULL;
    int best_lit = -1;
    for (int i = 0; i < r->n; i++) {
        const struct entry *e = &r->v[i];
        if (!seg_match(e, segs, n, NULL))
            continue;
        path_found = true;
        /* RFC 9110 §9.3.2: HEAD is GET without the content (the writer drops it). */
        if (strcmp(e->r.method, method) != 0 &&
            !(strcmp(method, "HEAD") == 0 && strcmp(e->r.method, "GET") == 0))
            continue;
        int lit = 0;
        for (int k = 0; k < e->nsegs; k++)
            lit += !e->segs[k].param;
        if (lit > best_lit) {
            best = e;
            best_lit = lit;
        }
    }
    if (best != NULL) {
        seg_match(best, segs, n, m);
        m->route = &best->r;
        return ROUTER_FOUND;
    }
    if (!path_found)
        return ROUTER_NOT_FOUND;
    size_t al = 0;
    for (int i = 0; i < r->n; i++) {
        const struct entry *e = &r->v[i];
        if (!seg_match(e, segs, n, NULL) || strstr(m->allow, e->r.method) != NULL)
            continue;
        size_t ml = strlen(e->r.method);
        if (al + ml + 3 >= sizeof(m->allow))
            break;
        if (al > 0) {
            memcpy(m->allow + al, ", ", 2);
            al += 2;
        }
        memcpy(m->allow + al, e->r.method, ml);
        al += ml;
        m->allow[al] = '\0';
    }
    return ROUTER_BAD_METHOD;
}

int router_count(const router *r)
{
    return r->n;
}

const route *router_get(const router *r, int index)
{
    return index >= 0 && index < r->n ? &r->v[index].r : NULL;
}

int router_surface(router *r, const char *prefix, route_envelope envelope)
{
    if (r->nsurfaces == ROUTER_MAX_SURFACES || envelope == NULL)
        return -1;
    for (int i = 0; i < r->nsurfaces; i++)
        if (strcmp(r->surfaces[i].prefix, prefix) == 0)
            return -1;
    r->surfaces[r->nsurfaces++] = (struct surface){prefix, strlen(prefix), envelope};
    return 0;
}

route_envelope router_envelope(const router *r, const char *path)
{
    const struct surface *best = NULL;
    for (int i = 0; r != NULL && i < r->nsurfaces; i++) {
        const struct surface *s = &r->surfaces[i];
        if (strncmp(path, s->prefix, s->len) == 0 && (best == NULL || s->len > best->len))
            best = s;
    }
    return best != NULL ? best->envelope : NULL;
}
