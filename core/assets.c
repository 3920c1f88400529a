#include "assets.h"

#include <string.h>
#include <strings.h>

const asset *assets_find(const asset_table *t, const char *path)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(path, t->v[mid].path);
        if (c == 0)
            return &t->v[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

bool assets_accepts_gzip(const char *ae)
{
    const char *p = ae;
    while (p != NULL && *p != '\0') {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        size_t name = strcspn(p, " \t;,");
        if (name == 4 && strncasecmp(p, "gzip", 4) == 0) {
            const char *q = memchr(p, '=', n);
            if (q == NULL)
                return true;
            q += 1 + strspn(q + 1, " \t");
            if (*q != '0')
                return true;
            for (q++; *q == '.' || *q == '0'; q++)
                ;
            return !(*q == '\0' || *q == ',' || *q == ' ' || *q == '\t');
        }
        p += n;
    }
    return false;
}

/* If-None-Match: "*" or a list holding our tag (weak comparison, §13.1.2). */
static bool etag_matches(const char *inm, const char *etag)
{
    if (inm == NULL)
        return false;
    if (strcmp(inm, "*") == 0)
        return true;
    return strstr(inm, etag) != NULL;
}

void assets_respond(http_req *req, const asset *a, const char *cache_control)
{
    http_header(req, "Cache-Control", cache_control);
    http_header(req, "ETag", a->etag);
    http_header(req, "X-Content-Type-Options", "nosniff");
    if (a->gz != NULL)
        http_header(req, "Vary", "Accept-Encoding");
    if (etag_matches(http_req_header(req, "If-None-Match"), a->etag)) {
        http_respond(req, 304, NULL, "", 0);
        return;
    }
    if (a->gz != NULL && assets_accepts_gzip(http_req_header(req, "Accept-Encoding"))) {
        http_header(req, "Content-Encoding", "gzip");
        http_respond(req, 200, a->type, a->gz, a->gzlen);
        return;
    }
    http_respond(req, 200, a->type, a->data, a->len);
}
