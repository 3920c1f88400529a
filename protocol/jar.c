#include "jar.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../core/server.h"
#include "../crypto/jws.h"
#include "../store/oidc.h"
#include "../store/rows_oauth.h"

#define MAX_AHEAD_S 3600

struct jar {
    http_req *req;
    const char *client_id, *request;
    oauth_jar_cb cb;
    void *ud;
};

/* The verified claims (owned by t) or NULL with *why. */
static const json_t *verified(struct jar *j, const char *jwks_text, jws_token *t, const char **why)
{
    json_t *jwks = json_loads(jwks_text, 0, NULL);
    const char *kid = json_string_value(json_object_get(jws_header(t), "kid"));
    bool ok = false;
    size_t i;
    json_t *k;
    json_array_foreach (json_object_get(jwks, "keys"), i, k) {
        const char *kk = json_string_value(json_object_get(k, "kid"));
        jwk_key *key = NULL;
        if (kid != NULL && (kk == NULL || strcmp(kk, kid) != 0))
            continue;
        ok = jwk_from_json(k, &key) == 0 && jws_verify(t, key) == 0;
        jwk_free(key);
        if (ok)
            break;
    }
    json_decref(jwks);
    if (!ok) {
        *why = "the request object is not signed by a key the client registered";
        return NULL;
    }
    const json_t *c = jws_claims(t);
    const app *a = http_req_app(j->req);
    const char *iss = json_string_value(json_object_get(c, "iss"));
    const json_t *aud = json_object_get(c, "aud"), *exp = json_object_get(c, "exp");
    const char *cid = json_string_value(json_object_get(c, "client_id"));
    bool aud_ok = json_is_string(aud) && strcmp(json_string_value(aud), a->cfg.issuer) == 0;
    json_array_foreach (aud, i, k)
        aud_ok |= json_is_string(k) && strcmp(json_string_value(k), a->cfg.issuer) == 0;
    int64_t now = (int64_t)time(NULL);
    if (iss == NULL || strcmp(iss, j->client_id) != 0)
        *why = "the request object's iss must be the client_id";
    else if (!aud_ok)
        *why = "the request object's aud must be the issuer";
    else if (!json_is_integer(exp) || json_integer_value(exp) <= now ||
             json_integer_value(exp) > now + MAX_AHEAD_S)
        *why = "the request object must expire, within an hour";
    else if (json_object_get(c, "client_id") != NULL &&
             (cid == NULL || strcmp(cid, j->client_id) != 0))
        *why = "the request object's client_id is not the request's";
    else if (json_object_get(c, "request") != NULL || json_object_get(c, "request_uri") != NULL)
        *why = "a request object cannot hold request or request_uri";
    else
        return c;
    return NULL;
}

/* The claims as string parameters (max_age may be a number). */
static json_t *parameters(struct jar *j, const json_t *c, const char **why)
{
    static const char *const skip[] = {"iss", "aud", "exp", "iat", "nbf", "jti", NULL};
    json_t *p = json_object();
    const char *name;
    json_t *v;
    json_object_foreach ((json_t *)c, name, v) {
        bool meta = false;
        for (const char *const *s = skip; *s != NULL; s++)
            meta |= strcmp(*s, name) == 0;
        if (meta)
            continue;
        if (json_is_string(v)) {
            json_object_set(p, name, v);
        } else if (json_is_integer(v) && strcmp(name, "max_age") == 0) {
            char n[32];
            snprintf(n, sizeof(n), "%lld", (long long)json_integer_value(v));
            json_object_set_new(p, name, json_string(n));
        } else {
            json_decref(p);
            *why = "request object parameters must be strings";
            return NULL;
        }
    }
    json_object_set_new(p, "client_id", json_string(j->client_id));
    return p;
}

static void on_client(void *ud, PGresult *res, int err, const char *msg)
{
    struct jar *j = ud;
    (void)msg;
    if (err != STORE_OK) {
        j->cb(j->req, j->ud, NULL, NULL);
        return;
    }
    store_client_oidc_row row;
    if (!store_client_oidc_row_read(res, http_req_arena(j->req), &row) || row.jwks == NULL) {
        j->cb(j->req, j->ud, NULL, "the client has no registered keys to sign request objects");
        return;
    }
    jws_token *t = NULL;
    const char *why = "the request object is not a signed JWT";
    json_t *params = NULL;
    if (jws_parse(j->request, strlen(j->request), &t) == 0) {
        const json_t *c = verified(j, row.jwks, t, &why);
        if (c != NULL)
            params = parameters(j, c, &why);
    }
    jws_free(t);
    j->cb(j->req, j->ud, params, params != NULL ? NULL : why);
}

void oauth_jar_open(http_req *req, const char *client_id, const char *request, oauth_jar_cb cb,
                    void *ud)
{
    struct jar *j = arena_calloc(http_req_arena(req), sizeof(*j));
    j->req = req;
    j->client_id = client_id;
    j->request = request;
    j->cb = cb;
    j->ud = ud;
    if (store_client_oidc(http_req_pool(req), client_id, on_client, j) != 0)
        cb(req, ud, NULL, NULL);
}
