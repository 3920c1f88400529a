/*
 * jwk: asymmetric signing keys and their JSON Web Key form (RFC 7517/7518,
 * RFC 8037), RFC 7638 thumbprints, and the raw sign/verify primitives JWS is
 * built on. A jwk_key wraps one libcrypto key (public, or private with its
 * public half); nothing outside crypto/ sees libcrypto types.
 *
 * Supported: ES256 (P-256), EdDSA (Ed25519), RS256 and PS256 (RSA, 2048 to
 * 8192 bits). Imported JWKs are public only: private members and symmetric
 * keys are refused with their own error codes. Private keys travel only as
 * PKCS#8 DER so the caller can seal them for storage.
 *
 * Functions return 0 (or a length) on success and a negative JWK_ERR_* code.
 * Keys are immutable after creation and may be shared between threads.
 */
#ifndef SHARK_CRYPTO_JWK_H
#define SHARK_CRYPTO_JWK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct jwk_key jwk_key;

typedef enum {
    JWK_ES256,
    JWK_EDDSA,
    JWK_RS256,
    JWK_PS256,
} jwk_alg;

enum {
    JWK_ERR_INVALID = -1,   /* malformed, unsupported or mismatched key/alg */
    JWK_ERR_PRIVATE = -2,   /* JWK carries private members (d, p, q, ...) */
    JWK_ERR_SYMMETRIC = -3, /* kty "oct": shared secrets are never accepted */
    JWK_ERR_NOKEY = -4,     /* operation needs the private key */
    JWK_ERR_SPACE = -5,     /* output buffer too small */
    JWK_ERR_INTERNAL = -6,  /* libcrypto failure (out of memory) */
    JWK_ERR_BADSIG = -7,    /* signature does not verify */
};

/* base64url SHA-256: 43 characters. */
#define JWK_THUMBPRINT_LEN 43
/* Largest signature of any supported key (RSA 8192). */
#define JWK_SIG_MAX 1024

/* "ES256", "EdDSA", ... */
const char *jwk_alg_name(jwk_alg alg);
/* Maps a JOSE alg name to jwk_alg ("Ed25519", RFC 9864, is EdDSA); -1 for
 * none, HS*, and anything unknown. */
int jwk_alg_parse(const char *name, jwk_alg *out);

/* New private key: P-256 for ES256, Ed25519 for EdDSA, RSA 2048 for RS256 and
 * PS256. */
int jwk_generate(jwk_alg alg, jwk_key **out);
/* Public key from a JWK object. An "alg" member, if present, pins the key to
 * that algorithm; without it an RSA key serves RS256 and PS256. */
int jwk_from_json(const json_t *jwk, jwk_key **out);
/* Private key from PKCS#8 DER (as written by jwk_private_der); alg must fit
 * the key type and is pinned. */
int jwk_from_private_der(const uint8_t *der, size_t n, jwk_alg alg, jwk_key **out);
void jwk_free(jwk_key *key);

jwk_alg jwk_key_alg(const jwk_key *key);
int jwk_is_private(const jwk_key *key);

/* New JWK object with only the key's required public members (kty, crv, x,
 * y / n, e): what a DPoP proof embeds. NULL on allocation failure. */
json_t *jwk_public_json(const jwk_key *key);
/* New public JWK object {kty, crv/x/y | n/e, kid?, alg, use: "sig"}; kid may
 * be NULL. Returns NULL on allocation failure. */
json_t *jwk_to_json(const jwk_key *key, const char *kid);
/* PKCS#8 DER of the private key. With out NULL, returns the length needed.
 * The caller wipes the buffer after sealing it. */
long jwk_private_der(const jwk_key *key, uint8_t *out, size_t outsz);

/* RFC 7638 thumbprint (SHA-256, base64url, NUL-terminated). */
int jwk_thumbprint(const jwk_key *key, char out[JWK_THUMBPRINT_LEN + 1]);
/* Thumbprint of a JWK object, from its required members as given (what other
 * implementations compute from the same JSON). Validates kty and members'
 * presence only; import the key to validate it. */
int jwk_thumbprint_json(const json_t *jwk, char out[JWK_THUMBPRINT_LEN + 1]);

/* Signs msg with alg in JOSE form (ES256: 64-byte R||S); returns the length. */
long jwk_sign(const jwk_key *key, jwk_alg alg, const void *msg, size_t n, uint8_t *sig,
              size_t sigsz);
/* Length of the JOSE-form signatures this key makes. */
size_t jwk_sig_len(const jwk_key *key);
/* 0 if sig is a valid JOSE-form signature of msg under key with alg;
 * JWK_ERR_BADSIG if not, JWK_ERR_INVALID if the key does not fit alg. */
int jwk_verify(const jwk_key *key, jwk_alg alg, const void *msg, size_t n, const uint8_t *sig,
               size_t siglen);

#endif
