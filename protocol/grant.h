/*
 * grant: what the files of POST /oauth/token share (internal to them): the
 * request being answered, the issue pipeline of token.c (scope, audience,
 * DPoP binding, signing, the one-statement record) and each grant's entry
 * point, one file per grant:
 *   token.c             the endpoint, client authentication, client_credentials
 *   grant_code.c        authorization_code with PKCE (RFC 6749 §4.1, RFC 7636)
 *   grant_refresh.c     refresh_token, rotation with reuse detection
 *   grant_device.c      device_code polling (RFC 8628)
 *   grant_exchange.c    token exchange (RFC 8693)
 */
#ifndef SHARK_PROTOCOL_GRANT_H
#define SHARK_PROTOCOL_GRANT_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/http.h"
#include "../core/server.h"
#include "../crypto/dpop.h"
#include "../store/store.h"
#include "access.h"
#include "client.h"
#include "form.h"

#define GRANT_CC "client_credentials"
#define GRANT_CODE "authorization_code"
#define GRANT_REFRESH "refresh_token"
#define GRANT_DEVICE "urn:ietf:params:oauth:grant-type:device_code"
#define REFRESH_TTL_S (30 * 86400)
#define GRANT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TT_ACCESS "urn:ietf:params:oauth:token-type:access_token"
#define TT_JWT "urn:ietf:params:oauth:token-type:jwt"

struct treq {
    http_req *req;
    app *app;
    form f;
    const char *grant;
    bool dpop;
    dpop_result proof;
    const oauth_client *client;
    /* what will be issued */
    const char *sub, *user_id, *scope, *aud;
    json_t *act;
    const char *act_text; /* act serialised once, for the record and the claims */
    const char *event;
    oauth_access subject, actor;
    bool has_actor;
    char jti[40];
    int64_t iat, exp;
    /* authorization code and refresh grants */
    const char *code_hash, *family, *nonce, *refresh;
    const char *refresh_scope; /* the grant's scope: a narrowed refresh keeps it */
    const char *refresh_hash;
    const char *parent_jti; /* exchange: the subject token's jti */
    const char *session_id; /* the session a person's grant ends with, if any */
    int64_t auth_time;
    bool want_refresh, want_id_token;
};

/* Shared steps (token.c). Each either answers or hands on. */
void token_dpop_error(struct treq *t, const char *desc);
void token_issue(struct treq *t);
const char *token_new_id(arena *ar, const char *prefix);
void token_new_jti(struct treq *t);
void token_read_audience(struct treq *t);
int token_read_scope(struct treq *t, const char *allowed);
void token_release(void *p);
void token_unavailable(http_req *req);
/* String equality with NULL read as "" (as an SQL NULL column once was). */
bool token_same(const char *a, const char *b);

/* The grants (one file each). */
void grant_exchange(struct treq *t);
void grant_authorization_code(struct treq *t);
void grant_refresh(struct treq *t);
void grant_device(struct treq *t);

#endif
