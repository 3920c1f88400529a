/* The authorization code flow's front half: /oauth/authorize (plain or via a
 * pushed request, RFC 9126), the login and consent pages, the decision, and
 * the redirect back with code, state and iss (RFC 9207). OAuth 2.1 rules:
 * PKCE with S256 only, exact redirect URI match, single-use short-lived
 * codes. OpenID Connect's prompt and max_age (protocol/prompt.h), the
 * response modes of protocol/respmode.h, loopback redirect URIs on any port
 * (RFC 8252 §7.3), and codes bound to a DPoP key (RFC 9449 §10: dpop_jkt, or
 * a proof sent to PAR). Errors go back to the client only once its redirect
 * URI is known to be registered; before that the user sees an error page. */
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../store/auth.h"
#include "../store/oauth.h"
#include "audience.h"
#include "authorize.h"
#include "client.h"
#include "errors.h"
#include "jar.h"
#include "../identity/login.h"
#include "issuer.h"
#include "../identity/pages.h"
#include "prompt.h"
#include "proof.h"
#include "respmode.h"
#include "../identity/session.h"
#include "../identity/web.h"

#define REQUEST_TTL_S 600
#define PAR_TTL_S 90
#define CODE_TTL_S 60
#define REQUEST_URI_PREFIX "urn:ietf:params:oauth:request_uri:"

struct az {
    http_req *req;
    const char *areq; /* auth_requests id */
    json_t *params;   /* client_id, redirect_uri, scope, state, code_challenge, nonce, resource */
    const char *client_name;
    const session *s;
    form f;
    bool approve;
    bool resumed; /* back from the login page: prompt and max_age were applied */
};

static void release(void *p)
{
    json_decref(p);
}

static const char *param(const struct az *z, const char *k)
{
    return json_string_value(json_object_get(z->params, k));
}

static char *random_text(http_req *req, const char *prefix, size_t bytes)
{
    uint8_t raw[32];
    char text[64];
    hash_random(raw, bytes);
    enc_base62(raw, bytes, text, sizeof(text));
    return arena_printf(http_req_arena(req), "%s%s", prefix, text);
}

static void redirect(http_req *req, const char *url)
{
    http_header(req, "Location", url);
    http_respond(req, 303, "text/plain", "", 0);
}

/* The answer to the client: code or error (k1=v1, k2=v2 when not NULL),
 * with state and iss, in the request's response mode. */
static void redirect_back(struct az *z, const char *k1, const char *v1, const char *k2,
                          const char *v2)
{
    const char *kv[9];
    int n = 0;
    kv[n++] = k1;
    kv[n++] = v1;
    if (k2 != NULL) {
        kv[n++] = k2;
        kv[n++] = v2;
    }
    if (param(z, "state") != NULL) {
        kv[n++] = "state";
        kv[n++] = param(z, "state");
    }
    kv[n++] = "iss";
    kv[n++] = http_req_app(z->req)->cfg.issuer;
    kv[n] = NULL;
    oauth_response_send(z->req, param(z, "redirect_uri"), param(z, "response_mode"), kv);
}

static void redirect_error(struct az *z, const char *error, const char *desc)
{
    redirect_back(z, "error", error, "error_description", desc);
}

static void prompt_of(const struct az *z, oauth_prompt *p)
{
    /* validated when the request was made */
    if (oauth_prompt_parse(param(z, "prompt"), p) != 0)
        memset(p, 0, sizeof(*p));
}

/* ---- issuing the code ---- */

static void on_code(void *ud, PGresult *res, int err, const char *msg)
{
    struct az *z = ud;
    (void)res;
    (void)msg;
    if (err != STORE_OK) {
        page_error(z->req, 503, "The service is busy. Please try again.");
        return;
    }
    redirect_back(z, "code", http_req_ctx(z->req), NULL, NULL);
}

