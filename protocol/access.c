#include "access.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Tokens whose signature was checked, per loop thread: a resource server
 * introspects the same token on each of its calls, and the ES256 verify is
 * most of such a call's cost. An entry is keyed by the token's SHA-256 and
 * holds only for the keyring snapshot it was verified under (snapshots are
 * never freed, so comparing pointers is enough). The claims are checked on
 * every use, so expiry needs no eviction; revocation is never cached (it is
 * oauth_token_check's, on every call). */
#define VCACHE_SLOTS 4096 /* a power of two */

typedef struct ventry {
    uint8_t digest[HASH_SHA256_LEN];
    const keyring_snap *snap;
    json_t *claims; /* a reference owned by the entry */
} ventry;

/* One per loop, in its loop_ctx (core/loop.h). */
struct token_cache {
    ventry slot[VCACHE_SLOTS];
};

void oauth_token_cache_free(loop_ctx *lc)
{
    for (int i = 0; lc->tokens != NULL && i < VCACHE_SLOTS; i++)
        json_decref(lc->tokens->slot[i].claims);
    free(lc->tokens);
    lc->tokens = NULL;
}

/* The slot for digest in the loop's cache; NULL if there is no cache. */
static ventry *vcache_slot(loop_ctx *lc, const uint8_t digest[HASH_SHA256_LEN])
{
    if (lc->tokens == NULL)
        lc->tokens = calloc(1, sizeof(*lc->tokens));
    uint32_t h;
    memcpy(&h, digest, sizeof(h));
    return lc->tokens ? &lc->tokens->slot[h & (VCACHE_SLOTS - 1)] : NULL;
}

/* The parts of the claims that make a verified token ours and current. */
static bool claims_ok(const app *a, const json_t *c)
{
    const char *iss = str(c, "iss");
    json_t *exp = json_object_get(c, "exp");
    return iss != NULL && strcmp(iss, a->cfg.issuer) == 0 && json_is_integer(exp) &&
           json_integer_value(exp) > (json_int_t)time(NULL) && str(c, "jti") != NULL &&
           str(c, "sub") != NULL && str(c, "client_id") != NULL;
}

/* The claims of a token signed by a key of snap, or NULL (a new reference). */
static json_t *verify_signature(const keyring_snap *snap, const char *token, size_t len)
{
    jws_token *t = NULL;
    json_t *c = NULL;
    if (jws_parse(token, len, &t) != 0)
        goto done;
    const char *kid = str(jws_header(t), "kid"), *typ = str(jws_header(t), "typ");
    const keyring_key *k = kid ? keyring_find(snap, kid) : NULL;
    if (k == NULL || k->id_token_only || typ == NULL || strcasecmp(typ, "at+jwt") != 0 ||
        jws_verify(t, k->key) != 0)
        goto done;
    c = json_incref((json_t *)jws_claims(t));
done:
    jws_free(t);
    return c;
}

int oauth_access_verify(http_req *req, const char *token, oauth_access *out)
{
    app *a = http_req_app(req);
    arena *ar = http_req_arena(req);
    memset(out, 0, sizeof(*out));
    size_t len = token ? strlen(token) : 0;
    if (token == NULL || len > 16384)
        return -1;
    const keyring_snap *snap = keyring_current(a->keys);
    uint8_t digest[HASH_SHA256_LEN];
    hash_sha256(token, len, digest);
    ventry *e = vcache_slot(http_req_loop_ctx(req), digest);
    json_t *c;
    if (e != NULL && e->snap == snap && memcmp(e->digest, digest, sizeof(digest)) == 0) {
        c = json_incref(e->claims);
    } else if ((c = verify_signature(snap, token, len)) != NULL && e != NULL) {
        json_decref(e->claims);
        memcpy(e->digest, digest, sizeof(digest));
        e->snap = snap;
        e->claims = json_incref(c);
    }
    if (c == NULL || !claims_ok(a, c)) {
        json_decref(c);
        return -1;
    }
    out->claims = c;
    arena_cleanup(ar, release, c);
    json_t *exp = json_object_get(c, "exp"), *iat = json_object_get(c, "iat");
    out->jti = str(c, "jti");
    out->sub = str(c, "sub");
    out->client_id = str(c, "client_id");
    out->scope = str(c, "scope");
    out->jkt = str(json_object_get(c, "cnf"), "jkt");
    out->act = json_object_get(c, "act");
    out->exp = json_integer_value(exp);
    out->iat = json_is_integer(iat) ? json_integer_value(iat) : 0;
    return 0;
}

bool oauth_access_aud_has(const json_t *claims, const char *who)
{
    json_t *aud = json_object_get(claims, "aud"), *one;
    size_t i;
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), who) == 0;
    json_array_foreach(aud, i, one)
    {
        if (json_is_string(one) && strcmp(json_string_value(one), who) == 0)
            return true;
    }
    return false;
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
