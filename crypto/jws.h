/*
 * jws: JSON Web Signatures in compact serialization (RFC 7515) and the JWTs
 * built on them. Signing takes a private jwk_key and returns a malloc'd
 * NUL-terminated string (free() it). Verification is two steps so the
 * caller can pick the key from the header: jws_parse splits and decodes the
 * token and refuses "none", HS* and unknown algorithms and any "crit"
 * header; jws_verify then checks the signature with a given key.
 *
 * Only ES256, EdDSA, RS256 and PS256 exist here (see jwk.h). Pure: no I/O,
 * no clock; claim checks (exp, aud, ...) belong to the caller.
 */
#ifndef SHARK_CRYPTO_JWS_H
#define SHARK_CRYPTO_JWS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jwk.h"

typedef struct jws_token jws_token;

enum {
    JWS_ERR_FORMAT = -1,   /* not a compact JWS, bad base64url or header JSON */
    JWS_ERR_ALG = -2,      /* alg missing, none, HS* or unsupported */
    JWS_ERR_SIG = -3,      /* signature does not verify */
    JWS_ERR_KEY = -4,      /* key does not fit the header's alg */
    JWS_ERR_INTERNAL = -5, /* allocation or libcrypto failure */
};

/* Longest compact JWS jws_parse accepts. */
#define JWS_MAX_LEN 65536

/* Signs payload with the key's alg. Header: alg, then typ and kid when not
 * NULL, then the public JWK when embed_jwk (DPoP proofs). typ and kid must
 * be printable ASCII without '"' or '\'. NULL on failure. */
char *jws_sign(const jwk_key *key, const char *typ, const char *kid, int embed_jwk,
               const void *payload, size_t n);
/* A JWT: header {alg, typ, kid} and the compact JSON of claims as payload.
 * The access-token path: one allocation besides libcrypto's. */
char *jws_sign_json(const jwk_key *key, const char *kid, const char *typ, const json_t *claims);
/* Signs with the key's alg under a caller-written header, used verbatim
 * (it must name that alg); for tests and unusual headers. */
char *jws_sign_raw(const jwk_key *key, const char *header_json, const void *payload, size_t n);

/* Splits and decodes a compact JWS of n bytes; *out is freed with jws_free. */
int jws_parse(const char *compact, size_t n, jws_token **out);
/* Checks the signature with key: 0, JWS_ERR_SIG or JWS_ERR_KEY. */
int jws_verify(const jws_token *t, const jwk_key *key);
void jws_free(jws_token *t);

/* Decoded protected header (an object); owned by t. */
const json_t *jws_header(const jws_token *t);
jwk_alg jws_alg(const jws_token *t);
/* Payload parsed as a JSON object (the JWT claims), or NULL if it is not
 * one; owned by t. Unverified until jws_verify returns 0. */
const json_t *jws_claims(const jws_token *t);
/* Raw decoded payload bytes; owned by t. */
const uint8_t *jws_payload(const jws_token *t, size_t *n);

#endif
