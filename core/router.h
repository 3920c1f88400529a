/*
 * router: method + path patterns with {name} segments
 * ("/api/v1/agents/{id}/tokens"). Built once at start-up, then read-only and
 * shared by every loop thread. A lookup distinguishes "no such path" (404)
 * from "path exists, method does not" (405, with the Allow list), and keeps
 * each surface's error envelope.
 */
#ifndef SHARK_CORE_ROUTER_H
#define SHARK_CORE_ROUTER_H

#include <stddef.h>

#define ROUTER_MAX_PARAMS 8
#define ROUTER_MAX_SURFACES 8

typedef struct router router;
struct http_req;
typedef void (*route_handler)(struct http_req *req);

typedef struct route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* as registered; also the metrics/log label */
    route_handler handler;
    const void *data;    /* handler-specific (e.g. the wrapped admin handler) */
    int index;           /* 0..router_count-1, for per-route metrics */
} route;

typedef struct route_match {
    const route *route;
    int nparams;
    struct {
        const char *name;
        const char *value; /* points into the path; length in len */
        size_t len;
    } params[ROUTER_MAX_PARAMS];
    char allow[64]; /* on 405: "GET, POST" */
} route_match;

enum { ROUTER_FOUND = 0, ROUTER_NOT_FOUND = 1, ROUTER_BAD_METHOD = 2 };

router *router_new(void);
void router_free(router *r);
/* Returns 0, or -1 for a malformed pattern or a duplicate method+pattern. */
int router_add(router *r, const char *method, const char *pattern, route_handler handler,
               const void *data);
/* path excludes the query string. */
int router_match(const router *r, const char *method, const char *path, size_t pathlen,
                 route_match *m);
int router_count(const router *r);

/* A surface is a path prefix whose errors share one envelope ("/oauth/":
 * RFC 6749; "/api/": the admin API's). The module that registers a
 * surface's routes registers its envelope too; http_error answers with the
 * envelope of the longest prefix of the request path, routed or not (404,
 * 405, 429 and malformed requests included). "" is the default surface.
 * -1 when the table is full or the prefix is taken. */
typedef void (*route_envelope)(struct http_req *r, int status, const char *code,
                               const char *message);
int router_surface(router *r, const char *prefix, route_envelope envelope);
/* The envelope for path, or NULL when no surface covers it. */
route_envelope router_envelope(const router *r, const char *path);
const route *router_get(const router *r, int index);

#endif
