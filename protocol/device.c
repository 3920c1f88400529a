/* The device authorization grant (RFC 8628): POST /oauth/device_authorization
 * hands out a device code and a short user code; a signed-in person enters
 * the user code at /device, sees the client and scopes, and approves or
 * denies. Polling is answered by the token endpoint (token.c). */
#include <string.h>

#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../store/device.h"
#include "../store/rows_oauth.h"
#include "client.h"
#include "errors.h"
#include "device.h"
#include "issuer.h"
#include "../identity/pages.h"
#include "../identity/session.h"
#include "../identity/web.h"

#define DEVICE_INTERVAL_S 5
#define GRANT_DEVICE "urn:ietf:params:oauth:grant-type:device_code"

/* No vowels (no words), no look-alikes (RFC 8628 §6.1). */
static const char alphabet[] = "BCDFGHJKLMNPQRSTVWXZ";

struct dev {
    http_req *req;
    form f;
    const oauth_client *client;
    const char *scope, *device_code, *user_code;
    const session *s;
    int tries;
};

static void new_user_code(char out[9])
{
    uint8_t raw[8];
    hash_random(raw, sizeof(raw));
    /* 256 % 20 == 16: reject the top of the range so every letter is equally likely. */
    for (int i = 0; i < 8; i++) {
        while (raw[i] >= 240)
            hash_random(&raw[i], 1);
        out[i] = alphabet[raw[i] % 20];
    }
    out[8] = '\0';
}

/* "bcdf-ghjk" or "BCDFGHJK" → "BCDFGHJK"; NULL if not a possible code. */
static const char *normalize_code(http_req *req, const char *in)
{
    char out[9];
    int n = 0;
    for (const char *p = in; p != NULL && *p; p++) {
        char ch = *p >= 'a' && *p <= 'z' ? (char)(*p - 32) : *p;
        if (ch == '-' || ch == ' ')
            continue;
        if (n == 8 || strchr(alphabet, ch) == NULL || ch == '\0')
            return NULL;
        out[n++] = ch;
    }
    if (n != 8)
        return NULL;
    out[8] = '\0';
    return arena_strdup(http_req_arena(req), out);
}

/* ---- POST /oauth/device_authorization ---- */

static void issue_codes(struct dev *d);

static void on_created(void *ud, PGresult *res, int err, const char *msg)
{
    struct dev *d = ud;
    (void)res;
    (void)msg;
    if (err == STORE_ECONFLICT && ++d->tries < 5) {
        issue_codes(d);
        return;
    }
    if (err != STORE_OK) {
        http_error_oauth(d->req, 503, "temporarily_unavailable", "database unavailable");
        return;
    }
    app *a = http_req_app(d->req);
    char uri[600];
    oauth_url(a, "/device", uri, sizeof(uri));
    const char *display = arena_printf(http_req_arena(d->req), "%.4s-%.4s", d->user_code,
                                       d->user_code + 4);
    json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:i,s:i}", "device_code", d->device_code,
                             "user_code", display, "verification_uri", uri,
                             "verification_uri_complete",
                             arena_printf(http_req_arena(d->req), "%s?user_code=%s", uri, display),
                             "expires_in", a->cfg.device_code_ttl_s, "interval", DEVICE_INTERVAL_S);
    http_respond_json(d->req, 200, body);
}

static void issue_codes(struct dev *d)
{
    uint8_t raw[32];
    char text[64], hash[65], code[9];
    hash_random(raw, sizeof(raw));
    enc_base62(raw, sizeof(raw), text, sizeof(text));
    d->device_code = arena_printf(http_req_arena(d->req), "dc_%s", text);
    hash_sha256_hex(d->device_code, strlen(d->device_code), hash);
    new_user_code(code);
    d->user_code = arena_strdup(http_req_arena(d->req), code);
    if (store_device_create(http_req_pool(d->req), hash, d->user_code, d->client->client_id,
                            d->scope ? d->scope : "", DEVICE_INTERVAL_S,
                            http_req_app(d->req)->cfg.device_code_ttl_s, on_created, d) != 0)
        http_error_oauth(d->req, 503, "temporarily_unavailable", "database unavailable");
}

