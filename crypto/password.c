#include "password.h"

#include <sodium.h>
#include <string.h>

/* Interactive limits: ~0.1 s and 64 MiB per hash on a server core. */
int password_hash(const char *password, char out[PASSWORD_HASH_MAX])
{
    _Static_assert(crypto_pwhash_STRBYTES <= PASSWORD_HASH_MAX, "hash buffer too small");
    return crypto_pwhash_str_alg(out, password, strlen(password),
                                 crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                 crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13);
}

bool password_verify(const char *password, const char *encoded)
{
    return encoded != NULL && crypto_pwhash_str_verify(encoded, password, strlen(password)) == 0;
}

const char *password_weakness(const char *password)
{
    size_t n = strlen(password);
    if (n < 10)
        return "password must be at least 10 characters";
    if (n > 1024)
        return "password must be at most 1024 bytes";
    bool same = true, digits = true;
    for (size_t i = 0; i < n; i++) {
        same &= password[i] == password[0];
        digits &= password[i] >= '0' && password[i] <= '9';
    }
    if (same || digits)
        return "password is too easy to guess";
    return NULL;
}
