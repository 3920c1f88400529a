/*
 * scope: space-separated scope lists (RFC 6749 §3.3): the grammar, subset
 * and intersection. Pure functions, no request or store.
 */
#ifndef SHARK_PROTOCOL_SCOPE_H
#define SHARK_PROTOCOL_SCOPE_H

#include <stdbool.h>

#include "../core/arena.h"

/* True when every space-separated scope of want is in have. */
bool oauth_scope_subset(const char *want, const char *have);
/* The space-separated scopes of s that are also in allow, in s's order, in
 * the arena ("" when none are). */
const char *oauth_scope_clip(arena *a, const char *s, const char *allow);
/* Scope text is 1*( %x21 / %x23-5B / %x5D-7E ) separated by single spaces. */
bool oauth_scope_valid(const char *s);

#endif