static void on_client(http_req *req, void *ud, const oauth_client *c)
{
    struct dev *d = ud;
    d->client = c;
    if (!oauth_client_has_grant(c, GRANT_DEVICE)) {
        http_error_oauth(req, 400, "unauthorized_client",
                         "this client may not use the device flow");
        return;
    }
    d->scope = form_get(&d->f, "scope");
    if (d->scope != NULL && (!oauth_scope_valid(d->scope) ||
                             !oauth_scope_subset(d->scope, c->scopes ? c->scopes : ""))) {
        http_error_oauth(req, 400, "invalid_scope", "scope exceeds what this client may ask for");
        return;
    }
    if (d->scope == NULL && c->scopes != NULL && *c->scopes != '\0')
        d->scope = c->scopes;
    issue_codes(d);
}

static void device_authorization(http_req *req)
{
    struct dev *d = arena_calloc(http_req_arena(req), sizeof(*d));
    d->req = req;
    if (oauth_read_form(req, &d->f) == 0)
        oauth_client_authenticate(req, &d->f, on_client, d);
}

/* ---- the /device pages ---- */

static void entry_page(http_req *req, const session *s, const char *code, const char *error)
{
    page_send(req, error ? 400 : 200, "Connect a device",
              arena_printf(http_req_arena(req),
                           "<h1>Connect a device</h1>%s<p>Signed in as <b>%s</b>. Enter the code "
                           "your device shows.</p><form method=post action=/device>"
                           "<input type=hidden name=csrf_token value=\"%s\">"
                           "<label for=code>Code</label><input id=code type=text name=user_code "
                           "value=\"%s\" autocomplete=off required placeholder=XXXX-XXXX>"
                           "<button>Continue</button></form>",
                           error ? arena_printf(http_req_arena(req), "<p class=err>%s</p>",
                                                page_escape(req, error))
                                 : "",
                           page_escape(req, s->email), page_escape(req, s->csrf),
                           page_escape(req, code)));
}

static void on_entry_session(http_req *req, void *ud, const session *s, bool expired)
{
    (void)ud;
    (void)expired;
    const char *code = http_req_query_get(req, "user_code");
    if (s == NULL) {
        const char *next = code ? arena_printf(http_req_arena(req), "/device?user_code=%s", code)
                                : "/device";
        /* next is checked again by /login; encode it for the query. */
        char *enc = arena_alloc(http_req_arena(req), strlen(next) * 3 + 1), *o = enc;
        for (const char *p = next; *p; p++) {
            if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                *p == '/' || *p == '-')
                *o++ = *p;
            else
                o += sprintf(o, "%%%02X", (unsigned char)*p);
        }
        *o = '\0';
        http_header(req, "Location", arena_printf(http_req_arena(req), "/login?next=%s", enc));
        http_respond(req, 303, "text/plain", "", 0);
        return;
    }
    entry_page(req, s, code ? code : "", NULL);
}

static void device_get(http_req *req)
{
    session_load(req, on_entry_session, NULL);
}

