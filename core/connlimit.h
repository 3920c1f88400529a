/*
 * connlimit: the process's open connections, in all and per client address,
 * shared by every loop thread (one mutex, taken once at accept and once at
 * close). IPv4 addresses count one by one; IPv6 ones by their /64, which one
 * host or site usually holds whole. Memory is bounded by the global limit:
 * an address is kept only while it has a connection open.
 */
#ifndef SHARK_CORE_CONNLIMIT_H
#define SHARK_CORE_CONNLIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct connlimit connlimit;

/* Both limits >= 1. */
connlimit *connlimit_new(int max_total, int max_per_addr);
void connlimit_free(connlimit *cl);

enum { CONNLIMIT_TOTAL = -1, CONNLIMIT_ADDR = -2 };

/* Counts a new connection from addr (16-byte form, IPv4 as ::ffff:a.b.c.d).
 * check_addr false skips the per-address limit (trusted proxies) but still
 * counts. Returns 0, or CONNLIMIT_TOTAL / CONNLIMIT_ADDR for the limit that
 * was reached (nothing counted). */
int connlimit_acquire(connlimit *cl, const uint8_t addr[16], bool check_addr);
/* Uncounts a connection counted by connlimit_acquire. */
void connlimit_release(connlimit *cl, const uint8_t addr[16]);

/* Open connections in all and from addr's key (for tests). */
int connlimit_total(connlimit *cl);
int connlimit_of(connlimit *cl, const uint8_t addr[16]);

#endif
