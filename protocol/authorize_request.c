/* Validating an authorization request, plain or pushed (see
 * authorize_request.h). */
#include "authorize_request.h"
#include "authorize_flow.h"

#include <stdlib.h>
#include <string.h>

#include "../identity/pages.h"
#include "../store/auth.h"
#include "../store/oauth.h"
#include "../store/rows_oauth.h"
#include "audience.h"
#include "client.h"
#include "errors.h"
#include "jar.h"
#include "prompt.h"
#include "proof.h"
#include "respmode.h"

#define PAR_TTL_S 90
#define REQUEST_URI_PREFIX "urn:ietf:params:oauth:request_uri:"

static void release(void *p)
{
    json_decref(p);
}

struct check {
    http_req *req;
    json_t *in; /* the raw parameters */
    bool pushed;
    const char *areq;
    form *f;                    /* PAR: the form, authenticated after the proof */
    const oauth_client *client; /* PAR: the authenticated client */
    dpop_result proof;          /* PAR: the DPoP proof, when one came */
    const char *proof_jkt;
};

static const char *in_str(const struct check *c, const char *k)
{
    const char *v = json_string_value(json_object_get(c->in, k));
    return v && *v ? v : NULL;
}

static bool verifier_charset(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '.' || *s == '_' || *s == '~'))
            return false;
    return true;
}

/* RFC 8252 §7.3: a loopback IP literal redirect URI matches with any port;
 * scheme, host, path and query stay exact. */
static bool loopback_match(const char *registered, const char *given)
{
    static const char *const hosts[] = {"http://127.0.0.1", "http://[::1]"};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(hosts[i]);
        if (strncmp(registered, hosts[i], n) != 0 || strncmp(given, hosts[i], n) != 0)
            continue;
        const char *r = registered + n, *g = given + n;
        if (*r == ':')
            r += 1 + strspn(r + 1, "0123456789");
        if (*g == ':') {
            size_t digits = strspn(g + 1, "0123456789");
            if (digits == 0 || digits > 5)
                return false;
            g += 1 + digits;
        }
        return (*r == '\0' || *r == '/' || *r == '?') && strcmp(r, g) == 0;
    }
    return false;
}