static void on_consumed(void *ud, PGresult *res, int err, const char *msg)
{
    struct az *z = ud;
    (void)msg;
    if (err != STORE_OK) {
        page_error(z->req, 503, "The service is busy. Please try again.");
        return;
    }
    if (PQgetvalue(res, 0, 0)[0] == '0') {
        page_error(z->req, 400, "This authorization request was already used or has expired.");
        return;
    }
    if (!z->approve) {
        redirect_error(z, "access_denied", "the user denied the request");
        return;
    }
    const char *code = random_text(z->req, "", 32);
    http_req_set_ctx(z->req, (void *)code);
    char hash[65];
    hash_sha256_hex(code, strlen(code), hash);
    store_code c = {
        hash, param(z, "client_id"), z->s->user_id, param(z, "redirect_uri"),
        param(z, "scope") ? param(z, "scope") : "", param(z, "code_challenge"), param(z, "nonce"),
        param(z, "resource"),
        /* offline_access asks for a grant that outlives the session */
        oauth_scope_subset("offline_access", param(z, "scope")) ? NULL : z->s->public_id,
        param(z, "dpop_jkt"), json_is_true(json_object_get(z->params, "redirect_uri_sent")),
        z->s->auth_time, CODE_TTL_S};
    if (store_code_create(http_req_pool(z->req), &c, on_code, z) != 0)
        page_error(z->req, 503, "The service is busy. Please try again.");
}

static void finish(struct az *z, bool approve)
{
    z->approve = approve;
    if (store_authreq_consume(http_req_pool(z->req), z->areq, on_consumed, z) != 0)
        page_error(z->req, 503, "The service is busy. Please try again.");
}

/* ---- consent ---- */

static void consent_page(struct az *z)
{
    http_req *req = z->req;
    const char *scope = param(z, "scope");
    char *items = arena_strdup(http_req_arena(req), "");
    for (const char *p = scope; p != NULL && *p;) {
        const char *sp = strchr(p, ' ');
        char *one = arena_strndup(http_req_arena(req), p, sp ? (size_t)(sp - p) : strlen(p));
        items = arena_printf(http_req_arena(req), "%s<li>%s</li>", items, page_escape(req, one));
        p = sp ? sp + 1 : NULL;
    }
    page_send(req, 200, "Authorize",
              arena_printf(http_req_arena(req),
                           "<h1>%s wants to act for you</h1>"
                           "<p>Signed in as <b>%s</b>.</p><p>It asks for:</p><ul>%s</ul>"
                           "<form method=post action=/oauth/authorize/decision>"
                           "<input type=hidden name=request value=\"%s\">"
                           "<input type=hidden name=csrf_token value=\"%s\">"
                           "<button name=decision value=approve>Allow</button> "
                           "<button class=secondary name=decision value=deny>Deny</button>"
                           "</form><p class=muted>It will be sent back to %s</p>",
                           page_escape(req, z->client_name), page_escape(req, z->s->email),
                           *items ? items : "<li>basic access (no scopes)</li>",
                           page_escape(req, z->areq), page_escape(req, z->s->csrf),
                           page_escape(req, param(z, "redirect_uri"))));
}

static void on_consent(void *ud, PGresult *res, int err, const char *msg)
{
    struct az *z = ud;
    (void)msg;
    if (err != STORE_OK) {
        page_error(z->req, 503, "The service is busy. Please try again.");
        return;
    }
    const char *scope = param(z, "scope");
    oauth_prompt p;
    prompt_of(z, &p);
    /* A consent already covering these scopes needs no new question, unless
     * prompt=consent asks it anyway. */
    if (!p.consent && !PQgetisnull(res, 0, 0) &&
        oauth_scope_subset(scope ? scope : "", PQgetvalue(res, 0, 0)))
        finish(z, true);
    else if (p.none)
        redirect_error(z, "consent_required", "the user has not consented to these scopes");
    else
        consent_page(z);
}

/* A client that fails the lookup: gone, disabled, or unreachable store. */
static void client_error(http_req *req, const char *error)
{
    if (error == NULL)
        page_error(req, 400, "Unknown client.");
    else if (strcmp(error, OAUTH_LOOKUP_UNAVAILABLE) == 0)
        page_error(req, 503, "The service is busy. Please try again.");
    else
        page_error(req, 400,
                   arena_printf(http_req_arena(req),
                                "The client's metadata document cannot be used: %s.", error));
}

static void on_client_name(http_req *req, void *ud, const oauth_client *cl, const char *error)
{
    struct az *z = ud;
    if (cl == NULL) {
        client_error(req, error);
        return;
    }
    z->client_name = cl->name != NULL && *cl->name ? cl->name : cl->client_id;
    if (store_consent_get(http_req_pool(req), z->s->user_id, param(z, "client_id"), on_consent,
                          z) != 0)
        page_error(req, 503, "The service is busy. Please try again.");
}

