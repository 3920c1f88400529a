#include "jwk.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "encoding.h"
#include "hash.h"

enum kty { KTY_EC, KTY_OKP, KTY_RSA };

/*
 * Failures leave libcrypto's per-thread error queue empty: a stale entry
 * would be misread by the next TLS call on the same loop thread.
 */
struct jwk_key {
    EVP_PKEY *pkey;
    enum kty kty;
    jwk_alg alg;
    bool pinned; /* alg fixed by the JWK or the caller; else RSA serves RS256 and PS256 */
    bool priv;
    /* Contexts initialised once for alg (NULL: none, or EdDSA, whose one-shot
     * contexts are not copied): each operation copies one instead of looking
     * up the signature and digest methods again. Never used directly, only
     * read, so keys stay shareable between threads. */
    EVP_MD_CTX *sign_tmpl, *verify_tmpl;
};

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192
#define RSA_MAX_BYTES (RSA_MAX_BITS / 8)
#define EC_COORD_LEN 32
#define ED25519_LEN 32
/* base64url of the largest member (an RSA 8192 modulus) plus NUL. */
#define MEMBER_MAX 1368

/* The key's required public members, base64url-encoded (RFC 7638 §3.2). */
struct members {
    char a[MEMBER_MAX]; /* EC/OKP x, RSA n */
    char b[MEMBER_MAX]; /* EC y, RSA e */
};

static const struct {
    const char *name;
    jwk_alg alg;
} ALGS[] = {
    {"ES256", JWK_ES256},
    {"EdDSA", JWK_EDDSA},
    {"RS256", JWK_RS256},
    {"PS256", JWK_PS256},
};

const char *jwk_alg_name(jwk_alg alg)
{
    for (size_t i = 0; i < sizeof ALGS / sizeof ALGS[0]; i++)
        if (ALGS[i].alg == alg)
            return ALGS[i].name;
    return "";
}

int jwk_alg_parse(const char *name, jwk_alg *out)
{
    for (size_t i = 0; name != NULL && i < sizeof ALGS / sizeof ALGS[0]; i++) {
        if (strcmp(ALGS[i].name, name) == 0) {
            *out = ALGS[i].alg;
            return 0;
        }
    }
    /* RFC 9864's fully-specified name for EdDSA over Ed25519, which
     * current clients (oauth4webapi 3) put in their headers. */
    if (name != NULL && strcmp(name, "Ed25519") == 0) {
        *out = JWK_EDDSA;
        return 0;
    }
    return -1;
}

static enum kty alg_kty(jwk_alg alg)
{
    switch (alg) {
    case JWK_ES256:
        return KTY_EC;
    case JWK_EDDSA:
        return KTY_OKP;
    default:
        return KTY_RSA;
    }
}

static bool alg_fits(const jwk_key *key, jwk_alg alg)
{
    return alg_kty(alg) == key->kty && (!key->pinned || key->alg == alg);
}

/* Classifies a libcrypto key, refusing curves and sizes we do not sign with. */
static int pkey_kty(EVP_PKEY *pkey, enum kty *out)
{
    char group[32];

    if (EVP_PKEY_is_a(pkey, "EC")) {
        if (!EVP_PKEY_get_group_name(pkey, group, sizeof group, NULL) ||
            (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0))
            return JWK_ERR_INVALID;
        *out = KTY_EC;
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        *out = KTY_OKP;
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
            return JWK_ERR_INVALID;
        *out = KTY_RSA;
        return 0;
    }
    return JWK_ERR_INVALID;
}

static int md_init(EVP_MD_CTX *md, const jwk_key *key, jwk_alg alg, bool sign);

/* A template for key->alg, or NULL (operations then initialise their own). */
static EVP_MD_CTX *tmpl_new(const jwk_key *key, bool sign)
{
    EVP_MD_CTX *md = key->alg == JWK_EDDSA ? NULL : EVP_MD_CTX_new();

    if (md != NULL && md_init(md, key, key->alg, sign) != 0) {
        EVP_MD_CTX_free(md);
        md = NULL;
    }
    ERR_clear_error();
    return md;
}

/* Takes ownership of pkey. */
static int key_new(EVP_PKEY *pkey, jwk_alg alg, bool pinned, bool priv, jwk_key **out)
{
    jwk_key *key = NULL;
    enum kty kty;
    int rc = pkey_kty(pkey, &kty);

    if (rc != 0)
        goto fail;
    rc = JWK_ERR_INVALID;
    if (kty != alg_kty(alg))
        goto fail;
    rc = JWK_ERR_INTERNAL;
    key = malloc(sizeof *key);
    if (key == NULL)
        goto fail;
    *key = (jwk_key){.pkey = pkey, .kty = kty, .alg = alg, .pinned = pinned, .priv = priv};
    key->verify_tmpl = tmpl_new(key, false);
    if (priv)
        key->sign_tmpl = tmpl_new(key, true);
    *out = key;
    return 0;
fail:
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return rc;
}

