#include "pages.h"

#include <string.h>

static const char style[] =
    "body{font-family:system-ui,sans-serif;background:#f4f6f8;margin:0;color:#1c2530}"
    "main{max-width:26rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:.5rem;"
    "box-shadow:0 1px 4px rgba(0,0,0,.12)}h1{font-size:1.3rem;margin-top:0}"
    "label{display:block;margin:.8rem 0 .3rem}input[type=email],input[type=password],"
    "input[type=text]{width:100%;padding:.5rem;box-sizing:border-box;border:1px solid #aab;"
    "border-radius:.3rem}button{margin-top:1rem;padding:.55rem 1.2rem;border:0;"
    "border-radius:.3rem;background:#1d5fd6;color:#fff;font-size:1rem}"
    "button.secondary{background:#dde3ea;color:#1c2530}ul{padding-left:1.2rem}"
    ".err{color:#b3261e}.muted{color:#5b6775;font-size:.9rem}";

const char *page_escape(http_req *req, const char *s)
{
    if (s == NULL)
        return "";
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += strchr("<>&\"'", *p) ? 6 : 1;
    char *out = arena_alloc(http_req_arena(req), n + 1), *o = out;
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '<': memcpy(o, "&lt;", 4); o += 4; break;
        case '>': memcpy(o, "&gt;", 4); o += 4; break;
        case '&': memcpy(o, "&amp;", 5); o += 5; break;
        case '"': memcpy(o, "&quot;", 6); o += 6; break;
        case '\'': memcpy(o, "&#39;", 5); o += 5; break;
        default: *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

void page_send(http_req *req, int status, const char *title, const char *body_html)
{
    char *html = arena_printf(http_req_arena(req),
                              "<!doctype html><html lang=en><head><meta charset=utf-8>"
                              "<meta name=viewport content=\"width=device-width,initial-scale=1\">"
                              "<title>%s · SharkAuth</title><style>%s</style></head>"
                              "<body><main>%s</main></body></html>",
                              title, style, body_html);
    /* Pages hold CSRF tokens and must not be framed by other sites. */
    http_header(req, "X-Frame-Options", "DENY");
    http_header(req, "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' *; "
                "frame-ancestors 'none'");
    http_header(req, "Referrer-Policy", "no-referrer");
    http_respond(req, status, "text/html; charset=utf-8", html, strlen(html));
}

void page_error(http_req *req, int status, const char *message)
{
    page_send(req, status, "Error",
              arena_printf(http_req_arena(req), "<h1>Something is not right</h1><p class=err>%s</p>",
                           page_escape(req, message)));
}
