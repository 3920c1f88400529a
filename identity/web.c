#include "web.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../core/server.h"
#include "pages.h"

/* A host and port, the host lowercased ("[::1]" keeps its brackets). */
struct authority {
    char host[256];
    int port;
};

/* Parses "host[:port]" or "[v6]:port" of len bytes; an absent or empty port
 * is dflt. Hosts are names, IPv4 or bracketed IPv6 literals: anything else
 * (userinfo, paths, spaces) fails. */
static int parse_authority(const char *s, size_t len, int dflt, struct authority *out)
{
    size_t hl;
    const char *colon;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return -1;
        hl = (size_t)(close - s) + 1;
        colon = hl < len ? s + hl : NULL;
        if (colon != NULL && *colon != ':')
            return -1;
    } else {
        colon = memchr(s, ':', len);
        hl = colon ? (size_t)(colon - s) : len;
    }
    if (hl == 0 || hl >= sizeof(out->host))
        return -1;
    for (size_t i = 0; i < hl; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '-' || ch == '.' || (s[0] == '[' && (ch == ':' || ch == '[' || ch == ']'));
        if (!ok)
            return -1;
        out->host[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
    }
    out->host[hl] = '\0';
    out->port = dflt;
    if (colon != NULL && (size_t)(colon - s) + 1 < len) {
        int port = 0;
        for (const char *p = colon + 1; p < s + len; p++) {
            if (*p < '0' || *p > '9' || port > 65535)
                return -1;
            port = port * 10 + (*p - '0');
        }
        if (port < 1 || port > 65535)
            return -1;
        out->port = port;
    }
    return 0;
}

/* An http(s) URL's scheme default port and authority; -1 if not one. */
static int parse_url(const char *url, int *dflt, struct authority *out, size_t *end)
{
    size_t skip;
    if (strncasecmp(url, "https://", 8) == 0) {
        *dflt = 443;
        skip = 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        *dflt = 80;
        skip = 7;
    } else {
        return -1;
    }
    size_t n = strcspn(url + skip, "/?#");
    if (end != NULL)
        *end = skip + n;
    return parse_authority(url + skip, n, *dflt, out);
}

static bool loopback_name(const char *host)
{
    return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "[::1]") == 0 ||
           strcmp(host, "localhost") == 0;
}

bool web_host_is_loopback(const char *host)
{
    struct authority h;
    return host != NULL && parse_authority(host, strlen(host), 0, &h) == 0 &&
           loopback_name(h.host);
}

bool web_host_ok(const char *issuer, const char *host, bool any_loopback)
{
    struct authority i, h;
    int dflt;
    if (host == NULL || parse_url(issuer, &dflt, &i, NULL) != 0 ||
        parse_authority(host, strlen(host), dflt, &h) != 0)
        return false;
    /* A rebinding page cannot make a browser send a loopback literal as Host. */
    if (loopback_name(h.host) && (any_loopback || loopback_name(i.host)))
        return true;
    return strcmp(h.host, i.host) == 0 && h.port == i.port;
}

bool web_origin_ok(const char *issuer, const char *host, const char *origin)
{
    struct authority i, o, h;
    int idflt, odflt;
    size_t end;
    if (origin == NULL || host == NULL || parse_url(issuer, &idflt, &i, NULL) != 0 ||
        parse_url(origin, &odflt, &o, &end) != 0 || origin[end] != '\0' || odflt != idflt ||
        parse_authority(host, strlen(host), idflt, &h) != 0)
        return false;
    return strcmp(o.host, h.host) == 0 && o.port == h.port;
}

/* ---- the guard ---- */

static bool from_this_machine(http_req *req)
{
    return http_req_peer_is_loopback(req) && http_req_header(req, "Forwarded") == NULL &&
           http_req_header(req, "X-Real-IP") == NULL &&
           !http_req_has_header_prefix(req, "X-Forwarded-");
}

static bool same_origin(http_req *req, const char *issuer)
{
    const char *method = http_req_method(req);
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return true;
    const char *origin = http_req_header(req, "Origin");
    const char *site = http_req_header(req, "Sec-Fetch-Site");
    if (origin != NULL &&
        (http_req_header_count(req, "Origin") != 1 ||
         !web_origin_ok(issuer, http_req_header(req, "Host"), origin)))
        return false;
    return site == NULL ||
           strcasecmp(site, "same-origin") == 0 || strcasecmp(site, "none") == 0;
}

static void refuse(http_req *req, const web_route *wr, int status, const char *code,
                   const char *message)
{
    if (wr->flags & WEB_PAGE)
        page_error(req, status, message);
    else
        http_error(req, status, code, message);
}

static void guard(http_req *req)
{
    const web_route *wr = http_req_route_data(req);
    const char *issuer = http_req_app(req)->cfg.issuer;
    bool local = (wr->flags & WEB_LOCAL) != 0;
    if (local && !from_this_machine(req)) {
        http_error(req, 404, "not_found", "no such endpoint");
        return;
    }
    if (http_req_header_count(req, "Host") != 1 ||
        !web_host_ok(issuer, http_req_header(req, "Host"), local)) {
        refuse(req, wr, 421, "misdirected_request",
               "this server does not answer to that Host; use the issuer's address");
        return;
    }
    if (!(wr->flags & WEB_ANY_ORIGIN) && !same_origin(req, issuer)) {
        refuse(req, wr, 403, "forbidden", "a cross-site request cannot do this");
        return;
    }
    wr->handler(req);
}

int web_routes_add(router *r, const web_route *routes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (router_add(r, routes[i].method, routes[i].pattern, guard, &routes[i]) != 0)
            return -1;
    return 0;
}

/* ---- cookies ---- */

static bool https_issuer(http_req *req)
{
    return strncasecmp(http_req_app(req)->cfg.issuer, "https://", 8) == 0;
}

void web_set_cookie(http_req *req, const char *base, const char *value, const char *path,
                    const char *attrs)
{
    bool prefixed = https_issuer(req);
    http_header(req, "Set-Cookie",
                arena_printf(http_req_arena(req), "%s%s=%s; Path=%s; %s%s",
                             prefixed ? "__Host-" : "", base, value, prefixed ? "/" : path,
                             attrs, prefixed || http_req_is_tls(req) ? "; Secure" : ""));
}

const char *web_cookie(http_req *req, const char *base)
{
    const char *name = https_issuer(req) ? arena_printf(http_req_arena(req), "__Host-%s", base)
                                         : base;
    size_t nl = strlen(name);
    const char *h = http_req_header(req, "Cookie");
    for (const char *p = h; p != NULL && *p != '\0';) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl + 1 && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = len - nl - 1;
            while (vl > 0 && p[nl + vl] == ' ')
                vl--;
            return arena_strndup(http_req_arena(req), p + nl + 1, vl);
        }
        p = end;
    }
    return NULL;
}