int jwk_generate(jwk_alg alg, jwk_key **out)
{
    EVP_PKEY *pkey = NULL;

    *out = NULL;
    switch (alg) {
    case JWK_ES256:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case JWK_EDDSA:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    case JWK_RS256:
    case JWK_PS256:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_MIN_BITS);
        break;
    }
    if (pkey == NULL) {
        ERR_clear_error();
        return JWK_ERR_INTERNAL;
    }
    return key_new(pkey, alg, true, true, out);
}

void jwk_free(jwk_key *key)
{
    if (key == NULL)
        return;
    EVP_MD_CTX_free(key->sign_tmpl);
    EVP_MD_CTX_free(key->verify_tmpl);
    EVP_PKEY_free(key->pkey);
    free(key);
}

jwk_alg jwk_key_alg(const jwk_key *key)
{
    return key->alg;
}

int jwk_is_private(const jwk_key *key)
{
    return key->priv;
}

/* Decodes a base64url member into exactly want bytes (want 0: up to max). */
static long member_bytes(const json_t *jwk, const char *name, uint8_t *buf, size_t max, size_t want)
{
    const json_t *v = json_object_get(jwk, name);
    long n;

    if (!json_is_string(v))
        return -1;
    n = enc_b64url_decode(json_string_value(v), json_string_length(v), buf, max);
    if (n <= 0 || (want != 0 && (size_t)n != want))
        return -1;
    return n;
}

static int member_is(const json_t *jwk, const char *name, const char *want)
{
    const char *v = json_string_value(json_object_get(jwk, name));

    return v != NULL && strcmp(v, want) == 0;
}

static EVP_PKEY *ec_from_json(const json_t *jwk)
{
    uint8_t point[1 + 2 * EC_COORD_LEN];
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;

    if (!member_is(jwk, "crv", "P-256") ||
        member_bytes(jwk, "x", point + 1, EC_COORD_LEN, EC_COORD_LEN) < 0 ||
        member_bytes(jwk, "y", point + 1 + EC_COORD_LEN, EC_COORD_LEN, EC_COORD_LEN) < 0)
        return NULL;
    point[0] = 0x04; /* uncompressed; libcrypto checks the point is on the curve */
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point);
    params[2] = OSSL_PARAM_construct_end();
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static EVP_PKEY *okp_from_json(const json_t *jwk)
{
    uint8_t x[ED25519_LEN];

    if (!member_is(jwk, "crv", "Ed25519") || member_bytes(jwk, "x", x, sizeof x, sizeof x) < 0)
        return NULL;
    return EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, sizeof x);
}

