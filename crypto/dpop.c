#include "dpop.h"

#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "encoding.h"
#include "hash.h"
#include "jws.h"

/* Bounded string builder; any overflow makes the whole result invalid. */
struct buf {
    char *p;
    size_t len, cap;
    bool overflow;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->overflow || n >= b->cap - b->len) {
        b->overflow = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void put_char(struct buf *b, char c)
{
    put(b, &c, 1);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_unreserved(char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_sub_delim(char c)
{
    return c != '\0' && strchr("!$&'()*+,;=", c) != NULL;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * Copies s[0..n) with percent-encodings normalized: unreserved characters
 * decoded (lower-cased too when fold), the rest upper-case hex. Other
 * characters must satisfy ok. Returns -1 on a bad character or escape.
 */
static int pct_normalize(const char *s, size_t n, bool fold, bool (*ok)(char), struct buf *b)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= n)
                return -1;
            h = hexval(s[i + 1]);
            l = hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = (char)(h << 4 | l);
            i += 2;
            if (is_unreserved(c)) {
                put_char(b, fold ? lower(c) : c);
            } else {
                char enc[3] = {'%', hex[h], hex[l]};
                put(b, enc, 3);
            }
            continue;
        }
        if (!ok(c))
            return -1;
        put_char(b, fold ? lower(c) : c);
    }
    return 0;
}

static bool host_char(char c)
{
    return is_unreserved(c) || is_sub_delim(c);
}

static bool ipv6_char(char c)
{
    return hexval(c) >= 0 || c == ':' || c == '.';
}

static bool path_char(char c)
{
    return is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@' || c == '/';
}

/* RFC 3986 §5.2.4 on an absolute path that starts with '/'. */
static void remove_dot_segments(const char *path, size_t n, struct buf *b)
{
    size_t i = 0, start = b->len;

    while (i < n) {
        size_t s = i + 1, e = s;
        bool last;

        while (e < n && path[e] != '/')
            e++;
        last = e == n;
        if (e - s == 1 && path[s] == '.') {
            if (last)
                put_char(b, '/');
        } else if (e - s == 2 && path[s] == '.' && path[s + 1] == '.') {
            /* Drop the previous segment, never going above the root. */
            while (b->len > start && b->p[b->len - 1] != '/')
                b->len--;
            if (b->len > start)
                b->len--;
            b->p[b->len] = '\0';
            if (last)
                put_char(b, '/');
        } else {
            put_char(b, '/');
            put(b, path + s, e - s);
        }
        i = e;
    }
    if (b->len == start)
        put_char(b, '/');
}

