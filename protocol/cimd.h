/*
 * cimd: Client ID Metadata Documents. A client_id that is an https URL needs
 * no registration: the server fetches the JSON metadata document at that URL
 * (size-capped, private-address safe, no redirects), checks that it names
 * itself, and caches it as a client per its Cache-Control max-age.
 */
#ifndef SHARK_PROTOCOL_CIMD_H
#define SHARK_PROTOCOL_CIMD_H

#include <stdbool.h>

#include "../core/http.h"

bool cimd_is_url(const char *client_id);

/* Makes sure a URL client_id has a fresh client row; error is NULL when the
 * caller can go on and load the client as usual (also for non-URL ids). */
typedef void (*cimd_cb)(http_req *req, void *ud, const char *error);
void cimd_resolve(http_req *req, const char *client_id, cimd_cb cb, void *ud);

#endif
