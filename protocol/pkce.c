/* PKCE verification (see pkce.h). */
#include "pkce.h"

#include <stdint.h>
#include <string.h>

#include "../crypto/encoding.h"
#include "../crypto/hash.h"

bool oauth_pkce_ok(const char *verifier, const char *challenge)
{
    size_t n = verifier ? strlen(verifier) : 0;
    if (n < 43 || n > 128)
        return false;
    for (const char *p = verifier; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '_' || *p == '~'))
            return false;
    uint8_t h[HASH_SHA256_LEN];
    char b64[48];
    hash_sha256(verifier, n, h);
    enc_b64url(h, sizeof(h), b64, sizeof(b64));
    return hash_ct_eq(b64, strlen(b64), challenge, strlen(challenge));
}
