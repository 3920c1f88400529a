/*
 * glob: SQLite GLOB matching, byte for byte the semantics of SQLite's
 * patternCompare: `*` any sequence, `?` one character, `[...]` a set with
 * ranges (`a-z`), `[^...]` its complement, `]` first in a set is literal,
 * case-sensitive, no escape character. Characters are UTF-8 code points
 * decoded the way SQLite decodes them. Pure: no I/O, no state.
 */
#ifndef SHARK_ADMIN_GLOB_H
#define SHARK_ADMIN_GLOB_H

#include <stdbool.h>

/* True when `s` matches `pattern`. A pattern with an unterminated `[`
 * matches nothing, as in SQLite. Recursion depth is bounded by the number
 * of `*` in the pattern. */
bool glob_match(const char *pattern, const char *s);

/* 1 when every `[` in the pattern closes, else 0 (such a pattern can never
 * match anything). */
int glob_valid(const char *pattern);

#endif
