/*
 * ratelimit: token buckets per client address, shared by every loop thread
 * of the process (sharded under mutexes so threads rarely contend). Buckets of
 * clients not seen for a while are recycled, so memory stays bounded under a
 * flood of distinct addresses. An IPv6 client is keyed by its /64 (one
 * bucket per site, however many addresses it uses); IPv4 by its address.
 */
#ifndef SHARK_CORE_RATELIMIT_H
#define SHARK_CORE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ratelimit ratelimit;

/* rps <= 0 disables: every take succeeds. */
ratelimit *rl_new(double rps, double burst);
void rl_free(ratelimit *rl);

/* The bucket key of addr: the address, or for IPv6 its /64 with the
 * interface half zeroed. */
void rl_key(const uint8_t addr[16], uint8_t key[16]);

/* Takes one token for addr (16-byte form) at time now_ms. Returns true if
 * allowed; otherwise false and *retry_after_s (>= 1) says when to retry. */
bool rl_take(ratelimit *rl, const uint8_t addr[16], uint64_t now_ms, int *retry_after_s);

#endif