/* RFC 7638 thumbprint shape: 43 base64url characters. */
static bool jkt_shape(const char *s)
{
    if (strlen(s) != 43)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

static void par_answer(struct check *c)
{
    http_respond_json(
        c->req, 201,
        json_pack("{s:s,s:i}", "request_uri",
                  arena_printf(http_req_arena(c->req), REQUEST_URI_PREFIX "%s", c->areq),
                  "expires_in", PAR_TTL_S));
}

static void on_par_stored(void *ud, PGresult *res, int err, const char *msg)
{
    struct check *c = ud;
    (void)res;
    (void)msg;
    if (err != STORE_OK) {
        http_error_oauth(c->req, 503, "temporarily_unavailable", "database unavailable");
        return;
    }
    par_answer(c);
}

/* Redirect-worthy errors once the redirect URI is trusted; for PAR, JSON. */
static void request_error(struct check *c, oauth_az *z, const char *error, const char *desc)
{
    if (c->pushed)
        http_error_oauth(c->req, 400, error, desc);
    else
        oauth_az_redirect_error(z, error, desc);
}

static void validated_client(http_req *req, struct check *c, const oauth_client *cl)
{
    arena *ar = http_req_arena(req);
    oauth_az *z = arena_calloc(ar, sizeof(*z));
    z->req = req;
    const char *redirect_uri = in_str(c, "redirect_uri");
    size_t n = json_array_size(cl->redirect_uris);
    bool match = false, sent = redirect_uri != NULL;
    size_t i;
    json_t *u;
    json_array_foreach (cl->redirect_uris, i, u)
        match |= redirect_uri != NULL && (strcmp(json_string_value(u), redirect_uri) == 0 ||
                                          loopback_match(json_string_value(u), redirect_uri));
    if (redirect_uri == NULL && n == 1) {
        redirect_uri = json_string_value(json_array_get(cl->redirect_uris, 0));
        match = true;
    }
    if (!match) {
        if (c->pushed)
            http_error_oauth(req, 400, "invalid_request", "redirect_uri is not registered");
        else
            page_error(req, 400, "The redirect URI is not registered for this client.");
        return;
    }
    z->params = json_pack("{s:s,s:s}", "client_id", cl->client_id, "redirect_uri", redirect_uri);
    arena_cleanup(ar, release, z->params);
    const char *state = in_str(c, "state");
    if (state != NULL)
        json_object_set_new(z->params, "state", json_string(state));
    if (sent)
        json_object_set_new(z->params, "redirect_uri_sent", json_true());
    /* Checked first, so the errors below go back the way the client wants. */
    const char *mode = in_str(c, "response_mode");
    if (mode != NULL && !oauth_response_mode_known(mode)) {
        request_error(c, z, "invalid_request",
                      "response_mode must be query, fragment or form_post");
        return;
    }
    if (mode != NULL)
        json_object_set_new(z->params, "response_mode", json_string(mode));
    const char *rt = in_str(c, "response_type"), *scope = in_str(c, "scope");
    const char *challenge = in_str(c, "code_challenge"),
               *method = in_str(c, "code_challenge_method");
    if (rt == NULL || strcmp(rt, "code") != 0) {
        request_error(c, z, "unsupported_response_type", "response_type must be code");
        return;
    }
    if (!oauth_client_has_grant(cl, "authorization_code")) {
        request_error(c, z, "unauthorized_client", "this client may not use the code flow");
        return;
    }
    if (challenge == NULL || !verifier_charset(challenge, 43, 128)) {
        request_error(c, z, "invalid_request", "PKCE code_challenge (S256) is required");
        return;
    }
    if (method == NULL || strcmp(method, "S256") != 0) {
        request_error(c, z, "invalid_request", "code_challenge_method must be S256");
        return;
    }
    if (scope != NULL &&
        (!oauth_scope_valid(scope) || !oauth_scope_subset(scope, cl->scopes ? cl->scopes : ""))) {
        request_error(c, z, "invalid_scope", "scope exceeds what this client may ask for");
        return;
    }
    const char *nonce = in_str(c, "nonce"), *resource = in_str(c, "resource");
    if (resource != NULL && strncmp(resource, "https://", 8) != 0 &&
        strncmp(resource, "http://", 7) != 0) {
        request_error(c, z, "invalid_target", "resource must be an absolute URI");
        return;
    }
    if (resource != NULL && !oauth_audience_listed(http_req_app(req), cl, resource)) {
        request_error(c, z, "invalid_target", "this client may not ask for that resource");
        return;
    }
    oauth_prompt prompt;
    const char *prompt_text = in_str(c, "prompt"), *max_age = in_str(c, "max_age");
    if (oauth_prompt_parse(prompt_text, &prompt) != 0) {
        request_error(c, z, "invalid_request",
                      "prompt must be none alone, or login, consent and select_account");
        return;
    }
    if (max_age != NULL && oauth_max_age_parse(max_age) < 0) {
        request_error(c, z, "invalid_request", "max_age must be a number of seconds");
        return;
    }
    const char *jkt = in_str(c, "dpop_jkt");
    if (jkt != NULL && !jkt_shape(jkt)) {
        request_error(c, z, "invalid_request", "dpop_jkt must be a JWK SHA-256 thumbprint");
        return;
    }
    /* RFC 9449 §10.1: both given, they must name the same key. */
    if (c->proof_jkt != NULL && jkt != NULL && strcmp(jkt, c->proof_jkt) != 0) {
        http_error_oauth(req, 400, "invalid_dpop_proof", "dpop_jkt is not the proof's key");
        return;
    }
    if (c->proof_jkt != NULL)
        jkt = c->proof_jkt;
    if (prompt_text != NULL)
        json_object_set_new(z->params, "prompt", json_string(prompt_text));
    if (max_age != NULL)
        json_object_set_new(z->params, "max_age", json_integer(oauth_max_age_parse(max_age)));
    if (jkt != NULL)
        json_object_set_new(z->params, "dpop_jkt", json_string(jkt));
    json_object_set_new(z->params, "code_challenge", json_string(challenge));
    if (scope != NULL)
        json_object_set_new(z->params, "scope", json_string(scope));
    if (nonce != NULL)
        json_object_set_new(z->params, "nonce", json_string(nonce));
    if (resource != NULL)
        json_object_set_new(z->params, "resource", json_string(resource));
    z->areq = c->areq = oauth_az_new_id(req);
    char *text = json_dumps(z->params, JSON_COMPACT);
    const char *copy = arena_strdup(ar, text ? text : "{}");
    free(text);
    if (!c->pushed)
        oauth_az_begin(z, cl->client_id, copy);
    else if (store_authreq_create(http_req_pool(req), z->areq, cl->client_id, copy, 1, PAR_TTL_S,
                                  on_par_stored, c) != 0)
        page_error(req, 503, "The service is busy. Please try again.");
}

static void on_client(http_req *req, void *ud, const oauth_client *cl, const char *error)
{
    if (cl == NULL)
        oauth_az_client_error(req, error);
    else
        validated_client(req, ud, cl);
}

/* A request object's claims replace the request's parameters. */
static void on_jar(http_req *req, void *ud, json_t *params, const char *why)
{
    struct check *c = ud;
    if (params == NULL && why == NULL) {
        if (c->pushed)
            http_error_oauth(req, 503, "temporarily_unavailable", "database unavailable");
        else
            page_error(req, 503, "The service is busy. Please try again.");
        return;
    }
    if (params == NULL) {
        if (c->pushed)
            http_error_oauth(req, 400, "invalid_request_object", why);
        else
            page_error(
                req, 400,
                arena_printf(http_req_arena(req), "The request object cannot be used: %s.", why));
        return;
    }
    arena_cleanup(http_req_arena(req), release, params);
    c->in = params;
    if (c->pushed)
        validated_client(req, c, c->client);
    else
        oauth_client_lookup(req, in_str(c, "client_id"), on_client, c);
}

void oauth_authorize_get(http_req *req)
{
    arena *ar = http_req_arena(req);
    const char *request_uri = http_req_query_get(req, "request_uri");
    const char *request = http_req_query_get(req, "request");
    if (request_uri != NULL && request != NULL) {
        page_error(req, 400, "The request has both request and request_uri.");
        return;
    }
    if (request_uri != NULL) {
        if (strncmp(request_uri, REQUEST_URI_PREFIX, strlen(REQUEST_URI_PREFIX)) != 0)
            page_error(req, 400, "The request_uri is not one this server issued.");
        else
            oauth_az_pushed(req, request_uri + strlen(REQUEST_URI_PREFIX));
        return;
    }
    struct check *c = arena_calloc(ar, sizeof(*c));
    c->req = req;
    c->in = json_object();
    arena_cleanup(ar, release, c->in);
    static const char *const names[] = {"client_id",
                                        "redirect_uri",
                                        "response_type",
                                        "scope",
                                        "state",
                                        "code_challenge",
                                        "code_challenge_method",
                                        "nonce",
                                        "resource",
                                        "response_mode",
                                        "prompt",
                                        "max_age",
                                        "dpop_jkt"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = http_req_query_get(req, names[i]);
        if (v != NULL && strlen(v) <= 2000)
            json_object_set_new(c->in, names[i], json_string(v));
    }
    const char *cid = in_str(c, "client_id");
    if (cid == NULL) {
        page_error(req, 400, "The request names no client (client_id is missing).");
        return;
    }
    if (request != NULL)
        oauth_jar_open(req, cid, request, on_jar, c);
    else
        oauth_client_lookup(req, cid, on_client, c);
}

/* POST /oauth/par: the same checks, answered in JSON; client authenticated. */
static void on_par_client(http_req *req, void *ud, const oauth_client *cl)
{
    struct check *c = ud;
    if (json_object_get(c->in, "request_uri") != NULL) {
        http_error_oauth(req, 400, "invalid_request",
                         "request_uri is not allowed in a pushed request");
        return;
    }
    const char *request = in_str(c, "request");
    c->client = cl;
    if (request != NULL)
        oauth_jar_open(req, cl->client_id, request, on_jar, c);
    else
        validated_client(req, c, cl);
}

static void on_par_replay(void *ud, PGresult *res, int err, const char *msg)
{
    struct check *c = ud;
    (void)msg;
    if (err != STORE_OK) {
        http_error_oauth(c->req, 503, "temporarily_unavailable", "database unavailable");
        return;
    }
    if (!store_replay_fresh(res)) {
        http_error_oauth(c->req, 400, "invalid_dpop_proof", "DPoP proof already used");
        return;
    }
    oauth_client_authenticate(c->req, c->f, on_par_client, c);
}

void oauth_authorize_par(http_req *req)
{
    arena *ar = http_req_arena(req);
    struct check *c = arena_calloc(ar, sizeof(*c));
    c->req = req;
    c->pushed = true;
    c->f = arena_calloc(ar, sizeof(*c->f));
    if (oauth_read_form(req, c->f) != 0)
        return;
    c->in = json_object();
    arena_cleanup(ar, release, c->in);
    for (int i = 0; i < c->f->n; i++)
        json_object_set_new(c->in, c->f->f[i].name, json_string(c->f->f[i].value));
    /* A proof here binds the code to its key (RFC 9449 §10.1). */
    const char *why;
    switch (oauth_proof_check(req, "/oauth/par", NULL, NULL, &c->proof, &why)) {
    case OAUTH_PROOF_NONE:
        oauth_client_authenticate(req, c->f, on_par_client, c);
        return;
    case OAUTH_PROOF_NONCE:
        http_error_oauth(req, 400, "use_dpop_nonce", why);
        return;
    case OAUTH_PROOF_INVALID:
        http_error_oauth(req, 400, "invalid_dpop_proof", why);
        return;
    case OAUTH_PROOF_OK:
        break;
    }
    c->proof_jkt = c->proof.jkt;
    app *a = http_req_app(req);
    const char *key = arena_printf(ar, "dpop:%s:%s", c->proof.jkt, c->proof.jti);
    if (store_replay_record(http_req_pool(req), key, 2 * a->cfg.dpop_window_s + 5, on_par_replay,
                            c) != 0)
        http_error_oauth(req, 503, "temporarily_unavailable", "database unavailable");
}
