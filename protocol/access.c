#include "access.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../crypto/jws.h"
#include "keys.h"

static void release(void *p) { json_decref(p); }

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

int oauth_access_verify(app *a, arena *ar, const char *token, oauth_access *out)
{
    jws_token *t = NULL;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (token == NULL || strlen(token) > 16384 || jws_parse(token, strlen(token), &t) != 0)
        goto done;
    const char *kid = str(jws_header(t), "kid"), *typ = str(jws_header(t), "typ");
    const keyring_key *k = kid ? keyring_find(keyring_current(a->keys), kid) : NULL;
    if (k == NULL || typ == NULL || strcasecmp(typ, "at+jwt") != 0 || jws_verify(t, k->key) != 0)
        goto done;
    json_t *c = (json_t *)jws_claims(t);
    const char *iss = str(c, "iss");
    json_t *exp = json_object_get(c, "exp"), *iat = json_object_get(c, "iat");
    if (iss == NULL || strcmp(iss, a->cfg.issuer) != 0 || !json_is_integer(exp) ||
        json_integer_value(exp) <= (json_int_t)time(NULL) || str(c, "jti") == NULL ||
        str(c, "sub") == NULL || str(c, "client_id") == NULL)
        goto done;
    out->claims = json_incref(c);
    arena_cleanup(ar, release, out->claims);
    out->jti = str(c, "jti");
    out->sub = str(c, "sub");
    out->client_id = str(c, "client_id");
    out->scope = str(c, "scope");
    out->jkt = str(json_object_get(c, "cnf"), "jkt");
    out->act = json_object_get(c, "act");
    out->exp = json_integer_value(exp);
    out->iat = json_is_integer(iat) ? json_integer_value(iat) : 0;
    rc = 0;
done:
    jws_free(t);
    return rc;
}

int oauth_act_depth(const json_t *act)
{
    int n = 0;
    for (; json_is_object(act); act = json_object_get(act, "act"))
        n++;
    return n;
}

void oauth_dpop_nonce(const app *a, int64_t now, int back, char out[44])
{
    char msg[48];
    uint8_t mac[HASH_SHA256_LEN];
    int n = snprintf(msg, sizeof(msg), "dpop-nonce:%lld", (long long)(now / 300 - back));
    hash_hmac_sha256(a->master_key, sizeof(a->master_key), msg, (size_t)n, mac);
    enc_b64url(mac, 24, out, 44);
}