long dpop_htu_normalize(const char *in, char *out, size_t outsz)
{
    char pathbuf[DPOP_HTU_MAX + 1];
    struct buf b = {out, 0, outsz, false}, path = {pathbuf, 0, sizeof pathbuf, false};
    const char *p = in, *auth, *host_end, *port = NULL, *end;
    size_t port_len = 0;
    unsigned long portnum = 0;
    bool https, http;

    if (outsz == 0)
        return -1;
    out[0] = '\0';
    /* scheme "://" */
    if (!is_alpha(*p))
        return -1;
    while (is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    if (strncmp(p, "://", 3) != 0)
        return -1;
    for (const char *c = in; c < p; c++)
        put_char(&b, lower(*c));
    https = strcmp(out, "https") == 0;
    http = strcmp(out, "http") == 0;
    put(&b, "://", 3);

    /* authority: host [":" port]; userinfo is refused outright */
    auth = p + 3;
    end = auth + strcspn(auth, "/?#");
    if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
        return -1;
    if (*auth == '[') {
        host_end = memchr(auth, ']', (size_t)(end - auth));
        if (host_end == NULL || host_end == auth + 1)
            return -1;
        for (const char *c = auth + 1; c < host_end; c++)
            if (!ipv6_char(*c))
                return -1;
        for (const char *c = auth; c <= host_end; c++)
            put_char(&b, lower(*c));
        host_end++;
    } else {
        host_end = auth;
        while (host_end < end && *host_end != ':')
            host_end++;
        if (host_end == auth ||
            pct_normalize(auth, (size_t)(host_end - auth), true, host_char, &b) != 0)
            return -1;
    }
    if (host_end < end) {
        if (*host_end != ':')
            return -1;
        port = host_end + 1;
        port_len = (size_t)(end - port);
    }
    for (size_t i = 0; i < port_len; i++) {
        if (!is_digit(port[i]))
            return -1;
        portnum = portnum * 10 + (unsigned long)(port[i] - '0');
        if (portnum > 65535)
            return -1;
    }
    /* An empty port, or the scheme's default, is the same as none. */
    if (port_len > 0 && !(https && portnum == 443) && !(http && portnum == 80)) {
        char num[8];
        int k = 0;
        unsigned long v = portnum;
        do {
            num[k++] = (char)('0' + v % 10);
            v /= 10;
        } while (v > 0);
        put_char(&b, ':');
        while (k > 0)
            put_char(&b, num[--k]);
    }

    /* path; query and fragment are not part of htu */
    p = end;
    end = p + strcspn(p, "?#");
    if (p == end) {
        put_char(&b, '/');
    } else {
        if (pct_normalize(p, (size_t)(end - p), false, path_char, &path) != 0 || path.overflow)
            return -1;
        remove_dot_segments(path.p, path.len, &b);
    }
    return b.overflow ? -1 : (long)b.len;
}

static int fail(dpop_result *out, int code, const char *reason)
{
    out->reason = reason;
    return code;
}

/*
 * The checks after the signature, each failure with its own code. The nonce
 * comes last so use_dpop_nonce is only answered to an otherwise valid proof.
 */
static int check_claims(const json_t *claims, const char *htm, const char *htu, int64_t now,
                        int window, const char *access_token, const char *expected_jkt,
                        const char *expected_nonce, dpop_result *out)
{
    const json_t *jti = json_object_get(claims, "jti");
    const json_t *iat = json_object_get(claims, "iat");
    const char *c_htm = json_string_value(json_object_get(claims, "htm"));
    const char *c_htu = json_string_value(json_object_get(claims, "htu"));
    char want[DPOP_HTU_MAX + 1];
    double t;

    if (!json_is_string(jti) || json_string_length(jti) == 0 ||
        json_string_length(jti) > DPOP_JTI_MAX)
        return fail(out, DPOP_ERR_CLAIMS, "jti claim missing or too long");
    if (c_htm == NULL)
        return fail(out, DPOP_ERR_CLAIMS, "htm claim missing");
    if (c_htu == NULL)
        return fail(out, DPOP_ERR_CLAIMS, "htu claim missing");
    if (!json_is_number(iat))
        return fail(out, DPOP_ERR_CLAIMS, "iat claim missing");
    if (strcmp(c_htm, htm) != 0)
        return fail(out, DPOP_ERR_HTM, "htm does not match the request method");
    if (dpop_htu_normalize(c_htu, out->htu, sizeof out->htu) < 0 ||
        dpop_htu_normalize(htu, want, sizeof want) < 0 || strcmp(out->htu, want) != 0)
        return fail(out, DPOP_ERR_HTU, "htu does not match the request URI");
    t = json_number_value(iat);
    if (!(t >= (double)now - window && t <= (double)now + window))
        return fail(out, DPOP_ERR_IAT, "iat is too old or in the future");
    out->iat = (int64_t)t;

    if (access_token != NULL) {
        const json_t *ath = json_object_get(claims, "ath");
        uint8_t d[HASH_SHA256_LEN];
        char want_ath[JWK_THUMBPRINT_LEN + 1];

        hash_sha256(access_token, strlen(access_token), d);
        enc_b64url(d, sizeof d, want_ath, sizeof want_ath);
        if (!json_is_string(ath) || !hash_ct_eq(json_string_value(ath), json_string_length(ath),
                                                want_ath, JWK_THUMBPRINT_LEN))
            return fail(out, DPOP_ERR_ATH, "ath does not match the access token");
    }
    if (expected_jkt != NULL && strcmp(out->jkt, expected_jkt) != 0)
        return fail(out, DPOP_ERR_JKT, "proof key does not match the token binding");
    if (expected_nonce != NULL) {
        const json_t *nonce = json_object_get(claims, "nonce");

        if (!json_is_string(nonce) ||
            !hash_ct_eq(json_string_value(nonce), json_string_length(nonce), expected_nonce,
                        strlen(expected_nonce)))
            return fail(out, DPOP_ERR_NONCE, "nonce missing or stale");
    }
    memcpy(out->jti, json_string_value(jti), json_string_length(jti) + 1);
    return 0;
}

int dpop_verify(const char *proof, const char *htm, const char *htu, int64_t now, int iat_window_s,
                const char *access_token, const char *expected_jkt, const char *expected_nonce,
                dpop_result *out)
{
    return dpop_verify_keys(NULL, proof, htm, htu, now, iat_window_s, access_token, expected_jkt,
                            expected_nonce, out);
}

int dpop_verify_keys(const dpop_keys *keys, const char *proof, const char *htm, const char *htu,
                     int64_t now, int iat_window_s, const char *access_token,
                     const char *expected_jkt, const char *expected_nonce, dpop_result *out)
{
    jws_token *t = NULL;
    jwk_key *owned = NULL; /* imported here when there is no key source */
    const jwk_key *key = NULL;
    const json_t *hdr, *jwk;
    const char *typ;
    int rc;

    out->jti[0] = out->jkt[0] = out->htu[0] = '\0';
    out->iat = 0;
    out->reason = "";

    switch (jws_parse(proof, proof ? strlen(proof) : 0, &t)) {
    case 0:
        break;
    case JWS_ERR_ALG:
        rc = fail(out, DPOP_ERR_ALG, "unsupported alg");
        goto done;
    case JWS_ERR_INTERNAL:
        rc = fail(out, DPOP_ERR_INTERNAL, "out of memory");
        goto done;
    default:
        rc = fail(out, DPOP_ERR_FORMAT, "not a compact JWS");
        goto done;
    }
    hdr = jws_header(t);
    typ = json_string_value(json_object_get(hdr, "typ"));
    if (typ == NULL || strcmp(typ, "dpop+jwt") != 0) {
        rc = fail(out, DPOP_ERR_TYP, "typ must be dpop+jwt");
        goto done;
    }
    jwk = json_object_get(hdr, "jwk");
    rc = keys ? keys->import(keys->ud, jwk, &key) : jwk_from_json(jwk, &owned);
    if (keys == NULL)
        key = owned;
    switch (rc) {
    case 0:
        break;
    case JWK_ERR_PRIVATE:
        rc = fail(out, DPOP_ERR_JWK, "jwk header contains a private key");
        goto done;
    case JWK_ERR_SYMMETRIC:
        rc = fail(out, DPOP_ERR_JWK, "jwk header is a symmetric key");
        goto done;
    default:
        rc = fail(out, DPOP_ERR_JWK, "jwk header missing or invalid");
        goto done;
    }
    switch (jws_verify(t, key)) {
    case 0:
        break;
    case JWS_ERR_KEY:
        rc = fail(out, DPOP_ERR_ALG, "alg does not fit the jwk");
        goto done;
    case JWS_ERR_SIG:
        rc = fail(out, DPOP_ERR_SIG, "signature does not verify");
        goto done;
    default:
        rc = fail(out, DPOP_ERR_INTERNAL, "verification failed");
        goto done;
    }
    if (jws_claims(t) == NULL) {
        rc = fail(out, DPOP_ERR_CLAIMS, "payload is not a JSON object");
        goto done;
    }
    /* The thumbprint of the JWK as sent: what the client computed for
     * dpop_jkt and what it will compare against cnf.jkt. */
    if (jwk_thumbprint_json(jwk, out->jkt) != 0) {
        rc = fail(out, DPOP_ERR_JWK, "jwk header invalid");
        goto done;
    }
    rc = check_claims(jws_claims(t), htm, htu, now, iat_window_s, access_token, expected_jkt,
                      expected_nonce, out);
done:
    jwk_free(owned);
    jws_free(t);
    return rc;
}
