/*
 * cidr: IPv4/IPv6 address ranges ("10.0.0.0/8", "::1", "127.0.0.1") for the
 * trusted-proxy list and, later, outbound allow-lists. IPv4-mapped IPv6
 * addresses match IPv4 ranges.
 */
#ifndef SHARK_CORE_CIDR_H
#define SHARK_CORE_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cidr {
    uint8_t addr[16]; /* IPv4 stored as ::ffff:a.b.c.d */
    int prefix;       /* 0..128, counted on the 16-byte form */
} cidr;

/* Parses one range; returns 0 or -1. */
int cidr_parse(const char *s, cidr *out);
/* Parses a comma list into out (at most max); returns the count or -1. */
int cidr_parse_list(const char *s, cidr *out, int max);
/* Parses a textual address into the 16-byte form; returns 0 or -1. */
int cidr_addr_parse(const char *s, uint8_t out[16]);
bool cidr_match(const cidr *c, const uint8_t addr[16]);
bool cidr_match_any(const cidr *list, int n, const uint8_t addr[16]);

#endif
