/*
 * egress: the one destination policy for outbound HTTP (SSRF). Loopback,
 * private, link-local (cloud metadata), CGNAT, multicast, reserved and
 * unspecified addresses are refused unless the allow list
 * (--webhook-allowed-hosts: comma list of hostnames and CIDRs) names the
 * host or the address. core/fetch.c applies it after resolving and again to
 * every socket it opens; the admin API applies it to literal addresses when
 * a URL is saved.
 */
#ifndef SHARK_CORE_EGRESS_H
#define SHARK_CORE_EGRESS_H

#include <stddef.h>
#include <stdint.h>

/* NULL when addr (16-byte form, IPv4 mapped) may be reached: a public
 * address, or host or addr listed in `allow` (host may be NULL). Otherwise
 * what kind of address it is ("loopback", "private", ...). */
const char *egress_refusal(const char *allow, const char *host, const uint8_t addr[16]);

/* Checks a URL given by a user: http or https with a host, at most 2000
 * bytes, and a literal IP host must pass egress_refusal. Returns 0, or -1
 * with a message for the client. */
int egress_url_check(const char *allow, const char *url, char *err, size_t errlen);

#endif
