/*
 * utf8: validation of UTF-8 text. Every string that reaches PostgreSQL (a
 * UTF-8 database) or a JSON document must be valid; checking at the edge
 * turns bad bytes into a 400 instead of a failed statement.
 */
#ifndef SHARK_CORE_UTF8_H
#define SHARK_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1-4) of the valid sequence starting at s, or 0: overlong forms,
 * surrogates, code points above U+10FFFF and truncated sequences are
 * invalid. Reads no further than the first byte that is not a continuation. */
size_t utf8_seq_len(const unsigned char *s);
/* Whether the NUL-terminated s is valid UTF-8. */
bool utf8_valid(const char *s);

#endif
