/*
 * fuzz_glob: admin/glob.c, the GLOB matcher of revoke-by-pattern, against a
 * reference written here: the same character decoding (SQLite's), then
 * dynamic programming over (pattern, string) positions with no backtracking
 * shortcuts, so a flaw in glob.c's three-way cut shows up as a difference.
 * The input is the pattern, a NUL, and the string.
 *
 * Properties: glob_match agrees with the reference; a pattern glob_valid
 * refuses matches nothing.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/glob.h"
#include "fuzz_app.h"

/* SQLite's decoding: a lead byte takes every continuation byte after it;
 * overlong, surrogate and U+FFFE/U+FFFF results are U+FFFD; stray
 * continuation bytes stand for themselves. */
static size_t decode(const uint8_t *s, uint32_t *out)
{
    size_t n = 0;
    while (*s != 0) {
        uint32_t c = *s++;
        if (c >= 0xc0) {
            c = c < 0xe0   ? c & 0x1f
                : c < 0xf0 ? c & 0x0f
                : c < 0xf8 ? c & 0x07
                : c < 0xfc ? c & 0x03
                : c < 0xfe ? c & 0x01
                           : 0;
            while ((*s & 0xc0) == 0x80)
                c = (c << 6) + (*s++ & 0x3f);
            if (c < 0x80 || (c & 0xFFFFF800) == 0xD800 || (c & 0xFFFFFFFE) == 0xFFFE)
                c = 0xFFFD;
        }
        out[n++] = c;
    }
    return n;
}

struct ref {
    const uint32_t *p, *s;
    size_t pn, sn;
    int8_t *memo; /* (pn + 1) x (sn + 1): -1 unknown */
};

/* The set starting just past '[' at p[i]: whether c is in it, and where it
 * ends (index of its ']'); false with *end = pn when it never closes. */
static bool in_set(const struct ref *r, size_t i, uint32_t c, size_t *end)
{
    bool invert = false, seen = false;
    uint32_t prior = 0;
    if (i < r->pn && r->p[i] == '^') {
        invert = true;
        i++;
    }
    if (i < r->pn && r->p[i] == ']') {
        seen = c == ']';
        i++;
    }
    for (; i < r->pn && r->p[i] != ']'; i++) {
        /* '-' between two characters is a range, except right after one. */
        if (r->p[i] == '-' && prior > 0 && i + 1 < r->pn && r->p[i + 1] != ']') {
            seen = seen || (c >= prior && c <= r->p[i + 1]);
            prior = 0;
            i++;
        } else {
            seen = seen || c == r->p[i];
            prior = r->p[i];
        }
    }
    *end = i;
    return i < r->pn && seen != invert;
}

static bool ref_match(struct ref *r, size_t pi, size_t si)
{
    int8_t *m = &r->memo[pi * (r->sn + 1) + si];
    if (*m >= 0)
        return *m;
    bool ok;
    if (pi == r->pn) {
        ok = si == r->sn;
    } else if (r->p[pi] == '*') {
        ok = ref_match(r, pi + 1, si) || (si < r->sn && ref_match(r, pi, si + 1));
    } else if (r->p[pi] == '?') {
        ok = si < r->sn && ref_match(r, pi + 1, si + 1);
    } else if (r->p[pi] == '[') {
        size_t end;
        ok = si < r->sn && in_set(r, pi + 1, r->s[si], &end) && ref_match(r, end + 1, si + 1);
    } else {
        ok = si < r->sn && r->p[pi] == r->s[si] && ref_match(r, pi + 1, si + 1);
    }
    *m = ok;
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 2);
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = '\0';
    const char *pattern = buf, *s = buf + strlen(buf) + 1;
    if (s > buf + size)
        s = buf + size + 1; /* no NUL in the input: the string is empty */
    bool got = glob_match(pattern, s);
    FUZZ_ASSERT(glob_valid(pattern) || !got);

    uint32_t *p = malloc((strlen(pattern) + 1) * sizeof(*p)),
             *t = malloc((strlen(s) + 1) * sizeof(*t));
    struct ref r = {p, t, decode((const uint8_t *)pattern, p), decode((const uint8_t *)s, t), NULL};
    if ((r.pn + 1) * (r.sn + 1) <= 1 << 20) {
        r.memo = malloc((r.pn + 1) * (r.sn + 1));
        memset(r.memo, -1, (r.pn + 1) * (r.sn + 1));
        FUZZ_ASSERT(ref_match(&r, 0, 0) == got);
        free(r.memo);
    }
    free(p);
    free(t);
    free(buf);
    return 0;
}
