/*
 * cimd: Client ID Metadata Documents. A client_id that is an https URL needs
 * no registration: the server fetches the JSON metadata document at that URL
 * (size-capped, private-address safe, no redirects, bounded per process and
 * per client address), checks that it names itself and that its redirect
 * URIs are ones registration accepts, and caches it as a client per its
 * Cache-Control max-age. A failed URL is not fetched again for 30 s.
 */
#ifndef SHARK_PROTOCOL_CIMD_H
#define SHARK_PROTOCOL_CIMD_H

#include <stdbool.h>

#include "../core/http.h"

bool cimd_is_url(const char *client_id);

/* The error text of a lookup that failed for want of the store (also
 * oauth_client_lookup's). */
#define OAUTH_LOOKUP_UNAVAILABLE "unavailable"

/* Makes sure a URL client_id has a fresh client row; error is NULL when the
 * caller can go on and load the client as usual (also for non-URL ids),
 * OAUTH_LOOKUP_UNAVAILABLE ("unavailable": answer 503) when the store or
 * the fetch limits say not now, else one generic reason for the client (the
 * exact cause is logged). */
typedef void (*cimd_cb)(http_req *req, void *ud, const char *error);
void cimd_resolve(http_req *req, const char *client_id, cimd_cb cb, void *ud);

#endif
