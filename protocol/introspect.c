/* RFC 7662 introspection and RFC 7009 revocation. Callers authenticate as a
 * client or with the admin key. Both look at the token's own signature first;
 * introspection then asks oauth_token_check whether it is still active (from
 * memory kept current by the database's notifications, so a revocation
 * takes effect at once on this node, within milliseconds on others).
 *
 * Who learns what (RFC 7662 §4): the admin key and clients marked as
 * resource servers, about any token; a confidential client, about tokens
 * issued to it, whose aud names it, or whose sub or act chain is it; a
 * public client, about nothing. Everything else reads {"active": false}.
 * Refresh tokens (opaque, rt_…) are looked up in the store. A caller that
 * accepts application/token-introspection+jwt gets the answer as a JWT
 * signed by the active key (RFC 9701), addressed to it. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../crypto/hash.h"
#include "../crypto/jws.h"
#include "../store/auth.h"
#include "../store/oauth.h"
#include "../store/system.h"
#include "../store/rows_oauth.h"
#include "access.h"
#include "client.h"
#include "errors.h"
#include "form.h"
#include "keys.h"
#include "introspect.h"
#include "issuer.h"

typedef void (*caller_cb)(http_req *req, void *ud, const oauth_client *c /* NULL = admin */);

struct call {
    http_req *req;
    form f;
    caller_cb next;
    oauth_access tok;
    const oauth_client *client;
    json_t *refresh; /* the answer about a refresh token, until its client is checked */
};

static void on_admin(void *ud, PGresult *res, int err, const char *msg)
{
    struct call *c = ud;
    (void)msg;
    if (err != STORE_OK) {
        http_error_oauth(c->req, 503, "temporarily_unavailable", "database unavailable");
        return;
    }
    if (!store_admin_key_valid(res)) {
        http_header(c->req, "WWW-Authenticate", "Bearer");
        http_error_oauth(c->req, 401, "invalid_client", "invalid admin key");
        return;
    }
    c->next(c->req, c, NULL);
}

static void on_client(http_req *req, void *ud, const oauth_client *cl)
{
    struct call *c = ud;
    c->client = cl;
    c->next(req, c, cl);
}

/* The admin key (Bearer sk_live_…) or any client authentication. */
static void authenticate(struct call *c)
{
    const char *auth = http_req_header(c->req, "Authorization");
    if (auth != NULL && strncasecmp(auth, "Bearer sk_live_", 15) == 0) {
        char hash[65];
        hash_sha256_hex(auth + 7, strlen(auth + 7), hash);
        if (store_admin_key_cached(http_req_loop_ctx(c->req), hash)) {
            c->next(c->req, c, NULL);
            return;
        }
        if (store_admin_key_check(http_req_pool(c->req), http_req_loop_ctx(c->req), hash, on_admin,
                                  c) != 0)
            http_error_oauth(c->req, 503, "temporarily_unavailable", "database unavailable");
        return;
    }
    oauth_client_authenticate(c->req, &c->f, on_client, c);
}

#define JWT_TYPE "application/token-introspection+jwt"

/* Whether Accept names the JWT answer (a media range list; parameters and
 * q-values do not matter here: it is the only other type we offer). */
static bool wants_jwt(http_req *req)
{
    const char *accept = http_req_header(req, "Accept");
    for (const char *p = accept; p != NULL && *p;) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, ",;");
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == strlen(JWT_TYPE) && strncasecmp(p, JWT_TYPE, n) == 0)
            return true;
        p = strchr(p, ',');
        p = p != NULL ? p + 1 : NULL;
    }
    return false;
}

/* Sends the answer (taking the reference to out). */
static void answer(struct call *c, json_t *out)
{
    http_req *req = c->req;
    if (!wants_jwt(req)) {
        http_respond_json(req, 200, out);
        return;
    }
    app *a = http_req_app(req);
    const keyring_snap *ks = keyring_current(a->keys);
    json_t *claims = json_pack("{s:s,s:s,s:I,s:o}", "iss", a->cfg.issuer, "aud",
                               c->client != NULL ? c->client->client_id : a->cfg.issuer, "iat",
                               (json_int_t)time(NULL), "token_introspection", out);
    char *jwt = jws_sign_json(ks->active->key, ks->active->kid, "token-introspection+jwt", claims);
    json_decref(claims);
    if (jwt == NULL) {
        http_error_oauth(req, 500, "server_error", "signing the answer failed");
        return;
    }
    arena_cleanup(http_req_arena(req), free, jwt);
    http_header(req, "Cache-Control", "no-store");
    http_respond(req, 200, JWT_TYPE, jwt, strlen(jwt));
}