static void to_login(struct az *z)
{
    redirect(z->req,
             arena_printf(http_req_arena(z->req), "/login?request=%s", oauth_qs(z->req, z->areq)));
}

static void on_reauth_marked(void *ud, PGresult *res, int err, const char *msg)
{
    struct az *z = ud;
    (void)msg;
    if (err != STORE_OK) {
        page_error(z->req, 503, "The service is busy. Please try again.");
        return;
    }
    if (PQgetvalue(res, 0, 0)[0] == '0') {
        page_error(z->req, 400, "This authorization request was already used or has expired.");
        return;
    }
    to_login(z);
}

static void on_session(http_req *req, void *ud, const session *s, bool expired)
{
    struct az *z = ud;
    (void)expired;
    oauth_prompt p;
    prompt_of(z, &p);
    if (s == NULL) {
        if (p.none)
            redirect_error(z, "login_required", "no one is signed in");
        else
            to_login(z);
        return;
    }
    /* The first look applies prompt and max_age; back from the login page,
     * only the very session that was sent there is still not good enough. */
    const json_t *ma = json_object_get(z->params, "max_age");
    const char *stale = param(z, "reauth");
    bool again = z->resumed ? stale != NULL && strcmp(stale, s->public_id) == 0
                            : oauth_prompt_reauth(&p, ma ? json_integer_value(ma) : -1,
                                                  s->auth_time, (int64_t)time(NULL));
    if (again) {
        if (p.none) {
            redirect_error(z, "login_required", "the sign-in is older than max_age allows");
            return;
        }
        json_t *mark = json_pack("{s:s}", "reauth", s->public_id);
        char *text = json_dumps(mark, JSON_COMPACT);
        json_decref(mark);
        const char *copy = arena_strdup(http_req_arena(req), text ? text : "{}");
        free(text);
        if (store_authreq_merge(http_req_pool(req), z->areq, copy, on_reauth_marked, z) != 0)
            page_error(req, 503, "The service is busy. Please try again.");
        return;
    }
    z->s = s;
    oauth_client_lookup(req, param(z, "client_id"), on_client_name, z);
}

static void on_stored(void *ud, PGresult *res, int err, const char *msg)
{
    struct az *z = ud;
    (void)res;
    (void)msg;
    if (err != STORE_OK) {
        page_error(z->req, 503, "The service is busy. Please try again.");
        return;
    }
    session_load(z->req, on_session, z);
}

/* ---- validating a request (authorize and PAR) ---- */

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
static void request_error(struct check *c, struct az *z, const char *error, const char *desc)
{
    if (c->pushed)
        http_error_oauth(c->req, 400, error, desc);
    else
        redirect_error(z, error, desc);
}

static void validated_client(http_req *req, struct check *c, const oauth_client *cl)
{
    arena *ar = http_req_arena(req);
    struct az *z = arena_calloc(ar, sizeof(*z));
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
    z->areq = c->areq = random_text(req, "areq_", 16);
    char *text = json_dumps(z->params, JSON_COMPACT);
    const char *copy = arena_strdup(ar, text ? text : "{}");
    free(text);
    if (store_authreq_create(http_req_pool(req), z->areq, cl->client_id, copy, c->pushed,
                             c->pushed ? PAR_TTL_S : REQUEST_TTL_S,
                             c->pushed ? on_par_stored : on_stored,
                             c->pushed ? (void *)c : (void *)z) != 0)
        page_error(req, 503, "The service is busy. Please try again.");
}

static void on_client(http_req *req, void *ud, const oauth_client *cl, const char *error)
{
    if (cl == NULL)
        client_error(req, error);
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

/* ---- a pushed request comes back through the browser ---- */

static void on_pushed(void *ud, PGresult *res, int err, const char *msg)
{
    struct az *z = ud;
    (void)msg;
    if (err != STORE_OK) {
        page_error(z->req, 503, "The service is busy. Please try again.");
        return;
    }
    const char *cid = http_req_query_get(z->req, "client_id");
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 2)[0] != 't' || cid == NULL ||
        strcmp(cid, PQgetvalue(res, 0, 0)) != 0) {
        page_error(z->req, 400, "The request_uri is unknown, expired, used, or not this client's.");
        return;
    }
    z->params = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    arena_cleanup(http_req_arena(z->req), release, z->params);
    session_load(z->req, on_session, z);
}

