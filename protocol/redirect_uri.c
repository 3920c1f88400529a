/* Redirect URI validation (see redirect_uri.h). */
#include "redirect_uri.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define MAX_URI 2000 /* bytes of one redirect URI */

static bool loopback_host(const char *h, size_t n)
{
    return (n == 9 && strncmp(h, "127.0.0.1", 9) == 0) || (n == 5 && strncmp(h, "[::1]", 5) == 0) ||
           (n == 9 && strncasecmp(h, "localhost", 9) == 0);
}

const char *oauth_redirect_uri_problem(const char *u)
{
    size_t n = strlen(u);
    if (n > MAX_URI)
        return "is too long";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7f)
            return "contains a space, control or non-ASCII character";
    if (strchr(u, '#') != NULL)
        return "must not contain a fragment";
    bool https = strncasecmp(u, "https://", 8) == 0;
    if (!https && strncasecmp(u, "http://", 7) != 0)
        return "must be an absolute https URL";
    const char *auth = u + (https ? 8 : 7);
    size_t alen = strcspn(auth, "/?");
    if (memchr(auth, '@', alen) != NULL)
        return "must not contain user credentials";
    size_t hlen;
    if (auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        hlen = close != NULL ? (size_t)(close - auth) + 1 : 0;
    } else {
        hlen = strcspn(auth, ":/?");
    }
    if (hlen == 0)
        return "has no valid host";
    if (hlen < alen) {
        size_t plen = alen - hlen - 1;
        if (auth[hlen] != ':' || plen == 0 || plen > 5 ||
            strspn(auth + hlen + 1, "0123456789") < plen)
            return "has an invalid port";
    }
    if (!https && !loopback_host(auth, hlen))
        return "may use http only for 127.0.0.1, [::1] or localhost";
    return NULL;
}
