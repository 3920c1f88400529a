/*
 * assets: files embedded in the binary at build time (tools/embed_assets.py
 * generates an asset_table from a directory), looked up by URL path and
 * answered with their type, ETag (If-None-Match gives 304) and, when the
 * client accepts gzip and a smaller form was stored, gzip encoding.
 */
#ifndef SHARK_CORE_ASSETS_H
#define SHARK_CORE_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

typedef struct asset {
    const char *path; /* URL path, e.g. "/admin/assets/index-3f2a.js" */
    const char *data;
    size_t len;
    const char *gz; /* gzip form, or NULL */
    size_t gzlen;
    const char *type; /* Content-Type */
    const char *etag; /* quoted strong ETag (a digest of data) */
} asset;

typedef struct asset_table {
    const asset *v; /* sorted by path */
    size_t n;
} asset_table;

/* The asset at exactly path, or NULL. */
const asset *assets_find(const asset_table *t, const char *path);
/* True when an Accept-Encoding value lists gzip without q=0 (RFC 9110
 * §12.5.3). Pure. */
bool assets_accepts_gzip(const char *accept_encoding);
/* Answers 200 with the asset (or 304 on a matching If-None-Match) and
 * cache_control; the caller sets any other headers first. */
void assets_respond(http_req *req, const asset *a, const char *cache_control);

#endif
