/*
 * pkce: Proof Key for Code Exchange with S256 only (RFC 7636): a verifier is
 * 43-128 unreserved characters, and BASE64URL(SHA-256(verifier)) must equal
 * the challenge of the authorization request (compared in constant time).
 */
#ifndef SHARK_PROTOCOL_PKCE_H
#define SHARK_PROTOCOL_PKCE_H

#include <stdbool.h>

/* False for a missing or malformed verifier, or one that does not match. */
bool oauth_pkce_ok(const char *verifier, const char *challenge);

#endif
