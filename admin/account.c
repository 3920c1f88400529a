/* /api/v1/auth/: people sign up, sign in and out, see themselves and their
 * sessions. Cookie-authenticated; state changes need the session's CSRF
 * token in X-CSRF-Token. */
#include <string.h>

#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../crypto/password.h"
#include "../identity/login.h"
#include "../identity/web.h"
#include "../store/auth.h"
#include "../store/rows_admin.h"
#include "account.h"
#include "admin.h"

struct acct {
    http_req *req;
    const char *email, *name, *password, *id;
};

static bool email_ok(const char *e)
{
    const char *at = strchr(e, '@');
    return at != NULL && at != e && strchr(at + 1, '.') != NULL && strlen(e) <= 254 &&
           strchr(e, ' ') == NULL && strchr(at + 1, '@') == NULL;
}

static void on_signed_up_session(http_req *req, void *ud, const session *s, bool expired)
{
    struct acct *a = ud;
    (void)expired;
    if (s == NULL) {
        admin_db_error(req, STORE_EUNAVAIL);
        return;
    }
    json_t *body = json_pack("{s:{s:s,s:s,s:s,s:b},s:s}", "user", "id", a->id, "email", a->email,
                             "name", a->name ? a->name : "", "email_verified", 0, "csrf_token",
                             s->csrf);
    http_respond_json(req, 201, body);
}

static void on_signed_up(void *ud, PGresult *res, int err, const char *msg)
{
    struct acct *a = ud;
    (void)res;
    (void)msg;
    if (err == STORE_ECONFLICT) {
        http_error(a->req, 409, "conflict", "an account with this email exists");
        return;
    }
    if (admin_db_error(a->req, err))
        return;
    session_start(a->req, a->id, on_signed_up_session, a);
}

static void on_hashed(http_req *req, void *ud, const char *hash)
{
    struct acct *a = ud;
    if (hash == NULL) {
        http_error(req, 500, "internal_error", "could not hash the password");
        return;
    }
    uint8_t raw[16];
    char text[32];
    hash_random(raw, sizeof(raw));
    enc_base62(raw, sizeof(raw), text, sizeof(text));
    a->id = arena_printf(http_req_arena(req), "usr_%s", text);
    store_actor who = {http_req_id(req), http_req_client_ip(req)};
    if (store_auth_signup(http_req_pool(req), a->id, a->email, a->name,
                          arena_strdup(http_req_arena(req), hash), &who, on_signed_up, a) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void signup(http_req *req)
{
    json_t *b = admin_body(req);
    if (b == NULL)
        return;
    struct acct *a = arena_calloc(http_req_arena(req), sizeof(*a));
    a->req = req;
    bool bad = false;
    a->email = admin_string(req, b, "email", 254, &bad);
    a->password = admin_string(req, b, "password", 1024, &bad);
    a->name = admin_string(req, b, "name", 200, &bad);
    if (bad)
        return;
    if (a->email == NULL || !email_ok(a->email) || a->password == NULL) {
        http_error(req, 400, "invalid_request", "a valid email and a password are required");
        return;
    }
    const char *weak = password_weakness(a->password);
    if (weak != NULL) {
        http_error(req, 400, "weak_password", weak);
        return;
    }
    login_hash_password(req, a->password, on_hashed, a);
}

static void on_login(http_req *req, void *ud, const session *s, const char *error)
{
    (void)ud;
    if (s == NULL) {
        if (strcmp(error, "account_locked") == 0)
            http_error(req, 423, "account_locked",
                       "too many failed sign-ins: the account is locked for a while");
        else if (strcmp(error, "unavailable") == 0)
            admin_db_error(req, STORE_EUNAVAIL);
        else
            http_error(req, 401, "invalid_credentials", "wrong email or password");
        return;
    }
    http_respond_json(req, 200,
                      json_pack("{s:{s:s},s:{s:s},s:s}", "user", "id", s->user_id, "session", "id",
                                s->public_id, "csrf_token", s->csrf));
}

static void login(http_req *req)
{
    json_t *b = admin_body(req);
    if (b == NULL)
        return;
    bool bad = false;
    const char *email = admin_string(req, b, "email", 254, &bad);
    const char *password = bad ? NULL : admin_string(req, b, "password", 1024, &bad);
    if (bad)
        return;
    if (email == NULL || password == NULL) {
        http_error(req, 400, "invalid_request", "email and password are required");
        return;
    }
    login_password(req, email, password, on_login, NULL);
}

/* Runs next with the caller's live session; answers 401 otherwise. When
 * csrf is set the request must carry the session's X-CSRF-Token. */
typedef void (*with_session_fn)(http_req *req, const session *s);
struct ws {
    with_session_fn next;
    bool csrf;
};

static void on_session(http_req *req, void *ud, const session *s, bool expired)
{
    struct ws *w = ud;
    if (s == NULL) {
        if (expired) {
            session_clear_cookie(req);
            http_error(req, 401, "session_expired", "the session has expired; sign in again");
        } else {
            http_error(req, 401, "unauthorized", "sign in first");
        }
        return;
    }
    if (w->csrf && !session_csrf_ok(s, http_req_header(req, "X-CSRF-Token"))) {
        http_error(req, 403, "forbidden", "missing or wrong X-CSRF-Token");
        return;
    }
    w->next(req, s);
}

static void with_session(http_req *req, with_session_fn next, bool csrf)
{
    struct ws *w = arena_calloc(http_req_arena(req), sizeof(*w));
    w->next = next;
    w->csrf = csrf;
    session_load(req, on_session, w);
}

static void me_next(http_req *req, const session *s)
{
    http_respond_json(req, 200,
                      json_pack("{s:s,s:s,s:s,s:b,s:s,s:s}", "id", s->user_id, "email", s->email,
                                "name", s->name, "email_verified", s->email_verified, "session_id",
                                s->public_id, "csrf_token", s->csrf));
}

static void me(http_req *req)
{
    with_session(req, me_next, false);
}

static void on_ended(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    if (store_count_read(res) == 0) {
        http_error(req, 404, "not_found", "no such session");
        return;
    }
    http_respond(req, 204, NULL, NULL, 0);
}

static void logout_next(http_req *req, const session *s)
{
    (void)s;
    session_clear_cookie(req);
    if (store_session_end(http_req_pool(req), session_cookie_hash(req), on_ended, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void logout(http_req *req)
{
    with_session(req, logout_next, true);
}

static void sessions_next(http_req *req, const session *s)
{
    admin_listing *p = admin_listing_new(req);
    if (p != NULL &&
        store_session_list(http_req_pool(req), s->user_id, &p->q, admin_on_listing, p) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void sessions(http_req *req)
{
    with_session(req, sessions_next, false);
}

static void end_session_next(http_req *req, const session *s)
{
    const char *id = http_req_param(req, "id");
    if (id == NULL ||
        store_session_end_public(http_req_pool(req), s->user_id, id, on_ended, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static void end_session(http_req *req)
{
    with_session(req, end_session_next, true);
}

/* Cookie routes: behind the web guard (Host, and Origin on changes). */
static const web_route routes[] = {
    {"POST", "/api/v1/auth/signup", signup, 0},
    {"POST", "/api/v1/auth/login", login, 0},
    {"POST", "/api/v1/auth/logout", logout, 0},
    {"GET", "/api/v1/auth/me", me, 0},
    {"GET", "/api/v1/auth/sessions", sessions, 0},
    {"DELETE", "/api/v1/auth/sessions/{id}", end_session, 0},
};

int admin_account_register(router *r)
{
    return web_routes_add(r, routes, sizeof(routes) / sizeof(routes[0]));
}
