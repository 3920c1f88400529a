/*
 * log: structured JSON lines on stderr, one write per line so lines from
 * different loop threads never interleave. Callers never pass secrets:
 * the access log records the route pattern and path, never query strings,
 * headers or bodies.
 */
#ifndef SHARK_CORE_LOG_H
#define SHARK_CORE_LOG_H

#include <stddef.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level;

/* Parses "debug|info|warn|error|off"; -1 if unknown. */
int log_level_parse(const char *s);
void log_set_level(log_level lvl);
int log_enabled(log_level lvl);

/* msg plus optional key/value string pairs, NULL-terminated:
 * log_msg(LOG_WARN, "db reconnect", "error", e, NULL). */
void log_msg(log_level lvl, const char *msg, ...) __attribute__((sentinel));

typedef struct log_access_rec {
    const char *request_id;
    const char *client_request_id; /* the client's X-Request-Id, or NULL */
    const char *method, *route, *path, *client_ip;
    int status;
    double duration_ms;
    size_t bytes;
} log_access_rec;
void log_access(const log_access_rec *r);

#endif
