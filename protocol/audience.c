#include "audience.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "cimd.h"

bool oauth_resource_valid(const char *uri)
{
    size_t scheme = strspn(uri,
                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    if (scheme == 0 || !isalpha((unsigned char)uri[0]) || uri[scheme] != ':' ||
        uri[scheme + 1] == '\0' || strlen(uri) > 1000)
        return false;
    bool web = (scheme == 4 && strncasecmp(uri, "http", 4) == 0) ||
               (scheme == 5 && strncasecmp(uri, "https", 5) == 0);
    if (web && (strncmp(uri + scheme, "://", 3) != 0 || strchr("/?", uri[scheme + 3]) != NULL))
        return false; /* no host (strchr also finds the terminating NUL) */
    for (const char *p = uri; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '#')
            return false;
    return true;
}

/* Whether aud is one whole entry of the space-separated list. */
static bool in_list(const char *list, const char *aud)
{
    size_t n = strlen(aud);
    for (const char *p = list; p != NULL && *p != '\0';) {
        const char *sp = strchr(p, ' ');
        size_t l = sp != NULL ? (size_t)(sp - p) : strlen(p);
        if (l == n && memcmp(p, aud, n) == 0)
            return true;
        p = sp != NULL ? sp + 1 : NULL;
    }
    return false;
}

bool oauth_audience_listed(const app *a, const oauth_client *c, const char *aud)
{
    return strcmp(aud, a->cfg.issuer) == 0 || in_list(c->resources, aud);
}

/* Clients the operator created or let register: agents, and dynamic clients
 * registered with the admin key or an initial access token. */
static bool vouched_for(const oauth_client *c)
{
    if (strcmp(c->kind, "agent") == 0)
        return true;
    return strcmp(c->kind, "dcr") == 0 && c->registered_by != NULL &&
           strcmp(c->registered_by, "open") != 0;
}

struct target {
    oauth_audience_cb cb;
    void *ud;
};

static void on_target(http_req *req, void *ud, const oauth_client *c, const char *error)
{
    struct target *t = ud;
    if (c == NULL && error != NULL && strcmp(error, OAUTH_LOOKUP_UNAVAILABLE) == 0)
        t->cb(req, t->ud, OAUTH_AUDIENCE_UNAVAILABLE);
    else
        t->cb(req, t->ud, c != NULL ? OAUTH_AUDIENCE_OK : OAUTH_AUDIENCE_REFUSED);
}

void oauth_audience_check(http_req *req, const oauth_client *c, const char *aud,
                          oauth_audience_cb cb, void *ud)
{
    if (oauth_audience_listed(http_req_app(req), c, aud)) {
        cb(req, ud, OAUTH_AUDIENCE_OK);
        return;
    }
    /* A URL is never looked up as a client: that would fetch a metadata
     * document from wherever the caller pointed. */
    if (!vouched_for(c) || cimd_is_url(aud)) {
        cb(req, ud, OAUTH_AUDIENCE_REFUSED);
        return;
    }
    struct target *t = arena_calloc(http_req_arena(req), sizeof(*t));
    t->cb = cb;
    t->ud = ud;
    oauth_client_lookup(req, aud, on_target, t);
}