static EVP_PKEY *rsa_from_json(const json_t *jwk)
{
    uint8_t nbuf[RSA_MAX_BYTES], ebuf[8];
    long nlen = member_bytes(jwk, "n", nbuf, sizeof nbuf, 0);
    long elen = member_bytes(jwk, "e", ebuf, sizeof ebuf, 0);
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;

    /* An even or tiny public exponent is never legitimate. */
    if (nlen < 0 || elen < 0 || (ebuf[elen - 1] & 1) == 0 || (elen == 1 && ebuf[0] < 3))
        goto done;
    n = BN_bin2bn(nbuf, (int)nlen, NULL);
    e = BN_bin2bn(ebuf, (int)elen, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (n == NULL || e == NULL || bld == NULL ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
        goto done;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
done:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

int jwk_from_json(const json_t *jwk, jwk_key **out)
{
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const json_t *use = json_object_get(jwk, "use");
    const json_t *alg_v = json_object_get(jwk, "alg");
    EVP_PKEY *pkey = NULL;
    jwk_alg alg;

    *out = NULL;
    if (!json_is_object(jwk) || kty == NULL)
        return JWK_ERR_INVALID;
    if (strcmp(kty, "oct") == 0)
        return JWK_ERR_SYMMETRIC;
    for (size_t i = 0; i < sizeof private_members / sizeof private_members[0]; i++)
        if (json_object_get(jwk, private_members[i]) != NULL)
            return JWK_ERR_PRIVATE;
    if (use != NULL && !member_is(jwk, "use", "sig"))
        return JWK_ERR_INVALID;
    if (alg_v != NULL && jwk_alg_parse(json_string_value(alg_v), &alg) != 0)
        return JWK_ERR_INVALID;

    if (strcmp(kty, "EC") == 0) {
        pkey = ec_from_json(jwk);
        if (alg_v == NULL)
            alg = JWK_ES256;
    } else if (strcmp(kty, "OKP") == 0) {
        pkey = okp_from_json(jwk);
        if (alg_v == NULL)
            alg = JWK_EDDSA;
    } else if (strcmp(kty, "RSA") == 0) {
        pkey = rsa_from_json(jwk);
        if (alg_v == NULL)
            alg = JWK_RS256;
    }
    if (pkey == NULL)
        return JWK_ERR_INVALID;
    return key_new(pkey, alg, alg_v != NULL, false, out);
}

int jwk_from_private_der(const uint8_t *der, size_t n, jwk_alg alg, jwk_key **out)
{
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    EVP_PKEY *pkey = NULL;

    *out = NULL;
    if (n > 0x7fffffff)
        return JWK_ERR_INVALID;
    p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)n);
    if (p8 != NULL && p == der + n)
        pkey = EVP_PKCS82PKEY(p8);
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (pkey == NULL) {
        ERR_clear_error();
        return JWK_ERR_INVALID;
    }
    return key_new(pkey, alg, true, true, out);
}

long jwk_private_der(const jwk_key *key, uint8_t *out, size_t outsz)
{
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    unsigned char *p = out;
    long rc = JWK_ERR_NOKEY;
    int len;

    if (!key->priv)
        goto done;
    rc = JWK_ERR_INTERNAL;
    p8 = EVP_PKEY2PKCS8(key->pkey);
    if (p8 == NULL || (len = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL)) <= 0)
        goto done;
    rc = len;
    if (out == NULL)
        goto done;
    rc = JWK_ERR_SPACE;
    if ((size_t)len > outsz)
        goto done;
    rc = i2d_PKCS8_PRIV_KEY_INFO(p8, &p) == len ? len : JWK_ERR_INTERNAL;
done:
    PKCS8_PRIV_KEY_INFO_free(p8); /* wipes the private key octets */
    if (rc < 0)
        ERR_clear_error();
    return rc;
}

static int b64_bn(EVP_PKEY *pkey, const char *param, char *out)
{
    uint8_t buf[RSA_MAX_BYTES];
    BIGNUM *bn = NULL;
    int rc = -1, len;

    if (!EVP_PKEY_get_bn_param(pkey, param, &bn) || (len = BN_num_bytes(bn)) > (int)sizeof buf)
        goto done;
    BN_bn2bin(bn, buf);
    rc = enc_b64url(buf, (size_t)len, out, MEMBER_MAX) < 0 ? -1 : 0;
done:
    BN_free(bn);
    return rc;
}

static int pub_members(const jwk_key *key, struct members *m)
{
    uint8_t buf[1 + 2 * EC_COORD_LEN];
    size_t len = 0;

    switch (key->kty) {
    case KTY_EC:
        /* Both libcrypto and our import keep the uncompressed point. */
        if (!EVP_PKEY_get_octet_string_param(key->pkey, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf,
                                             &len) ||
            len != sizeof buf || buf[0] != 0x04)
            return JWK_ERR_INTERNAL;
        enc_b64url(buf + 1, EC_COORD_LEN, m->a, sizeof m->a);
        enc_b64url(buf + 1 + EC_COORD_LEN, EC_COORD_LEN, m->b, sizeof m->b);
        return 0;
    case KTY_OKP:
        len = ED25519_LEN;
        if (!EVP_PKEY_get_raw_public_key(key->pkey, buf, &len) || len != ED25519_LEN)
            return JWK_ERR_INTERNAL;
        enc_b64url(buf, len, m->a, sizeof m->a);
        return 0;
    case KTY_RSA:
        if (b64_bn(key->pkey, OSSL_PKEY_PARAM_RSA_N, m->a) != 0 ||
            b64_bn(key->pkey, OSSL_PKEY_PARAM_RSA_E, m->b) != 0)
            return JWK_ERR_INTERNAL;
        return 0;
    }
    return JWK_ERR_INTERNAL;
}

json_t *jwk_public_json(const jwk_key *key)
{
    struct members m;

    if (pub_members(key, &m) != 0)
        return NULL;
    switch (key->kty) {
    case KTY_EC:
        return json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", m.a, "y", m.b);
    case KTY_OKP:
        return json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", m.a);
    case KTY_RSA:
        return json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", m.a, "e", m.b);
    }
    return NULL;
}

