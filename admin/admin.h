/*
 * admin: the /api/v1/ admin surface and the operational endpoints
 * (/healthz, /readyz, /metrics). Admin routes are registered through
 * admin_route so every one of them checks the admin API key first.
 */
#ifndef SHARK_ADMIN_H
#define SHARK_ADMIN_H

#include "../core/http.h"
#include "../core/router.h"

/* An admin route: `handler` runs only after the key checked out. */
typedef struct admin_route {
    const char *method, *pattern;
    route_handler handler;
} admin_route;

/* Registers a table of admin routes behind the key check. */
int admin_routes_add(router *r, const admin_route *routes, size_t n);

/* Registers everything this module serves. */
int admin_register(router *r);

/* Answers 503 in the surface's envelope for a database failure, or 400 for
 * input the database refused; returns true when it answered. */
bool admin_db_error(http_req *req, int err);

#endif
