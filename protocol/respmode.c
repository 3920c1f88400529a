#include "respmode.h"

#include <string.h>

#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../identity/pages.h"

const char *const oauth_response_modes[] = {"query", "fragment", "form_post", NULL};

bool oauth_response_mode_known(const char *mode)
{
    for (const char *const *m = oauth_response_modes; *m != NULL; m++)
        if (strcmp(*m, mode) == 0)
            return true;
    return false;
}

const char *oauth_qs(http_req *req, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(v);
    char *o = arena_alloc(http_req_arena(req), n * 3 + 1), *p = o;
    for (const char *c = v; *c; c++) {
        unsigned char ch = (unsigned char)*c;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            *p++ = (char)ch;
        } else {
            *p++ = '%';
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 15];
        }
    }
    *p = '\0';
    return o;
}

/* scheme://authority of uri, when it is safe inside a CSP directive. */
static const char *origin(http_req *req, const char *uri)
{
    const char *p = strstr(uri, "://");
    if (p == NULL)
        return NULL;
    size_t n = (size_t)(p + 3 - uri) + strcspn(p + 3, "/?#");
    for (size_t i = 0; i < n; i++)
        if (uri[i] <= ' ' || uri[i] == ';' || uri[i] == ',' || uri[i] == '\'' || uri[i] == '"' ||
            (unsigned char)uri[i] >= 0x7f)
            return NULL;
    return arena_strndup(http_req_arena(req), uri, n);
}

static void form_post(http_req *req, const char *uri, const char *const *kv)
{
    arena *a = http_req_arena(req);
    const char *to = origin(req, uri);
    if (to == NULL) {
        page_error(req, 400, "The redirect URI cannot take a form post.");
        return;
    }
    uint8_t raw[16];
    char nonce[32];
    hash_random(raw, sizeof(raw));
    enc_base62(raw, sizeof(raw), nonce, sizeof(nonce));
    char *inputs = arena_strdup(a, "");
    for (; kv[0] != NULL; kv += 2)
        inputs = arena_printf(a, "%s<input type=hidden name=\"%s\" value=\"%s\">", inputs,
                              page_escape(req, kv[0]), page_escape(req, kv[1]));
    char *html = arena_printf(a,
                              "<!doctype html><html lang=en><head><meta charset=utf-8>"
                              "<title>Continue · SharkAuth</title></head><body>"
                              "<form method=post action=\"%s\">%s<noscript><p>Scripts are off: "
                              "continue to the application.</p><button>Continue</button>"
                              "</noscript></form><script nonce=\"%s\">"
                              "document.forms[0].submit()</script></body></html>",
                              page_escape(req, uri), inputs, nonce);
    http_header(req, "Content-Security-Policy",
                arena_printf(a, "default-src 'none'; script-src 'nonce-%s'; form-action %s; "
                                "frame-ancestors 'none'", nonce, to));
    http_header(req, "X-Frame-Options", "DENY");
    http_header(req, "Referrer-Policy", "no-referrer");
    http_header(req, "Cache-Control", "no-store");
    http_respond(req, 200, "text/html; charset=utf-8", html, strlen(html));
}

void oauth_response_send(http_req *req, const char *redirect_uri, const char *mode,
                         const char *const *kv)
{
    if (mode != NULL && strcmp(mode, "form_post") == 0) {
        form_post(req, redirect_uri, kv);
        return;
    }
    bool fragment = mode != NULL && strcmp(mode, "fragment") == 0;
    arena *a = http_req_arena(req);
    char sep = fragment ? '#' : strchr(redirect_uri, '?') ? '&' : '?';
    char *url = arena_printf(a, "%s", redirect_uri);
    for (; kv[0] != NULL; kv += 2) {
        url = arena_printf(a, "%s%c%s=%s", url, sep, kv[0], oauth_qs(req, kv[1]));
        sep = '&';
    }
    http_header(req, "Location", url);
    http_respond(req, 303, "text/plain", "", 0);
}
