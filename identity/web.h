/*
 * web: the guard in front of every route a browser reaches with our cookies
 * (the hosted login, consent and device pages, the session API under
 * /api/v1/auth/) and of the first-boot key, and the one place cookies are
 * written and read. Before a web route's handler runs:
 *  - Host must name this server: the issuer's host and port, or any loopback
 *    literal (127.0.0.1, [::1], localhost, any port) when the issuer is one.
 *    Otherwise 421: a DNS-rebinding page or a stray proxy reached us under
 *    another name, and must get neither a cookie nor a secret.
 *  - A state-changing method (anything but GET and HEAD) must come from our
 *    own origin: Origin, when sent, is the issuer's scheme with the Host the
 *    request came to ("null" is refused), and Sec-Fetch-Site, when sent, is
 *    same-origin or none. Otherwise 403 (login CSRF, forged decisions).
 *  - WEB_LOCAL routes answer only a client on this machine: a loopback peer,
 *    no Forwarded, X-Forwarded-* or X-Real-IP header (a same-host proxy), and
 *    Host a loopback literal or the issuer's host. Otherwise 404.
 * Refusals are HTML pages on WEB_PAGE routes, else the path's JSON envelope.
 */
#ifndef SHARK_PROTOCOL_WEB_H
#define SHARK_PROTOCOL_WEB_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/http.h"
#include "../core/router.h"

enum {
    WEB_PAGE = 1,  /* a hosted HTML page: refusals are error pages */
    WEB_LOCAL = 2, /* only for a client on this machine (the first-boot key) */
    /* a POST other sites may send because it changes nothing (RP-initiated
     * logout: it only asks the person, whose answer is same-origin) */
    WEB_ANY_ORIGIN = 4,
};

typedef struct web_route {
    const char *method, *pattern;
    route_handler handler; /* runs once the checks passed; route data is unused */
    int flags;             /* WEB_* */
} web_route;

/* Registers a table of web routes behind the guard (the table must outlive
 * the router). */
int web_routes_add(router *r, const web_route *routes, size_t n);

/* True when host (a Host header) names the issuer (an http(s) URL): the
 * same host, case-insensitively, and port (default 80/443 by scheme). Any
 * loopback literal passes too when any_loopback is set. Pure. */
bool web_host_ok(const char *issuer, const char *host, bool any_loopback);
/* True for 127.0.0.1, [::1] and localhost, each with an optional port. */
bool web_host_is_loopback(const char *host);
/* True when origin (an Origin header) is issuer's scheme with host (an
 * already accepted Host header) as its authority. Pure. */
bool web_origin_ok(const char *issuer, const char *host, const char *origin);

/* Sets cookie `base` to value with attrs (e.g. "HttpOnly; SameSite=Lax"):
 * under an https issuer it is "__Host-<base>", Secure, Path=/ (TLS may end
 * at a proxy, and the prefix keeps a sibling host or a plain-http injector
 * from planting it); under a plain-http issuer (loopback development) it is
 * `base` with Path=path, Secure only when this connection is TLS. */
void web_set_cookie(http_req *req, const char *base, const char *value, const char *path,
                    const char *attrs);
/* The request's cookie `base`, under the name web_set_cookie gives it, or
 * NULL. Only the first of several with that name counts. */
const char *web_cookie(http_req *req, const char *base);

#endif
