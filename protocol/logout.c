#include "logout.h"

#include <string.h>

#include "../core/server.h"
#include "../crypto/jws.h"
#include "../store/auth.h"
#include "../store/oidc.h"
#include "../store/rows_oauth.h"
#include "form.h"
#include "keys.h"
#include "../identity/pages.h"
#include "respmode.h"
#include "../identity/session.h"
#include "../identity/web.h"

#define MAX_PARAM 4000

struct logout {
    http_req *req;
    form f;
    bool confirm; /* the person's answer, not the RP's request */
    const char *hint, *client_id, *uri, *state;
};

static const char *get(struct logout *l, const char *name)
{
    const char *v = http_req_method(l->req)[0] == 'G' ? http_req_query_get(l->req, name)
                                                      : form_get(&l->f, name);
    return v != NULL && *v != '\0' && strlen(v) <= MAX_PARAM ? v : NULL;
}

/* The aud of an id_token this server signed (under a published key, with
 * our issuer), or NULL. Expired ones count: RP-Initiated Logout §2 expects
 * the hint to be old. */
static const char *hint_client(http_req *req, const char *hint)
{
    jws_token *t = NULL;
    const char *aud = NULL;
    if (jws_parse(hint, strlen(hint), &t) != 0)
        return NULL;
    const keyring_snap *ks = keyring_current(http_req_app(req)->keys);
    const char *kid = json_string_value(json_object_get(jws_header(t), "kid"));
    const char *typ = json_string_value(json_object_get(jws_header(t), "typ"));
    const keyring_key *k = kid != NULL ? keyring_find(ks, kid) : NULL;
    const json_t *c = jws_claims(t);
    const char *iss = json_string_value(json_object_get(c, "iss"));
    /* typ JWT: our access tokens (at+jwt) and the like are not ID tokens */
    if (k != NULL && typ != NULL && strcmp(typ, "JWT") == 0 && jws_verify(t, k->key) == 0 &&
        iss != NULL && strcmp(iss, http_req_app(req)->cfg.issuer) == 0) {
        const json_t *a = json_object_get(c, "aud");
        if (json_is_array(a) && json_array_size(a) == 1)
            a = json_array_get(a, 0);
        if (json_is_string(a))
            aud = arena_strdup(http_req_arena(req), json_string_value(a));
    }
    jws_free(t);
    return aud;
}

static void finish(struct logout *l)
{
    if (l->uri == NULL) {
        page_send(l->req, 200, "Signed out", "<h1>You are signed out</h1>");
        return;
    }
    const char *kv[] = {"state", l->state, NULL};
    oauth_response_send(l->req, l->uri, "query", l->state != NULL ? kv : kv + 2);
}

static void ask(struct logout *l, const session *s)
{
    http_req *req = l->req;
    arena *a = http_req_arena(req);
    char *hidden = arena_strdup(a, "");
    const char *names[] = {"id_token_hint", "client_id", "post_logout_redirect_uri", "state"};
    const char *values[] = {l->hint, l->client_id, l->uri, l->state};
    for (int i = 0; i < 4; i++)
        if (values[i] != NULL)
            hidden = arena_printf(a, "%s<input type=hidden name=%s value=\"%s\">", hidden, names[i],
                                  page_escape(req, values[i]));
    page_send(req, 200, "Sign out",
              arena_printf(a,
                           "<h1>Sign out?</h1><p>Signed in as <b>%s</b>.</p>"
                           "<form method=post action=/oauth/logout/confirm>%s"
                           "<input type=hidden name=csrf_token value=\"%s\">"
                           "<button>Sign out</button></form>",
                           page_escape(req, s->email), hidden, page_escape(req, s->csrf)));
}

static void on_ended(void *ud, PGresult *res, int err, const char *msg)
{
    struct logout *l = ud;
    (void)res;
    (void)msg;
    if (err != STORE_OK) {
        page_error(l->req, 503, "The service is busy. Please try again.");
        return;
    }
    session_clear_cookie(l->req);
    finish(l);
}

static void on_session(http_req *req, void *ud, const session *s, bool expired)
{
    struct logout *l = ud;
    (void)expired;
    if (s == NULL) {
        finish(l); /* nothing to end */
        return;
    }
    if (!l->confirm) {
        ask(l, s);
        return;
    }
    if (!session_csrf_ok(s, form_get(&l->f, "csrf_token"))) {
        page_error(req, 403, "This form is not valid any more (CSRF check failed).");
        return;
    }
    if (store_session_end(http_req_pool(req), session_cookie_hash(req), on_ended, l) != 0)
        page_error(req, 503, "The service is busy. Please try again.");
}

static void on_client(void *ud, PGresult *res, int err, const char *msg)
{
    struct logout *l = ud;
    (void)msg;
    if (err != STORE_OK) {
        page_error(l->req, 503, "The service is busy. Please try again.");
        return;
    }
    store_client_oidc_row c;
    json_t *uris = store_client_oidc_row_read(res, http_req_arena(l->req), &c)
                       ? json_loads(c.post_logout_redirect_uris, 0, NULL)
                       : NULL;
    bool listed = false;
    size_t i;
    json_t *u;
    json_array_foreach (uris, i, u)
        listed |= json_is_string(u) && strcmp(json_string_value(u), l->uri) == 0;
    json_decref(uris);
    if (!listed) {
        page_error(l->req, 400, "The post_logout_redirect_uri is not registered for this client.");
        return;
    }
    session_load(l->req, on_session, l);
}

static void start(http_req *req, bool confirm)
{
    struct logout *l = arena_calloc(http_req_arena(req), sizeof(*l));
    l->req = req;
    l->confirm = confirm;
    if (http_req_method(req)[0] == 'P' && oauth_read_form(req, &l->f) != 0)
        return;
    l->hint = get(l, "id_token_hint");
    l->client_id = get(l, "client_id");
    l->uri = get(l, "post_logout_redirect_uri");
    l->state = get(l, "state");
    if (l->hint != NULL) {
        const char *aud = hint_client(req, l->hint);
        if (aud == NULL) {
            page_error(req, 400, "The id_token_hint is not an ID token this server issued.");
            return;
        }
        if (l->client_id != NULL && strcmp(l->client_id, aud) != 0) {
            page_error(req, 400, "The id_token_hint was issued to another client.");
            return;
        }
        l->client_id = aud;
    }
    if (l->uri == NULL) {
        session_load(req, on_session, l);
        return;
    }
    if (l->client_id == NULL) {
        page_error(req, 400, "post_logout_redirect_uri needs client_id or id_token_hint.");
        return;
    }
    if (store_client_oidc(http_req_pool(req), l->client_id, on_client, l) != 0)
        page_error(req, 503, "The service is busy. Please try again.");
}

static void logout(http_req *req)
{
    start(req, false);
}
static void confirm(http_req *req)
{
    start(req, true);
}

static const web_route routes[] = {
    {"GET", "/oauth/logout", logout, WEB_PAGE},
    {"POST", "/oauth/logout", logout, WEB_PAGE | WEB_ANY_ORIGIN},
    {"POST", "/oauth/logout/confirm", confirm, WEB_PAGE},
};

int oauth_logout_routes(router *r)
{
    return web_routes_add(r, routes, sizeof(routes) / sizeof(routes[0]));
}
