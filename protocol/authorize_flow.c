/* The browser half of the code flow (see authorize_flow.h). */
#include "authorize_flow.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../identity/login.h"
#include "../identity/pages.h"
#include "../identity/web.h"
#include "../store/auth.h"
#include "../store/oauth.h"
#include "../store/rows_oauth.h"
#include "client.h"
#include "issuer.h"
#include "prompt.h"
#include "respmode.h"

#define REQUEST_TTL_S 600
#define CODE_TTL_S 60

static void release(void *p)
{
    json_decref(p);
}

static const char *param(const oauth_az *z, const char *k)
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
static void redirect_back(oauth_az *z, const char *k1, const char *v1, const char *k2,
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

void oauth_az_redirect_error(oauth_az *z, const char *error, const char *desc)
{
    redirect_back(z, "error", error, "error_description", desc);
}

static void prompt_of(const oauth_az *z, oauth_prompt *p)
{
    /* validated when the request was made */
    if (oauth_prompt_parse(param(z, "prompt"), p) != 0)
        memset(p, 0, sizeof(*p));
}

/* ---- issuing the code ---- */

static void on_code(void *ud, PGresult *res, int err, const char *msg)
{
    oauth_az *z = ud;
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
    oauth_az *z = ud;
    (void)msg;
    if (err != STORE_OK) {
        page_error(z->req, 503, "The service is busy. Please try again.");
        return;
    }
    if (!store_authreq_consumed(res)) {
        page_error(z->req, 400, "This authorization request was already used or has expired.");
        return;
    }
    if (!z->approve) {
        oauth_az_redirect_error(z, "access_denied", "the user denied the request");
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

static void finish(oauth_az *z, bool approve)
{
    z->approve = approve;
    if (store_authreq_consume(http_req_pool(z->req), z->areq, on_consumed, z) != 0)
        page_error(z->req, 503, "The service is busy. Please try again.");
}

/* ---- consent ---- */

static void consent_page(oauth_az *z)
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
    oauth_az *z = ud;
    (void)msg;
    if (err != STORE_OK) {
        page_error(z->req, 503, "The service is busy. Please try again.");
        return;
    }
    const char *scope = param(z, "scope");
    const char *consented = store_consent_scopes(res, http_req_arena(z->req));
    oauth_prompt p;
    prompt_of(z, &p);
    /* A consent already covering these scopes needs no new question, unless
     * prompt=consent asks it anyway. */
    if (!p.consent && consented != NULL && oauth_scope_subset(scope ? scope : "", consented))
        finish(z, true);
    else if (p.none)
        oauth_az_redirect_error(z, "consent_required",
                                "the user has not consented to these scopes");
    else
        consent_page(z);
}

/* A client that fails the lookup: gone, disabled, or unreachable store. */
void oauth_az_client_error(http_req *req, const char *error)
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
    oauth_az *z = ud;
    if (cl == NULL) {
        oauth_az_client_error(req, error);
        return;
    }
    z->client_name = cl->name != NULL && *cl->name ? cl->name : cl->client_id;
    if (store_consent_get(http_req_pool(req), z->s->user_id, param(z, "client_id"), on_consent,
                          z) != 0)
        page_error(req, 503, "The service is busy. Please try again.");
}

static void to_login(oauth_az *z)
{
    redirect(z->req,
             arena_printf(http_req_arena(z->req), "/login?request=%s", oauth_qs(z->req, z->areq)));
}

static void on_reauth_marked(void *ud, PGresult *res, int err, const char *msg)
{
    oauth_az *z = ud;
    (void)msg;
    if (err != STORE_OK) {
        page_error(z->req, 503, "The service is busy. Please try again.");
        return;
    }
    if (!store_authreq_merged(res)) {
        page_error(z->req, 400, "This authorization request was already used or has expired.");
        return;
    }
    to_login(z);
}

static void on_session(http_req *req, void *ud, const session *s, bool expired)
{
    oauth_az *z = ud;
    (void)expired;
    oauth_prompt p;
    prompt_of(z, &p);
    if (s == NULL) {
        if (p.none)
            oauth_az_redirect_error(z, "login_required", "no one is signed in");
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
            oauth_az_redirect_error(z, "login_required",
                                    "the sign-in is older than max_age allows");
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
    oauth_az *z = ud;
    (void)res;
    (void)msg;
    if (err != STORE_OK) {
        page_error(z->req, 503, "The service is busy. Please try again.");
        return;
    }
    session_load(z->req, on_session, z);
}

static void on_pushed(void *ud, PGresult *res, int err, const char *msg)
{
    oauth_az *z = ud;
    (void)msg;
    if (err != STORE_OK) {
        page_error(z->req, 503, "The service is busy. Please try again.");
        return;
    }
    const char *cid = http_req_query_get(z->req, "client_id");
    store_authreq_row r;
    if (!store_authreq_row_read(res, http_req_arena(z->req), &r) || !r.pushed || cid == NULL ||
        strcmp(cid, r.client_id) != 0) {
        page_error(z->req, 400, "The request_uri is unknown, expired, used, or not this client's.");
        return;
    }
    z->params = json_loads(r.params, 0, NULL);
    arena_cleanup(http_req_arena(z->req), release, z->params);
    session_load(z->req, on_session, z);
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

void oauth_authorize_login_get(http_req *req)
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

void oauth_authorize_login_post(http_req *req)
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
    oauth_az *z = ud;
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
    oauth_az *z = ud;
    (void)msg;
    if (err != STORE_OK) {
        page_error(z->req, 503, "The service is busy. Please try again.");
        return;
    }
    store_authreq_row r;
    if (!store_authreq_row_read(res, http_req_arena(z->req), &r)) {
        page_error(z->req, 400, "This authorization request was already used or has expired.");
        return;
    }
    z->params = json_loads(r.params, 0, NULL);
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

void oauth_authorize_resume(http_req *req)
{
    oauth_az *z = arena_calloc(http_req_arena(req), sizeof(*z));
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
    oauth_az *z = ud;
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

void oauth_authorize_decision(http_req *req)
{
    oauth_az *z = arena_calloc(http_req_arena(req), sizeof(*z));
    z->req = req;
    if (oauth_read_form(req, &z->f) != 0)
        return;
    session_load(req, on_decision_session, z);
}

const char *oauth_az_new_id(http_req *req)
{
    return random_text(req, "areq_", 16);
}

void oauth_az_begin(oauth_az *z, const char *client_id, const char *params_json)
{
    if (store_authreq_create(http_req_pool(z->req), z->areq, client_id, params_json, 0,
                             REQUEST_TTL_S, on_stored, z) != 0)
        page_error(z->req, 503, "The service is busy. Please try again.");
}

/* A pushed request comes back through the browser. */
void oauth_az_pushed(http_req *req, const char *id)
{
    oauth_az *z = arena_calloc(http_req_arena(req), sizeof(*z));
    z->req = req;
    z->areq = id;
    if (store_authreq_get(http_req_pool(req), z->areq, on_pushed, z) != 0)
        page_error(req, 503, "The service is busy. Please try again.");
}
