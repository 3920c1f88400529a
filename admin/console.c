#include "console.h"

#include <string.h>

#include "admin.h"

/* connect-src 'self' only: the app talks to this server and nothing else;
 * images may be data: URLs (inline SVG icons in the bundle). */
#define CSP_BASE                                                                               \
    "default-src 'self'; script-src 'self'; img-src 'self' data:; font-src 'self'; "          \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "        \
    "form-action 'self'"
static const char csp_admin[] = CSP_BASE "; style-src 'self'";
/* Scalar's reference writes <style> elements at run time (its theme and
 * component styles), so this one page allows inline styles; scripts stay
 * 'self' only. */
static const char csp_docs[] = CSP_BASE "; style-src 'self' 'unsafe-inline'";

static void security_headers(http_req *req, const char *csp)
{
    http_header(req, "Content-Security-Policy", csp);
    http_header(req, "X-Frame-Options", "DENY");
    http_header(req, "Referrer-Policy", "no-referrer");
    http_header(req, "Cross-Origin-Opener-Policy", "same-origin");
}

static void not_built(http_req *req)
{
    http_error(req, 404, "not_found", "this build has no dashboard bundle");
}

static void page(http_req *req, const char *name, const char *csp)
{
    const asset *a = assets_find(&console_assets, name);
    if (a == NULL) {
        not_built(req);
        return;
    }
    security_headers(req, csp);
    assets_respond(req, a, "no-cache");
}

static void admin_app(http_req *req)
{
    const char *path = http_req_path(req);
    /* Under /admin/assets there are files only: anything else is a 404,
     * never the app (a stale or mistyped asset URL must not get HTML). */
    if (strcmp(path, "/admin/assets") == 0 || strncmp(path, "/admin/assets/", 14) == 0) {
        const asset *a = assets_find(&console_assets, path);
        if (a == NULL) {
            http_error(req, 404, "not_found", "no such asset");
            return;
        }
        security_headers(req, csp_admin);
        assets_respond(req, a, "public, max-age=31536000, immutable");
        return;
    }
    page(req, "/admin/index.html", csp_admin);
}

static void api_docs(http_req *req)
{
    page(req, "/admin/docs.html", csp_docs);
}

/* The router has no catch-all, so the app's routes are registered by depth
 * (the deepest the app uses is /admin/tokens/{jti}/chain). */
static const struct {
    const char *pattern;
    route_handler handler;
} routes[] = {
    {"/admin", admin_app},
    {"/admin/{p1}", admin_app},
    {"/admin/{p1}/{p2}", admin_app},
    {"/admin/{p1}/{p2}/{p3}", admin_app},
    {"/admin/{p1}/{p2}/{p3}/{p4}", admin_app},
    {"/api/docs", api_docs},
};

int admin_console_register(router *r)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (router_add(r, "GET", routes[i].pattern, routes[i].handler, NULL) != 0)
            return -1;
    return 0;
}
