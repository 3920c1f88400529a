/*
 * password: argon2id password hashes (libsodium's encoded form, which
 * carries its own salt and cost) and the minimum strength rule. CPU- and
 * memory-heavy by design: callers run these off the event loop threads.
 */
#ifndef SHARK_CRYPTO_PASSWORD_H
#define SHARK_CRYPTO_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWORD_HASH_MAX 128

/* Returns 0 and the encoded hash, or -1 (out of memory). */
int password_hash(const char *password, char out[PASSWORD_HASH_MAX]);
/* True when password matches the encoded hash. */
bool password_verify(const char *password, const char *encoded);
/* NULL when acceptable, else why not: 10 to 1024 bytes, and not a single
 * repeated character or an all-digit string. */
const char *password_weakness(const char *password);

#endif
