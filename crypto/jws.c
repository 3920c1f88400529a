#include "jws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"

struct jws_token {
    json_t *header;
    json_t *claims;
    jwk_alg alg;
    size_t input_len; /* signing input: header.payload, the prefix of buf */
    uint8_t *payload;
    size_t payload_len;
    uint8_t *sig;
    size_t sig_len;
    char buf[]; /* copy of the compact form, then decoded payload and signature */
};

/* Longest typ or kid accepted when signing. */
#define HDR_FIELD_MAX 256
/* Room for alg, typ, kid and an embedded RSA 8192 JWK. */
#define HDR_MAX (2 * HDR_FIELD_MAX + 1600)
/* Claims up to this size are serialized on the stack. */
#define CLAIMS_STACK 2048

/* Bytes reserved for decoding n base64url characters. */
#define DECODED_MAX(n) ((n) / 4 * 3 + 2)

/* b64(header) . b64(payload) . b64(signature), in one exact allocation. */
static char *sign_compact(const jwk_key *key, const char *hdr, size_t hlen, const void *payload,
                          size_t n)
{
    size_t hl = enc_b64url_len(hlen), pl = enc_b64url_len(n);
    size_t sl = enc_b64url_len(jwk_sig_len(key));
    uint8_t sig[JWK_SIG_MAX];
    char *out = malloc(hl + 1 + pl + 1 + sl + 1);
    long slen;

    if (out == NULL)
        return NULL;
    enc_b64url((const uint8_t *)hdr, hlen, out, hl + 1);
    out[hl] = '.';
    enc_b64url(payload, n, out + hl + 1, pl + 1);
    out[hl + 1 + pl] = '.';
    slen = jwk_sign(key, jwk_key_alg(key), out, hl + 1 + pl, sig, sizeof sig);
    if (slen < 0)
        goto fail;
    enc_b64url(sig, (size_t)slen, out + hl + pl + 2, sl + 1);
    return out;
fail:
    free(out);
    return NULL;
}

/* Can s be put between JSON quotes as is? */
static int plain(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++)
        if (s[n] < 0x20 || s[n] > 0x7e || s[n] == '"' || s[n] == '\\')
            return 0;
    return n <= HDR_FIELD_MAX;
}

/* Writes {"alg":..,"typ":..,"kid":.. without the closing brace. */
static int header_start(char *buf, size_t sz, const jwk_key *key, const char *typ, const char *kid)
{
    int n;

    if ((typ != NULL && !plain(typ)) || (kid != NULL && !plain(kid)))
        return -1;
    n = snprintf(buf, sz, "{\"alg\":\"%s\"%s%s%s%s%s%s", jwk_alg_name(jwk_key_alg(key)),
                 typ ? ",\"typ\":\"" : "", typ ? typ : "", typ ? "\"" : "",
                 kid ? ",\"kid\":\"" : "", kid ? kid : "", kid ? "\"" : "");
    return n < 0 || (size_t)n >= sz ? -1 : n;
}

char *jws_sign(const jwk_key *key, const char *typ, const char *kid, int embed_jwk,
               const void *payload, size_t n)
{
    char hdr[HDR_MAX];
    json_t *jwk = NULL;
    char *out = NULL;
    int len = header_start(hdr, sizeof hdr, key, typ, kid);
    size_t jl;

    if (len < 0)
        goto done;
    if (embed_jwk) {
        static const char member[] = ",\"jwk\":";
        if ((jwk = jwk_public_json(key)) == NULL || (size_t)len + sizeof member - 1 >= sizeof hdr)
            goto done;
        memcpy(hdr + len, member, sizeof member - 1);
        len += (int)sizeof member - 1;
        jl = json_dumpb(jwk, hdr + len, sizeof hdr - (size_t)len, JSON_COMPACT);
        if (jl == 0 || jl >= sizeof hdr - (size_t)len - 1)
            goto done;
        len += (int)jl;
    }
    hdr[len++] = '}';
    out = sign_compact(key, hdr, (size_t)len, payload, n);
done:
    json_decref(jwk);
    return out;
}