static void inactive(struct call *c)
{
    if (wants_jwt(c->req))
        answer(c, json_pack("{s:b}", "active", 0));
    else
        http_respond(c->req, 200, "application/json", "{\"active\":false}", 16);
}

/* May this caller (NULL: the admin key) learn about a token of client_id,
 * subject sub, with these claims (NULL for refresh tokens)? */
static bool may_see(const oauth_client *cl, const char *client_id, const char *sub,
                    const json_t *claims, const char *audience)
{
    if (cl == NULL || cl->resource_server)
        return true;
    if (strcmp(cl->auth_method, "none") == 0)
        return false;
    const char *me = cl->client_id;
    if (strcmp(client_id, me) == 0 || strcmp(sub, me) == 0 ||
        (audience != NULL && strcmp(audience, me) == 0))
        return true;
    if (claims == NULL)
        return false;
    if (oauth_access_aud_has(claims, me))
        return true;
    for (const json_t *a = json_object_get(claims, "act"); json_is_object(a);
         a = json_object_get(a, "act")) {
        const char *actor = json_string_value(json_object_get(a, "sub"));
        if (actor != NULL && strcmp(actor, me) == 0)
            return true;
    }
    return false;
}

static void on_active(void *ud, enum oauth_token_state st)
{
    struct call *c = ud;
    if (st == OAUTH_TOKEN_UNAVAILABLE) {
        http_error_oauth(c->req, 503, "temporarily_unavailable", "database unavailable");
        return;
    }
    if (st != OAUTH_TOKEN_ACTIVE) {
        inactive(c);
        return;
    }
    json_t *out = json_deep_copy(c->tok.claims);
    json_object_set_new(out, "active", json_true());
    json_object_set_new(out, "token_type", json_string(c->tok.jkt ? "DPoP" : "Bearer"));
    answer(c, out);
}

/* A refresh token is as active as its row says and its client is; ud is
 * the answer to give if so. */
static void on_refresh_client(http_req *req, void *ud, const oauth_client *cl, const char *error)
{
    struct call *c = ud;
    json_t *out = c->refresh;
    if (cl == NULL && error != NULL && strcmp(error, OAUTH_LOOKUP_UNAVAILABLE) == 0) {
        json_decref(out);
        http_error_oauth(req, 503, "temporarily_unavailable", "database unavailable");
    } else if (cl == NULL) {
        json_decref(out);
        inactive(c);
    } else {
        answer(c, out);
    }
}

static void on_refresh_row(void *ud, PGresult *res, int err, const char *msg)
{
    struct call *c = ud;
    http_req *req = c->req;
    (void)msg;
    if (err != STORE_OK) {
        http_error_oauth(req, 503, "temporarily_unavailable", "database unavailable");
        return;
    }
    store_refresh_info_row r;
    if (!store_refresh_info_row_read(res, http_req_arena(req), &r) || !r.active) {
        inactive(c);
        return;
    }
    if (!may_see(c->client, r.client_id, r.subject, NULL, r.audience)) {
        inactive(c);
        return;
    }
    json_t *out = json_pack("{s:b,s:s,s:s,s:s,s:s,s:I,s:I}", "active", 1, "token_type",
                            "refresh_token", "iss", http_req_app(req)->cfg.issuer, "client_id",
                            r.client_id, "sub", r.subject, "exp", (json_int_t)r.exp, "iat",
                            (json_int_t)r.iat);
    if (*r.scope != '\0')
        json_object_set_new(out, "scope", json_string(r.scope));
    if (r.audience != NULL)
        json_object_set_new(out, "aud", json_string(r.audience));
    c->refresh = out;
    oauth_client_lookup(req, r.client_id, on_refresh_client, c);
}

