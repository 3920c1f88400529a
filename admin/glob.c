#include "glob.h"

#include <stdint.h>

/* SQLite's three-way result: NOWILDCARD means "no later position of the
 * enclosing `*` can match either", which cuts the backtracking so nested
 * stars stay polynomial. */
enum { MATCH, NOMATCH, NOWILDCARD };

/* Payload bits of a UTF-8 lead byte 0xc0..0xff (sqlite3Utf8Trans1). */
static const uint8_t lead_bits[64] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x00, 0x01, 0x02, 0x03, 0x00, 0x01, 0x00, 0x00,
};

/* sqlite3Utf8Read: malformed sequences decode to U+FFFD, stray continuation
 * bytes to themselves. Advances past the terminating NUL when it reads it;
 * callers stop at a 0 result. */
static uint32_t utf8_read(const uint8_t **p)
{
    uint32_t c = *(*p)++;
    if (c >= 0xc0) {
        c = lead_bits[c - 0xc0];
        while ((**p & 0xc0) == 0x80)
            c = (c << 6) + (0x3f & *(*p)++);
        if (c < 0x80 || (c & 0xFFFFF800) == 0xD800 || (c & 0xFFFFFFFE) == 0xFFFE)
            c = 0xFFFD;
    }
    return c;
}

static void utf8_skip(const uint8_t **p)
{
    if (*(*p)++ >= 0xc0)
        while ((**p & 0xc0) == 0x80)
            (*p)++;
}

/* One `[...]` against the character c; *p is just past the `[`. Returns
 * whether it matched, and -1 for an unterminated set. */
static int match_set(const uint8_t **p, uint32_t c)
{
    uint32_t prior = 0, c2 = utf8_read(p);
    int seen = 0, invert = 0;
    if (c2 == '^') {
        invert = 1;
        c2 = utf8_read(p);
    }
    if (c2 == ']') {
        seen = c == ']';
        c2 = utf8_read(p);
    }
    while (c2 != 0 && c2 != ']') {
        /* A '-' first, last or right after a range is literal. */
        if (c2 == '-' && (*p)[0] != ']' && (*p)[0] != 0 && prior > 0) {
            c2 = utf8_read(p);
            if (c >= prior && c <= c2)
                seen = 1;
            prior = 0;
        } else {
            if (c == c2)
                seen = 1;
            prior = c2;
        }
        c2 = utf8_read(p);
    }
    if (c2 == 0)
        return -1;
    return seen ^ invert;
}

static int compare(const uint8_t *p, const uint8_t *s)
{
    uint32_t c, c2;
    while ((c = utf8_read(&p)) != 0) {
        if (c == '*') {
            /* Runs of '*' and '?' collapse; each '?' still takes one character. */
            while ((c = utf8_read(&p)) == '*' || c == '?')
                if (c == '?' && utf8_read(&s) == 0)
                    return NOWILDCARD;
            if (c == 0)
                return MATCH;
            if (c == '[') {
                /* A set right after '*': try every position. */
                for (; *s != 0; utf8_skip(&s)) {
                    int m = compare(p - 1, s);
                    if (m != NOMATCH)
                        return m;
                }
                return NOWILDCARD;
            }
            while ((c2 = utf8_read(&s)) != 0) {
                if (c2 != c)
                    continue;
                int m = compare(p, s);
                if (m != NOMATCH)
                    return m;
            }
            return NOWILDCARD;
        }
        if (c == '[') {
            c = utf8_read(&s);
            if (c == 0 || match_set(&p, c) != 1)
                return NOMATCH;
            continue;
        }
        c2 = utf8_read(&s);
        if (c != c2 && !(c == '?' && c2 != 0))
            return NOMATCH;
    }
    return *s == 0 ? MATCH : NOMATCH;
}

bool glob_match(const char *pattern, const char *s)
{
    return compare((const uint8_t *)pattern, (const uint8_t *)s) == MATCH;
}

int glob_valid(const char *pattern)
{
    for (const char *p = pattern; *p != 0;) {
        if (*p++ != '[')
            continue;
        if (*p == '^')
            p++;
        if (*p == ']')
            p++;
        while (*p != 0 && *p != ']')
            p++;
        if (*p == 0)
            return 0;
        p++;
    }
    return 1;
}