char *jws_sign_json(const jwk_key *key, const char *kid, const char *typ, const json_t *claims)
{
    char hdr[HDR_MAX], stack[CLAIMS_STACK];
    char *body = stack, *out = NULL;
    int hl = header_start(hdr, sizeof hdr - 1, key, typ, kid);
    size_t cl = json_dumpb(claims, stack, sizeof stack, JSON_COMPACT);

    if (hl < 0 || cl == 0)
        goto done;
    hdr[hl++] = '}';
    if (cl > sizeof stack) {
        /* Rare: large claim sets take one more allocation. */
        if ((body = malloc(cl)) == NULL || json_dumpb(claims, body, cl, JSON_COMPACT) != cl)
            goto done;
    }
    out = sign_compact(key, hdr, (size_t)hl, body, cl);
done:
    if (body != stack)
        free(body);
    return out;
}

char *jws_sign_raw(const jwk_key *key, const char *header_json, const void *payload, size_t n)
{
    return sign_compact(key, header_json, strlen(header_json), payload, n);
}

int jws_parse(const char *compact, size_t n, jws_token **out)
{
    const char *dot1, *dot2;
    size_t hlen, plen, slen, cap;
    jws_token *t = NULL;
    uint8_t *hdr, *p;
    const char *alg;
    long dl;
    int rc = JWS_ERR_FORMAT;

    *out = NULL;
    if (n == 0 || n > JWS_MAX_LEN || (dot1 = memchr(compact, '.', n)) == NULL ||
        (dot2 = memchr(dot1 + 1, '.', n - (size_t)(dot1 + 1 - compact))) == NULL)
        goto fail;
    hlen = (size_t)(dot1 - compact);
    plen = (size_t)(dot2 - dot1 - 1);
    slen = n - (size_t)(dot2 + 1 - compact);
    if (hlen == 0 || slen == 0)
        goto fail;
    /* One block holds the copy and every decoded part. */
    cap = n + 1 + DECODED_MAX(hlen) + DECODED_MAX(plen) + DECODED_MAX(slen);
    rc = JWS_ERR_INTERNAL;
    if ((t = calloc(1, sizeof *t + cap)) == NULL)
        goto fail;
    memcpy(t->buf, compact, n);
    t->input_len = (size_t)(dot2 - compact);
    p = (uint8_t *)t->buf + n + 1;

    rc = JWS_ERR_FORMAT;
    hdr = p;
    if ((dl = enc_b64url_decode(compact, hlen, hdr, DECODED_MAX(hlen))) <= 0)
        goto fail;
    p += dl;
    t->header = json_loadb((const char *)hdr, (size_t)dl, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(t->header))
        goto fail;
    /* We implement no extensions, so any "crit" must be refused (§4.1.11). */
    if (json_object_get(t->header, "crit") != NULL)
        goto fail;
    rc = JWS_ERR_ALG;
    alg = json_string_value(json_object_get(t->header, "alg"));
    if (jwk_alg_parse(alg, &t->alg) != 0)
        goto fail;

    rc = JWS_ERR_FORMAT;
    t->payload = p;
    if ((dl = enc_b64url_decode(dot1 + 1, plen, p, DECODED_MAX(plen))) < 0)
        goto fail;
    t->payload_len = (size_t)dl;
    p += dl;
    t->sig = p;
    if ((dl = enc_b64url_decode(dot2 + 1, slen, p, DECODED_MAX(slen))) <= 0)
        goto fail;
    t->sig_len = (size_t)dl;

    t->claims = json_loadb((const char *)t->payload, t->payload_len, JSON_REJECT_DUPLICATES, NULL);
    if (t->claims != NULL && !json_is_object(t->claims)) {
        json_decref(t->claims);
        t->claims = NULL;
    }
    *out = t;
    return 0;
fail:
    jws_free(t);
    return rc;
}

int jws_verify(const jws_token *t, const jwk_key *key)
{
    switch (jwk_verify(key, t->alg, t->buf, t->input_len, t->sig, t->sig_len)) {
    case 0:
        return 0;
    case JWK_ERR_BADSIG:
        return JWS_ERR_SIG;
    case JWK_ERR_INVALID:
        return JWS_ERR_KEY;
    default:
        return JWS_ERR_INTERNAL;
    }
}

void jws_free(jws_token *t)
{
    if (t == NULL)
        return;
    json_decref(t->header);
    json_decref(t->claims);
    free(t);
}

const json_t *jws_header(const jws_token *t)
{
    return t->header;
}

jwk_alg jws_alg(const jws_token *t)
{
    return t->alg;
}

const json_t *jws_claims(const jws_token *t)
{
    return t->claims;
}

const uint8_t *jws_payload(const jws_token *t, size_t *n)
{
    *n = t->payload_len;
    return t->payload;
}
