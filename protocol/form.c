#include "form.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "../core/http.h"
#include "../crypto/encoding.h"
#include "errors.h"

int form_parse(arena *a, const char *body, size_t len, form *f, const char **bad)
{
    f->n = 0;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && body[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(body + i, '=', j - i);
            size_t kl = eq ? (size_t)(eq - (body + i)) : j - i;
            char *name = arena_strndup(a, body + i, kl);
            char *value = eq ? arena_strndup(a, eq + 1, j - i - kl - 1) : arena_strdup(a, "");
            if (memchr(body + i, '\0', j - i) != NULL || http_pct_decode(name, true) != 0 ||
                http_pct_decode(value, true) != 0 || name[0] == '\0')
                return FORM_EMALFORMED;
            for (int k = 0; k < f->n; k++) {
                if (strcmp(f->f[k].name, name) == 0) {
                    if (bad != NULL)
                        *bad = f->f[k].name;
                    return FORM_EDUPLICATE;
                }
            }
            if (f->n == FORM_MAX_FIELDS)
                return FORM_ETOOMANY;
            f->f[f->n].name = name;
            f->f[f->n].value = value;
            f->n++;
        }
        i = j + 1;
    }
    return FORM_OK;
}

const char *form_get(const form *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->f[i].name, name) == 0)
            return f->f[i].value[0] != '\0' ? f->f[i].value : NULL;
    return NULL;
}

/* The id and secret are form-encoded before base64 (RFC 6749 §2.3.1), so
 * both are decoded again after the split at the first colon. */
int form_basic_credentials(arena *a, const char *hdr, const char **id, const char **secret)
{
    if (hdr == NULL || strncasecmp(hdr, "Basic ", 6) != 0)
        return -1;
    const char *b64 = hdr + 6;
    while (*b64 == ' ')
        b64++;
    size_t n = strlen(b64);
    uint8_t *raw = arena_alloc(a, n + 1);
    long len = enc_b64_decode(b64, n, raw, n + 1);
    if (len <= 0)
        return -1;
    raw[len] = '\0';
    if (memchr(raw, '\0', (size_t)len) != NULL)
        return -1;
    char *colon = strchr((char *)raw, ':');
    if (colon == NULL)
        return -1;
    *colon = '\0';
    char *i = (char *)raw, *s = colon + 1;
    if (http_pct_decode(i, true) != 0 || http_pct_decode(s, true) != 0 || *i == '\0')
        return -1;
    *id = i;
    *secret = s;
    return 0;
}

/* Shared by every form-posting endpoint: content type, parse, duplicates. */
int oauth_read_form(http_req *req, form *f)
{
    const char *ct = http_req_header(req, "Content-Type");
    size_t len;
    const char *body = http_req_body(req, &len);
    const char *dup = NULL;
    if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        http_error_oauth(req, 400, "invalid_request",
                         "Content-Type must be application/x-www-form-urlencoded");
        return -1;
    }
    int rc = form_parse(http_req_arena(req), body, len, f, &dup);
    if (rc == FORM_EDUPLICATE) {
        http_error_oauth(
            req, 400, "invalid_request",
            arena_printf(http_req_arena(req), "parameter %s given more than once", dup));
        return -1;
    }
    if (rc != FORM_OK) {
        http_error_oauth(req, 400, "invalid_request", "malformed form body");
        return -1;
    }
    return 0;
}
