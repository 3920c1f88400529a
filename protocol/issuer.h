/* issuer: URLs of our own endpoints, under the configured issuer. */
#ifndef SHARK_PROTOCOL_ISSUER_H
#define SHARK_PROTOCOL_ISSUER_H

#include <stddef.h>

#include "../core/server.h"

/* URL of an endpoint under the issuer, e.g. oauth_url(a, "/oauth/token"),
 * written into out. */
void oauth_url(const app *a, const char *path, char *out, size_t len);

#endif