static void introspect_next(http_req *req, void *ud, const oauth_client *cl)
{
    struct call *c = ud;
    const char *token = form_get(&c->f, "token");
    if (token == NULL) {
        http_error_oauth(req, 400, "invalid_request", "token is required");
        return;
    }
    const char *hint = form_get(&c->f, "token_type_hint");
    if (hint != NULL && strcmp(hint, "access_token") != 0 && strcmp(hint, "refresh_token") != 0) {
        http_error_oauth(req, 400, "unsupported_token_type", "unknown token_type_hint");
        return;
    }
    if (cl != NULL && !cl->resource_server && strcmp(cl->auth_method, "none") == 0) {
        inactive(c); /* a public client proves nothing about itself */
        return;
    }
    if (strncmp(token, "rt_", 3) == 0) {
        char hash[65];
        hash_sha256_hex(token, strlen(token), hash);
        if (store_refresh_introspect(http_req_pool(req), hash, on_refresh_row, c) != 0)
            http_error_oauth(req, 503, "temporarily_unavailable", "database unavailable");
        return;
    }
    if (oauth_access_verify(req, token, &c->tok) != 0 ||
        !may_see(cl, c->tok.client_id, c->tok.sub, c->tok.claims, NULL)) {
        inactive(c);
        return;
    }
    oauth_token_check(req, &c->tok, on_active, c);
}

static void introspect_endpoint(http_req *req)
{
    struct call *c = arena_calloc(http_req_arena(req), sizeof(*c));
    c->req = req;
    c->next = introspect_next;
    if (oauth_read_form(req, &c->f) == 0)
        authenticate(c);
}

static void on_revoked(void *ud, PGresult *res, int err, const char *msg)
{
    struct call *c = ud;
    (void)res;
    (void)msg;
    if (err != STORE_OK) {
        http_error_oauth(c->req, 503, "temporarily_unavailable", "database unavailable");
        return;
    }
    http_respond(c->req, 200, "application/json", "{}", 2);
}

static void revoke_next(http_req *req, void *ud, const oauth_client *cl)
{
    struct call *c = ud;
    const char *token = form_get(&c->f, "token");
    if (token == NULL) {
        http_error_oauth(req, 400, "invalid_request", "token is required");
        return;
    }
    /* Refresh tokens are opaque: revoking one ends its whole grant family. */
    if (strncmp(token, "rt_", 3) == 0) {
        char hash[65];
        hash_sha256_hex(token, strlen(token), hash);
        if (store_refresh_revoke(http_req_pool(req), hash, cl ? cl->client_id : NULL,
                                 http_req_id(req), http_req_client_ip(req), on_revoked, c) != 0)
            http_error_oauth(req, 503, "temporarily_unavailable", "database unavailable");
        return;
    }
    /* RFC 7009 §2.2: unknown, invalid or expired tokens need no action. */
    if (oauth_access_verify(req, token, &c->tok) != 0) {
        http_respond(req, 200, "application/json", "{}", 2);
        return;
    }
    if (cl != NULL && strcmp(cl->client_id, c->tok.client_id) != 0) {
        http_error_oauth(req, 400, "unauthorized_client", "the token was issued to another client");
        return;
    }
    if (store_token_revoke(http_req_pool(req), c->tok.jti, cl ? cl->client_id : NULL,
                           http_req_id(req), http_req_client_ip(req), on_revoked, c) != 0)
        http_error_oauth(req, 503, "temporarily_unavailable", "database unavailable");
}

static void revoke_endpoint(http_req *req)
{
    struct call *c = arena_calloc(http_req_arena(req), sizeof(*c));
    c->req = req;
    c->next = revoke_next;
    if (oauth_read_form(req, &c->f) == 0)
        authenticate(c);
}

int oauth_introspect_routes(router *r)
{
    if (router_add(r, "POST", "/oauth/introspect", introspect_endpoint, NULL) != 0 ||
        router_add(r, "POST", "/oauth/revoke", revoke_endpoint, NULL) != 0)
        return -1;
    return 0;
}
