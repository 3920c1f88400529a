/* URLs under the issuer (see issuer.h). */
#include "issuer.h"

#include <stdio.h>

void oauth_url(const app *a, const char *path, char *out, size_t len)
{
    snprintf(out, len, "%s%s", a->cfg.issuer, path);
}