static void on_lookup(void *ud, PGresult *res, int err, const char *msg)
{
    struct dev *d = ud;
    (void)msg;
    if (err != STORE_OK) {
        page_error(d->req, 503, "The service is busy. Please try again.");
        return;
    }
    http_req *req = d->req;
    store_device_lookup_row r;
    bool row = store_device_lookup_row_read(res, http_req_arena(req), &r);
    if (row && r.throttled) {
        page_error(d->req, 429, "Too many wrong codes. Wait a few minutes and try again.");
        return;
    }
    if (!row || !r.found) {
        entry_page(d->req, d->s, "", "That code is not valid or has expired.");
        return;
    }
    const char *name = r.client_name, *scope = r.scope;
    page_send(req, 200, "Connect a device",
              arena_printf(http_req_arena(req),
                           "<h1>%s wants to act for you</h1><p>Code <b>%.4s-%.4s</b>, signed in "
                           "as <b>%s</b>.</p><p>Scopes: %s</p>"
                           "<form method=post action=/device/decision>"
                           "<input type=hidden name=csrf_token value=\"%s\">"
                           "<input type=hidden name=user_code value=\"%s\">"
                           "<button name=decision value=approve>Allow</button> "
                           "<button class=secondary name=decision value=deny>Deny</button></form>",
                           page_escape(req, *name ? name : r.client_id), d->user_code,
                           d->user_code + 4, page_escape(req, d->s->email),
                           *scope ? page_escape(req, scope) : "none", page_escape(req, d->s->csrf),
                           d->user_code));
}

static void on_decided(void *ud, PGresult *res, int err, const char *msg)
{
    struct dev *d = ud;
    (void)msg;
    if (err != STORE_OK) {
        page_error(d->req, 503, "The service is busy. Please try again.");
        return;
    }
    store_device_decision_row r;
    bool row = store_device_decision_row_read(res, &r);
    if (row && r.throttled) {
        page_error(d->req, 429, "Too many wrong codes. Wait a few minutes and try again.");
        return;
    }
    if (!row || r.decided != 1) {
        page_error(d->req, 400, "That code is not valid any more.");
        return;
    }
    const char *decision = form_get(&d->f, "decision");
    page_send(d->req, 200, "Done",
              strcmp(decision, "approve") == 0
                  ? "<h1>Device connected</h1><p>You can return to your device.</p>"
                  : "<h1>Request denied</h1><p>The device was not given access.</p>");
}

static void on_post_session(http_req *req, void *ud, const session *s, bool expired)
{
    struct dev *d = ud;
    (void)expired;
    if (s == NULL) {
        page_error(req, 401, "Your session has expired. Sign in and enter the code again.");
        return;
    }
    if (!session_csrf_ok(s, form_get(&d->f, "csrf_token"))) {
        page_error(req, 403, "This form is not valid any more (CSRF check failed).");
        return;
    }
    d->s = s;
    d->user_code = normalize_code(req, form_get(&d->f, "user_code"));
    const char *decision = form_get(&d->f, "decision");
    if (decision == NULL) {
        if (d->user_code == NULL) {
            entry_page(req, s, "", "That code is not valid or has expired.");
            return;
        }
        if (store_device_lookup(http_req_pool(req), d->user_code, s->user_id,
                                http_req_client_ip(req), on_lookup, d) != 0)
            page_error(req, 503, "The service is busy. Please try again.");
        return;
    }
    if (d->user_code == NULL ||
        (strcmp(decision, "approve") != 0 && strcmp(decision, "deny") != 0)) {
        page_error(req, 400, "No valid decision.");
        return;
    }
    store_actor who = {http_req_id(req), http_req_client_ip(req)};
    if (store_device_decide(http_req_pool(req), d->user_code, s->user_id,
                            strcmp(decision, "approve") == 0, s->auth_time, &who, on_decided,
                            d) != 0)
        page_error(req, 503, "The service is busy. Please try again.");
}

static void device_post(http_req *req)
{
    struct dev *d = arena_calloc(http_req_arena(req), sizeof(*d));
    d->req = req;
    if (oauth_read_form(req, &d->f) == 0)
        session_load(req, on_post_session, d);
}

/* The pages a browser sees go through the web guard (Host, Origin). */
static const web_route pages[] = {
    {"GET", "/device", device_get, WEB_PAGE},
    {"POST", "/device", device_post, WEB_PAGE},
    {"POST", "/device/decision", device_post, WEB_PAGE},
};

int oauth_device_routes(router *r)
{
    if (router_add(r, "POST", "/oauth/device_authorization", device_authorization, NULL) != 0 ||
        web_routes_add(r, pages, sizeof(pages) / sizeof(pages[0])) != 0)
        return -1;
    return 0;
}
