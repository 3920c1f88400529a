/*
 * arena: per-request bump allocator. Everything a request needs is allocated
 * here and released at once when the request ends; cleanups registered on the
 * arena run (newest first) at reset, for resources that are not arena memory
 * (PGresults, buffers from other libraries, secrets to wipe).
 * Not thread-safe: an arena belongs to one request on one loop.
 */
#ifndef SHARK_CORE_ARENA_H
#define SHARK_CORE_ARENA_H

#include <stddef.h>

typedef struct arena arena;

arena *arena_new(size_t first_block);
/* Runs cleanups, frees every block but the first, rewinds. */
void arena_reset(arena *a);
void arena_free(arena *a);

/* 16-byte aligned; aborts on out-of-memory (a request cannot go on). */
void *arena_alloc(arena *a, size_t n);
void *arena_calloc(arena *a, size_t n);
char *arena_strdup(arena *a, const char *s);
/* At most n bytes of s, stopping at its NUL. */
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs fn(data) at the next reset or free. */
void arena_cleanup(arena *a, void (*fn)(void *), void *data);

/* Bytes handed out since the last reset (for tests and metrics). */
size_t arena_used(const arena *a);

#endif