json_t *jwk_to_json(const jwk_key *key, const char *kid)
{
    json_t *jwk = jwk_public_json(key);

    if (jwk == NULL)
        return NULL;
    if ((kid != NULL && json_object_set_new(jwk, "kid", json_string(kid)) != 0) ||
        json_object_set_new(jwk, "alg", json_string(jwk_alg_name(key->alg))) != 0 ||
        json_object_set_new(jwk, "use", json_string("sig")) != 0) {
        json_decref(jwk);
        return NULL;
    }
    return jwk;
}

/* Hashes the RFC 7638 canonical JSON: required members, sorted, no spaces. */
static int thumbprint_of(const char *kty, const char *a, const char *b, const char *crv,
                         char out[JWK_THUMBPRINT_LEN + 1])
{
    char json[2 * MEMBER_MAX + 64];
    uint8_t digest[HASH_SHA256_LEN];
    int n;

    if (strcmp(kty, "RSA") == 0)
        n = snprintf(json, sizeof json, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", b, a);
    else if (strcmp(kty, "EC") == 0)
        n = snprintf(json, sizeof json, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                     crv, a, b);
    else
        n = snprintf(json, sizeof json, "{\"crv\":\"%s\",\"kty\":\"OKP\",\"x\":\"%s\"}", crv, a);
    if (n < 0 || (size_t)n >= sizeof json)
        return JWK_ERR_INVALID;
    hash_sha256(json, (size_t)n, digest);
    enc_b64url(digest, sizeof digest, out, JWK_THUMBPRINT_LEN + 1);
    return 0;
}

int jwk_thumbprint(const jwk_key *key, char out[JWK_THUMBPRINT_LEN + 1])
{
    static const char *const kty_names[] = {"EC", "OKP", "RSA"};
    struct members m;
    int rc = pub_members(key, &m);

    if (rc != 0)
        return rc;
    return thumbprint_of(kty_names[key->kty], m.a, m.b, key->kty == KTY_EC ? "P-256" : "Ed25519",
                         out);
}

/* A string member that serializes verbatim: printable ASCII, no '"' or '\'. */
static const char *plain_member(const json_t *jwk, const char *name)
{
    const json_t *v = json_object_get(jwk, name);
    const char *s = json_string_value(v);

    if (s == NULL || json_string_length(v) >= MEMBER_MAX)
        return NULL;
    for (const char *c = s; *c != '\0'; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
            return NULL;
    return s;
}

int jwk_thumbprint_json(const json_t *jwk, char out[JWK_THUMBPRINT_LEN + 1])
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *a = NULL, *b = "", *crv = "";

    if (kty == NULL)
        return JWK_ERR_INVALID;
    if (strcmp(kty, "RSA") == 0) {
        a = plain_member(jwk, "n");
        b = plain_member(jwk, "e");
    } else if (strcmp(kty, "EC") == 0) {
        crv = plain_member(jwk, "crv");
        a = plain_member(jwk, "x");
        b = plain_member(jwk, "y");
    } else if (strcmp(kty, "OKP") == 0) {
        crv = plain_member(jwk, "crv");
        a = plain_member(jwk, "x");
    }
    if (a == NULL || b == NULL || crv == NULL)
        return JWK_ERR_INVALID;
    return thumbprint_of(kty, a, b, crv, out);
}

size_t jwk_sig_len(const jwk_key *key)
{
    return key->kty == KTY_RSA ? (size_t)EVP_PKEY_get_size(key->pkey) : 2 * EC_COORD_LEN;
}

/*
 * ECDSA signatures: JOSE uses fixed-width R||S (RFC 7518 §3.4), libcrypto
 * DER SEQUENCE { INTEGER r, INTEGER s }. Both integers fit in 33 bytes, so
 * every length is a single short-form byte.
 */
static size_t der_int(const uint8_t *v, uint8_t *out)
{
    size_t skip = 0, len;

    while (skip < EC_COORD_LEN - 1 && v[skip] == 0)
        skip++;
    len = EC_COORD_LEN - skip;
    out[0] = 0x02;
    out[1] = (uint8_t)(len + (v[skip] >> 7));
    if (v[skip] & 0x80)
        out[2] = 0x00;
    memcpy(out + 2 + (v[skip] >> 7), v + skip, len);
    return 2 + out[1];
}

static size_t raw_to_der(const uint8_t raw[2 * EC_COORD_LEN], uint8_t der[72])
{
    size_t n = 2;

    n += der_int(raw, der + n);
    n += der_int(raw + EC_COORD_LEN, der + n);
    der[0] = 0x30;
    der[1] = (uint8_t)(n - 2);
    return n;
}

/* Reads one DER INTEGER at *p into a 32-byte big-endian slot. */
static int der_read_int(const uint8_t **p, const uint8_t *end, uint8_t slot[EC_COORD_LEN])
{
    const uint8_t *q = *p;
    size_t len;

    if (end - q < 2 || q[0] != 0x02 || (len = q[1]) == 0 || len > (size_t)(end - q - 2))
        return -1;
    q += 2;
    *p = q + len;
    while (len > 0 && *q == 0) {
        q++;
        len--;
    }
    if (len > EC_COORD_LEN)
        return -1;
    memset(slot, 0, EC_COORD_LEN - len);
    memcpy(slot + EC_COORD_LEN - len, q, len);
    return 0;
}

static int der_to_raw(const uint8_t *der, size_t n, uint8_t raw[2 * EC_COORD_LEN])
{
    const uint8_t *p = der + 2, *end = der + n;

    if (n < 2 || der[0] != 0x30 || der[1] != n - 2 || der_read_int(&p, end, raw) != 0 ||
        der_read_int(&p, end, raw + EC_COORD_LEN) != 0 || p != end)
        return -1;
    return 0;
}

/* Prepares md for alg: digest name (none for Ed25519) and RSA padding. */
static int md_init(EVP_MD_CTX *md, const jwk_key *key, jwk_alg alg, bool sign)
{
    const char *digest = alg == JWK_EDDSA ? NULL : "SHA256";
    EVP_PKEY_CTX *pctx = NULL;
    int ok = sign ? EVP_DigestSignInit_ex(md, &pctx, digest, NULL, NULL, key->pkey, NULL)
                  : EVP_DigestVerifyInit_ex(md, &pctx, digest, NULL, NULL, key->pkey, NULL);

    if (ok <= 0)
        return -1;
    if (alg == JWK_PS256 && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
                             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
        return -1;
    return 0;
}

/* md_init, from the key's template when alg is the one it was made for. */
static int md_start(EVP_MD_CTX *md, const jwk_key *key, jwk_alg alg, bool sign)
{
    const EVP_MD_CTX *tmpl = alg != key->alg ? NULL : sign ? key->sign_tmpl : key->verify_tmpl;

    if (tmpl != NULL)
        return EVP_MD_CTX_copy_ex(md, tmpl) == 1 ? 0 : -1;
    return md_init(md, key, alg, sign);
}

long jwk_sign(const jwk_key *key, jwk_alg alg, const void *msg, size_t n, uint8_t *sig,
              size_t sigsz)
{
    EVP_MD_CTX *md = NULL;
    uint8_t der[80];
    size_t len;
    long rc = JWK_ERR_NOKEY;

    if (!key->priv)
        goto done;
    rc = JWK_ERR_INVALID;
    if (!alg_fits(key, alg))
        goto done;
    rc = JWK_ERR_SPACE;
    if (sigsz < jwk_sig_len(key))
        goto done;
    rc = JWK_ERR_INTERNAL;
    md = EVP_MD_CTX_new();
    if (md == NULL || md_start(md, key, alg, true) != 0)
        goto done;
    if (alg == JWK_ES256) {
        len = sizeof der;
        if (EVP_DigestSign(md, der, &len, msg, n) <= 0 || der_to_raw(der, len, sig) != 0)
            goto done;
        len = 2 * EC_COORD_LEN;
    } else {
        len = sigsz;
        if (EVP_DigestSign(md, sig, &len, msg, n) <= 0)
            goto done;
    }
    rc = (long)len;
done:
    EVP_MD_CTX_free(md);
    if (rc < 0)
        ERR_clear_error();
    return rc;
}

int jwk_verify(const jwk_key *key, jwk_alg alg, const void *msg, size_t n, const uint8_t *sig,
               size_t siglen)
{
    EVP_MD_CTX *md = NULL;
    uint8_t der[72];
    int rc = JWK_ERR_INVALID;

    if (!alg_fits(key, alg))
        goto done;
    rc = JWK_ERR_BADSIG;
    if (siglen != jwk_sig_len(key))
        goto done;
    if (alg == JWK_ES256) {
        siglen = raw_to_der(sig, der);
        sig = der;
    }
    rc = JWK_ERR_INTERNAL;
    md = EVP_MD_CTX_new();
    if (md == NULL || md_start(md, key, alg, false) != 0)
        goto done;
    rc = EVP_DigestVerify(md, sig, siglen, msg, n) == 1 ? 0 : JWK_ERR_BADSIG;
done:
    EVP_MD_CTX_free(md);
    if (rc < 0)
        ERR_clear_error();
    return rc;
}