static void authorize(http_req *req)
{
    arena *ar = http_req_arena(req);
    const char *request_uri = http_req_query_get(req, "request_uri");
    const char *request = http_req_query_get(req, "request");
    if (request_uri != NULL && request != NULL) {
        page_error(req, 400, "The request has both request and request_uri.");
        return;
    }
    if (request_uri != NULL) {
        struct az *z = arena_calloc(ar, sizeof(*z));
        z->req = req;
        if (strncmp(request_uri, REQUEST_URI_PREFIX, strlen(REQUEST_URI_PREFIX)) != 0) {
            page_error(req, 400, "The request_uri is not one this server issued.");
            return;
        }
        z->areq = request_uri + strlen(REQUEST_URI_PREFIX);
        if (store_authreq_get(http_req_pool(req), z->areq, on_pushed, z) != 0)
            page_error(req, 503, "The service is busy. Please try again.");
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
    if (strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
        http_error_oauth(c->req, 400, "invalid_dpop_proof", "DPoP proof already used");
        return;
    }
    oauth_client_authenticate(c->req, c->f, on_par_client, c);
}

static void par(http_req *req)
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

/* ---- login page ---- */

#define LOGIN_CSRF_COOKIE "shark_login_csrf"

/* Login CSRF (a form on another site signing someone into the attacker's
 * account): a double-submit token in a cookie only our login form sees, on
 * top of the web guard's Origin check. */
static void login_page(http_req *req, int status, const char *request, const char *next,
                       const char *error, const char *csrf)
{
    if (csrf == NULL) {
        csrf = random_text(req, "", 24);
        web_set_cookie(req, LOGIN_CSRF_COOKIE, csrf, "/login", "HttpOnly; SameSite=Strict");
    }
    page_send(req, status, "Sign in",
              arena_printf(http_req_arena(req),
                           "<h1>Sign in</h1>%s<form method=post action=/login>"
                           "<input type=hidden name=login_csrf value=\"%s\">"
                           "<input type=hidden name=request value=\"%s\">"
                           "<input type=hidden name=next value=\"%s\">"
                           "<label for=email>Email</label><input id=email type=email name=email "
                           "required autocomplete=username>"
                           "<label for=password>Password</label><input id=password "
                           "type=password name=password required autocomplete=current-password>"
                           "<button>Sign in</button></form>",
                           error ? arena_printf(http_req_arena(req), "<p class=err>%s</p>",
                                                page_escape(req, error))
                                 : "",
                           page_escape(req, csrf), page_escape(req, request),
                           page_escape(req, next)));
}

static const char *safe_next(const char *next)
{
    /* Only our own pages: never an open redirect. */
    if (next != NULL && (strcmp(next, "/device") == 0 || strncmp(next, "/device?", 8) == 0))
        return next;
    return NULL;
}

static void login_get(http_req *req)
{
    login_page(req, 200, http_req_query_get(req, "request"),
               safe_next(http_req_query_get(req, "next")), NULL, NULL);
}

static void on_login(http_req *req, void *ud, const session *s, const char *error)
{
    form *f = ud;
    const char *request = form_get(f, "request"), *next = safe_next(form_get(f, "next"));
    if (s == NULL) {
        const char *msg = strcmp(error, "account_locked") == 0
                              ? "Too many failed attempts: this account is locked for a while."
                          : strcmp(error, "unavailable") == 0
                              ? "The service is busy. Please try again."
                              : "Wrong email or password.";
        login_page(req, strcmp(error, "unavailable") == 0 ? 503 : 401, request, next, msg,
                   form_get(f, "login_csrf"));
        return;
    }
    if (request != NULL)
        redirect(req, arena_printf(http_req_arena(req), "/oauth/authorize/resume?request=%s",
                                   oauth_qs(req, request)));
    else
        redirect(req, next ? next : "/");
}

static void login_post(http_req *req)
{
    form *f = arena_calloc(http_req_arena(req), sizeof(*f));
    if (oauth_read_form(req, f) != 0)
        return;
    const char *email = form_get(f, "email"), *password = form_get(f, "password");
    const char *sent = form_get(f, "login_csrf"), *cookie = web_cookie(req, LOGIN_CSRF_COOKIE);
    if (sent == NULL || cookie == NULL || !hash_ct_eq(sent, strlen(sent), cookie, strlen(cookie))) {
        login_page(req, 403, form_get(f, "request"), safe_next(form_get(f, "next")),
                   "This sign-in form expired. Please try again.", NULL);
        return;
    }
    if (email == NULL || password == NULL) {
        login_page(req, 400, form_get(f, "request"), safe_next(form_get(f, "next")),
                   "Enter your email and password.", sent);
        return;
    }
    login_password(req, email, password, on_login, f);
}

/* ---- after login, and the decision ---- */

static void on_granted(void *ud, PGresult *res, int err, const char *msg)
{
    struct az *z = ud;
    (void)res;
    (void)msg;
    if (err != STORE_OK) {
        page_error(z->req, 503, "The service is busy. Please try again.");
        return;
    }
    finish(z, true);
}

static void on_request_row(void *ud, PGresult *res, int err, const char *msg)
{
    struct az *z = ud;
    (void)msg;
    if (err != STORE_OK) {
        page_error(z->req, 503, "The service is busy. Please try again.");
        return;
    }
    if (PQntuples(res) != 1) {
        page_error(z->req, 400, "This authorization request was already used or has expired.");
        return;
    }
    z->params = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    arena_cleanup(http_req_arena(z->req), release, z->params);
    if (z->s == NULL) {
        session_load(z->req, on_session, z);
        return;
    }
    const char *decision = form_get(&z->f, "decision");
    if (decision == NULL || (strcmp(decision, "approve") != 0 && strcmp(decision, "deny") != 0)) {
        page_error(z->req, 400, "No decision was made.");
        return;
    }
    if (strcmp(decision, "deny") == 0) {
        finish(z, false);
        return;
    }
    store_actor who = {http_req_id(z->req), http_req_client_ip(z->req)};
    const char *scope = param(z, "scope");
    if (store_consent_grant(http_req_pool(z->req), z->s->user_id, param(z, "client_id"),
                            scope ? scope : "", &who, on_granted, z) != 0)
        page_error(z->req, 503, "The service is busy. Please try again.");
}

static void resume(http_req *req)
{
    struct az *z = arena_calloc(http_req_arena(req), sizeof(*z));
    z->req = req;
    z->resumed = true;
    z->areq = http_req_query_get(req, "request");
    if (z->areq == NULL || strlen(z->areq) > 100) {
        page_error(req, 400, "No authorization request to resume.");
        return;
    }
    if (store_authreq_get(http_req_pool(req), z->areq, on_request_row, z) != 0)
        page_error(req, 503, "The service is busy. Please try again.");
}

static void on_decision_session(http_req *req, void *ud, const session *s, bool expired)
{
    struct az *z = ud;
    (void)expired;
    if (s == NULL) {
        page_error(req, 401, "Your session has expired. Start again from the application.");
        return;
    }
    if (!session_csrf_ok(s, form_get(&z->f, "csrf_token"))) {
        page_error(req, 403, "This form is not valid any more (CSRF check failed).");
        return;
    }
    z->s = s;
    z->areq = form_get(&z->f, "request");
    if (z->areq == NULL || store_authreq_get(http_req_pool(req), z->areq, on_request_row, z) != 0)
        page_error(req, 400, "No authorization request.");
}

static void decision(http_req *req)
{
    struct az *z = arena_calloc(http_req_arena(req), sizeof(*z));
    z->req = req;
    if (oauth_read_form(req, &z->f) != 0)
        return;
    session_load(req, on_decision_session, z);
}

/* The pages a browser sees go through the web guard (Host, Origin). */
static const web_route pages[] = {
    {"GET", "/oauth/authorize", authorize, WEB_PAGE},
    {"GET", "/oauth/authorize/resume", resume, WEB_PAGE},
    {"POST", "/oauth/authorize/decision", decision, WEB_PAGE},
    {"GET", "/login", login_get, WEB_PAGE},
    {"POST", "/login", login_post, WEB_PAGE},
};

int oauth_authorize_routes(router *r)
{
    if (router_add(r, "POST", "/oauth/par", par, NULL) != 0 ||
        web_routes_add(r, pages, sizeof(pages) / sizeof(pages[0])) != 0)
        return -1;
    return 0;
}
