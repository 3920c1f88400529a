/* Scope lists (see scope.h). */
#include "scope.h"

#include <string.h>

static bool scope_in(const char *s, size_t n, const char *have)
{
    const char *p = have;
    while (p != NULL && *p != '\0') {
        const char *sp = strchr(p, ' ');
        size_t l = sp ? (size_t)(sp - p) : strlen(p);
        if (l == n && memcmp(p, s, n) == 0)
            return true;
        p = sp ? sp + 1 : NULL;
    }
    return false;
}

bool oauth_scope_subset(const char *want, const char *have)
{
    const char *p = want;
    while (p != NULL && *p != '\0') {
        const char *sp = strchr(p, ' ');
        size_t l = sp ? (size_t)(sp - p) : strlen(p);
        if (l > 0 && !scope_in(p, l, have ? have : ""))
            return false;
        p = sp ? sp + 1 : NULL;
    }
    return true;
}

const char *oauth_scope_clip(arena *a, const char *s, const char *allow)
{
    char *out = arena_alloc(a, strlen(s) + 1), *o = out;
    for (const char *p = s; *p != '\0';) {
        size_t n = strcspn(p, " ");
        if (n > 0 && scope_in(p, n, allow)) {
            if (o != out)
                *o++ = ' ';
            memcpy(o, p, n);
            o += n;
        }
        p += n + (p[n] == ' ');
    }
    *o = '\0';
    return out;
}

bool oauth_scope_valid(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 2000)
        return false;
    bool prev_space = true;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == ' ') {
            if (prev_space)
                return false;
            prev_space = true;
        } else if (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\') {
            return false;
        } else {
            prev_space = false;
        }
    }
    return !prev_space;
}
