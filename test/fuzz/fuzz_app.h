/*
 * fuzz_app: the process the HTTP-level fuzz targets run requests in (through
 * http_feed): an app with the default configuration except small body and
 * header limits (so inputs reach them) and 127.0.0.0/8 as a trusted proxy (so
 * X-Forwarded-For is resolved), no database, no logging, and the routes the
 * target registers. Built once per process.
 */
#ifndef SHARK_FUZZ_APP_H
#define SHARK_FUZZ_APP_H

#include <stdlib.h>

#include "core/http.h"
#include "core/router.h"
#include "core/server.h"

#define FUZZ_MAX_BODY 2048
#define FUZZ_MAX_HEADER 4096

/* The worker to pass to http_feed; routes() registers the target's routes. */
worker *fuzz_worker(int (*routes)(router *r));

/* A property the target checks does not hold: report it as a crash. */
#define FUZZ_ASSERT(cond)                         \
    do {                                          \
        if (!(cond))                              \
            fuzz_fail(__FILE__, __LINE__, #cond); \
    } while (0)
_Noreturn void fuzz_fail(const char *file, int line, const char *what);

#endif
