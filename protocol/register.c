#include "register.h"
#include "redirect_uri.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/fatal.h"
#include "../core/http.h"
#include "../core/server.h"
#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../crypto/jwk.h"
#include "../store/clients.h"
#include "../store/dcr.h"
#include "../store/system.h"
#include "audience.h"
#include "client.h"
#include "errors.h"

#define MAX_LIST 50        /* entries in any metadata array, scopes included */
#define MAX_NAME 200       /* characters of client_name */
#define MAX_JWKS 20        /* keys in jwks */
#define MAX_CLIENT_ID 128  /* longer than any id issued */
#define MAX_CREDENTIAL 200 /* bytes of a registration credential */

static const char *const grant_types[] = {
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:ietf:params:oauth:grant-type:device_code",
    NULL,
};
static const char *const auth_methods[] = {"client_secret_basic", "client_secret_post",
                                           "private_key_jwt", "none", NULL};
/* Members this module interprets; anything else is kept as given. */
static const char *const known[] = {
    "redirect_uris", "grant_types", "response_types", "token_endpoint_auth_method",
    "scope",         "client_name", "jwks",           "jwks_uri",
    "resources",     NULL};
/* Members the server assigns: never taken from a request. `created_by`
 * names the user a client's tokens are issued for (protocol/token.c). */
static const char *const server_owned[] = {"client_id",
                                           "client_secret",
                                           "client_id_issued_at",
                                           "client_secret_expires_at",
                                           "registration_access_token",
                                           "registration_client_uri",
                                           "created_by",
                                           NULL};

/* Grants anonymous registration may ask for: the interactive ones, where a
 * user decides what the client gets. */
#define OPEN_GRANTS "authorization_code refresh_token urn:ietf:params:oauth:grant-type:device_code"
/* What an interactive client registered without scope may ask for. */
#define DEFAULT_SCOPES "openid profile email offline_access"

/* Who vouches for a registration, and so what it may register: anonymous
 * (or the static --dcr-token) is held to the interactive grants and
 * --dcr-scopes, an initial access token to what the operator allowed for
 * it, and the admin key only to validation. */
typedef struct bounds {
    const char *via; /* registered_by: open | admin | the initial access token's id */
    bool any;        /* the admin key */
    const char *scopes, *grants, *resources; /* space-separated, unless any */
} bounds;

/* Validated metadata as the store takes it (request arena strings), or the
 * error to answer with. */
typedef struct client_meta {
    store_client_reg row;
    bool needs_secret, authz_code, client_credentials;
    const char *error, *desc;
} client_meta;

/* One registration request across its database steps. */
typedef struct reg {
    const char *client_id;
    const char *token, *secret; /* plaintext, shown in this response only */
    char token_hash[65], secret_hash[65];
    char credential_hash[65]; /* of the admin key or initial access token presented */
    bool with_iat;
} reg;

static bool one_of(const char *s, const char *const *set)
{
    for (; *set != NULL; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

bool oauth_register_grant_supported(const char *grant)
{
    return one_of(grant, grant_types);
}

static bool lists(const json_t *arr, const char *s)
{
    size_t i;
    const json_t *v;
    json_array_foreach (arr, i, v)
        if (strcmp(json_string_value(v), s) == 0)
            return true;
    return false;
}

static int fail(client_meta *m, const char *error, const char *desc)
{
    m->error = error;
    m->desc = desc;
    return -1;
}

/* JSON text in the arena; like arena memory, running out is fatal. */
static char *dump(arena *a, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (s == NULL)
        shark_fatal("out of memory");
    char *copy = arena_strdup(a, s);
    free(s);
    return copy;
}

const char *oauth_register_grants_json(arena *a)
{
    json_t *j = json_array();
    for (const char *const *g = grant_types; *g != NULL; g++)
        json_array_append_new(j, json_string(*g));
    char *text = dump(a, j);
    json_decref(j);
    return text;
}

/* An array of at most MAX_LIST distinct strings. */
static int string_array(client_meta *m, arena *a, const json_t *v, const char *field)
{
    if (!json_is_array(v))
        return fail(m, "invalid_client_metadata",
                    arena_printf(a, "%s must be an array of strings", field));
    if (json_array_size(v) > MAX_LIST)
        return fail(m, "invalid_client_metadata",
                    arena_printf(a, "%s may hold at most %d values", field, MAX_LIST));
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return fail(m, "invalid_client_metadata",
                        arena_printf(a, "%s[%zu] must be a string", field, i));
        for (size_t k = 0; k < i; k++)
            if (json_equal(e, json_array_get(v, k)))
                return fail(m, "invalid_client_metadata",
                            arena_printf(a, "%s[%zu] repeats an earlier value", field, i));
    }
    return 0;
}

static int only_from(client_meta *m, arena *a, const json_t *v, const char *field,
                     const char *const *set)
{
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *s = json_string_value(json_array_get(v, i));
        if (!one_of(s, set))
            return fail(m, "invalid_client_metadata",
                        arena_printf(a, "%s[%zu]: '%.80s' is not supported", field, i, s));
    }
    return 0;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static int check_jwks(client_meta *m, arena *a, const json_t *jwks)
{
    const json_t *keys = json_object_get(jwks, "keys");
    if (!json_is_object(jwks) || !json_is_array(keys) || json_array_size(keys) == 0)
        return fail(m, "invalid_client_metadata",
                    "jwks must be an object with a non-empty keys array");
    if (json_array_size(keys) > MAX_JWKS)
        return fail(m, "invalid_client_metadata",
                    arena_printf(a, "jwks may hold at most %d keys", MAX_JWKS));
    for (size_t i = 0; i < json_array_size(keys); i++) {
        jwk_key *k;
        int rc = jwk_from_json(json_array_get(keys, i), &k);
        if (rc == 0) {
            jwk_free(k);
            continue;
        }
        return fail(m, "invalid_client_metadata",
                    arena_printf(a, "jwks.keys[%zu] %s", i,
                                 rc == JWK_ERR_PRIVATE     ? "contains private key members"
                                 : rc == JWK_ERR_SYMMETRIC ? "is a symmetric key"
                                                           : "is not a supported public key"));
    }
    return 0;
}

/* A member, with JSON null counting as absent. */
static const json_t *member(const json_t *body, const char *name)
{
    const json_t *v = json_object_get(body, name);
    return json_is_null(v) ? NULL : v;
}

/* grant_types and response_types, which must agree (RFC 7591 §2.1). */
static int parse_grants(client_meta *m, arena *a, const json_t *body)
{
    static const char *const response_types[] = {"code", NULL};
    const json_t *grants = member(body, "grant_types");
    const json_t *responses = member(body, "response_types");
    m->row.grant_types = "[\"authorization_code\"]";
    if (grants != NULL) {
        if (string_array(m, a, grants, "grant_types") != 0 ||
            only_from(m, a, grants, "grant_types", grant_types) != 0)
            return -1;
        if (json_array_size(grants) == 0)
            return fail(m, "invalid_client_metadata", "grant_types must not be empty");
        m->row.grant_types = dump(a, grants);
    }
    m->authz_code = grants == NULL || lists(grants, "authorization_code");
    m->client_credentials = grants != NULL && lists(grants, "client_credentials");
    m->row.response_types = m->authz_code ? "[\"code\"]" : "[]";
    if (responses != NULL) {
        if (string_array(m, a, responses, "response_types") != 0 ||
            only_from(m, a, responses, "response_types", response_types) != 0)
            return -1;
        if (m->authz_code != lists(responses, "code"))
            return fail(m, "invalid_client_metadata",
                        "response_types must include code exactly when grant_types includes "
                        "authorization_code");
        m->row.response_types = dump(a, responses);
    }
    return 0;
}

/* token_endpoint_auth_method and the keys private_key_jwt needs. */
static int parse_auth(client_meta *m, arena *a, const json_t *body)
{
    const json_t *method = member(body, "token_endpoint_auth_method");
    const json_t *jwks = member(body, "jwks");
    if (member(body, "jwks_uri") != NULL)
        return fail(m, "invalid_client_metadata", "jwks_uri is not supported; send jwks");
    m->row.auth_method = "client_secret_basic";
    if (method != NULL) {
        if (!json_is_string(method) || !one_of(json_string_value(method), auth_methods))
            return fail(m, "invalid_client_metadata",
                        "token_endpoint_auth_method must be client_secret_basic, "
                        "client_secret_post, private_key_jwt or none");
        m->row.auth_method = arena_strdup(a, json_string_value(method));
    }
    m->needs_secret = strncmp(m->row.auth_method, "client_secret_", 14) == 0;
    if (jwks != NULL && check_jwks(m, a, jwks) != 0)
        return -1;
    if (strcmp(m->row.auth_method, "private_key_jwt") == 0 && jwks == NULL)
        return fail(m, "invalid_client_metadata", "private_key_jwt requires jwks");
    if (strcmp(m->row.auth_method, "none") == 0 && m->client_credentials)
        return fail(m, "invalid_client_metadata",
                    "a public client (token_endpoint_auth_method none) may not use "
                    "client_credentials");
    m->row.jwks = jwks != NULL ? dump(a, jwks) : NULL;
    return 0;
}

static int parse_redirect_uris(client_meta *m, arena *a, const json_t *body)
{
    const json_t *uris = member(body, "redirect_uris");
    if (uris != NULL && string_array(m, a, uris, "redirect_uris") != 0)
        return -1;
    for (size_t i = 0; i < json_array_size(uris); i++) {
        const char *why = oauth_redirect_uri_problem(json_string_value(json_array_get(uris, i)));
        if (why != NULL)
            return fail(m, "invalid_redirect_uri",
                        arena_printf(a, "redirect_uris[%zu] %s", i, why));
    }
    if (m->authz_code && json_array_size(uris) == 0)
        return fail(m, "invalid_redirect_uri", "redirect_uris is required for authorization_code");
    m->row.redirect_uris = uris != NULL ? dump(a, uris) : "[]";
    return 0;
}

static int parse_scope(client_meta *m, arena *a, const json_t *body)
{
    const json_t *scope = member(body, "scope");
    if (scope != NULL && !json_is_string(scope))
        return fail(m, "invalid_client_metadata", "scope must be a string");
    const char *s = scope != NULL ? json_string_value(scope) : "";
    if (*s != '\0' && !oauth_scope_valid(s))
        return fail(m, "invalid_client_metadata",
                    "scope must be scope tokens (visible ASCII except \" and \\) separated "
                    "by single spaces");
    size_t n = *s != '\0';
    for (const char *p = s; *p; p++)
        n += *p == ' ';
    if (n > MAX_LIST)
        return fail(m, "invalid_client_metadata",
                    arena_printf(a, "scope may hold at most %d values", MAX_LIST));
    m->row.scope = arena_strdup(a, s);
    return 0;
}

static int parse_resources(client_meta *m, arena *a, const json_t *body)
{
    const json_t *res = member(body, "resources");
    if (res != NULL && string_array(m, a, res, "resources") != 0)
        return -1;
    for (size_t i = 0; i < json_array_size(res); i++)
        if (!oauth_resource_valid(json_string_value(json_array_get(res, i))))
            return fail(m, "invalid_client_metadata",
                        arena_printf(a,
                                     "resources[%zu] must be an absolute URI without a "
                                     "fragment, at most 1000 bytes",
                                     i));
    m->row.resources = res != NULL ? dump(a, res) : "[]";
    return 0;
}

/* OpenID Connect members kept in the metadata as given once they pass:
 * id_token_signed_response_alg names a key the server holds (RS256, or the
 * access-token key's alg), post_logout_redirect_uris are redirect URIs;
 * request_uris is refused. */
static int parse_oidc(client_meta *m, arena *a, const json_t *body, const char *signing_alg)
{
    const json_t *alg = member(body, "id_token_signed_response_alg");
    if (alg != NULL && (!json_is_string(alg) || (strcmp(json_string_value(alg), "RS256") != 0 &&
                                                 strcmp(json_string_value(alg), signing_alg) != 0)))
        return fail(
            m, "invalid_client_metadata",
            arena_printf(a, "id_token_signed_response_alg must be RS256 or %s", signing_alg));
    /* nothing is fetched: request objects come by value or through PAR */
    if (member(body, "request_uris") != NULL)
        return fail(m, "invalid_client_metadata",
                    "request_uris is not supported; push the request (PAR) instead");
    const json_t *uris = member(body, "post_logout_redirect_uris");
    if (uris != NULL && string_array(m, a, uris, "post_logout_redirect_uris") != 0)
        return -1;
    for (size_t i = 0; i < json_array_size(uris); i++) {
        const char *why = oauth_redirect_uri_problem(json_string_value(json_array_get(uris, i)));
        if (why != NULL)
            return fail(m, "invalid_client_metadata",
                        arena_printf(a, "post_logout_redirect_uris[%zu] %s", i, why));
    }
    return 0;
}

static int parse_name(client_meta *m, arena *a, const json_t *body)
{
    const json_t *name = member(body, "client_name");
    if (name != NULL && (!json_is_string(name) || utf8_chars(json_string_value(name)) > MAX_NAME))
        return fail(
            m, "invalid_client_metadata",
            arena_printf(a, "client_name must be a string of at most %d characters", MAX_NAME));
    m->row.name = name != NULL ? arena_strdup(a, json_string_value(name)) : "";
    return 0;
}

/* RFC 7591 §2: validates the metadata in body and fills m->row (everything
 * but ids, hashes and request facts); 0, or -1 with m->error/desc set.
 * Members we do not interpret are kept as given. */
static int parse_metadata(arena *a, const json_t *body, const char *signing_alg, client_meta *m)
{
    if (parse_grants(m, a, body) != 0 || parse_auth(m, a, body) != 0 ||
        parse_redirect_uris(m, a, body) != 0 || parse_scope(m, a, body) != 0 ||
        parse_resources(m, a, body) != 0 || parse_name(m, a, body) != 0 ||
        parse_oidc(m, a, body, signing_alg) != 0)
        return -1;
    json_t *extra = json_object();
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)body, key, v)
        if (!one_of(key, known) && !one_of(key, server_owned))
            json_object_set(extra, key, v);
    m->row.metadata = dump(a, extra);
    json_decref(extra);
    return 0;
}

static bounds open_bounds(const config *cfg)
{
    return (bounds){"open", false, cfg->dcr_scopes, OPEN_GRANTS, ""};
}

/* The first entry of a JSON array of strings that allowed (space-separated)
 * does not hold, or NULL. */
static const char *first_outside(arena *a, const char *list, const char *allowed)
{
    json_t *j = json_loads(list, 0, NULL);
    const char *out = NULL;
    for (size_t i = 0; out == NULL && i < json_array_size(j); i++) {
        const char *v = json_string_value(json_array_get(j, i));
        if (!oauth_scope_subset(v, allowed))
            out = arena_strdup(a, v);
    }
    json_decref(j);
    return out;
}

/* Holds validated metadata to what b allows: RFC 7591 invalid_client_metadata
 * for a grant or resource, invalid_scope for a scope. */
static int within(client_meta *m, arena *a, const bounds *b)
{
    /* No scope asked for (common for MCP clients): an interactive client
     * gets the default interactive scopes this registration may have; the
     * response says which. */
    if (*m->row.scope == '\0' && (strstr(m->row.grant_types, "\"authorization_code\"") != NULL ||
                                  strstr(m->row.grant_types, "device_code\"") != NULL))
        m->row.scope = b->any ? DEFAULT_SCOPES : oauth_scope_clip(a, DEFAULT_SCOPES, b->scopes);
    if (b->any)
        return 0;
    bool open = strcmp(b->via, "open") == 0;
    const char *who = open ? "anonymous registration" : "clients of this initial access token";
    const char *grant = first_outside(a, m->row.grant_types, b->grants);
    if (grant != NULL)
        return fail(m, "invalid_client_metadata",
                    open ? arena_printf(a,
                                        "grant type '%s' needs registration with the admin "
                                        "key or an initial access token; anonymous "
                                        "registration allows %s",
                                        grant, OPEN_GRANTS)
                         : arena_printf(a,
                                        "the initial access token does not allow grant type "
                                        "'%s'",
                                        grant));
    for (const char *p = m->row.scope; *p != '\0';) {
        size_t n = strcspn(p, " ");
        const char *one = arena_strndup(a, p, n);
        if (!oauth_scope_subset(one, b->scopes))
            return fail(m, "invalid_scope",
                        arena_printf(a, "scope '%s' is not allowed for %s%s", one, who,
                                     open ? " (see --dcr-scopes)" : ""));
        p += n + (p[n] == ' ');
    }
    const char *resource = first_outside(a, m->row.resources, b->resources);
    if (resource != NULL)
        return fail(m, "invalid_client_metadata",
                    arena_printf(a, "resource '%.200s' is not allowed for %s", resource, who));
    return 0;
}

/* The request's JSON object body, or NULL after answering 400. */
static json_t *json_body(http_req *req)
{
    const char *ct = http_req_header(req, "Content-Type");
    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
        http_error_oauth(req, 400, "invalid_request", "Content-Type must be application/json");
        return NULL;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    json_t *j = json_loadb(body != NULL ? body : "", body != NULL ? len : 0, JSON_REJECT_DUPLICATES,
                           NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        http_error_oauth(req, 400, "invalid_request", "the body must be a JSON object");
        return NULL;
    }
    return j;
}

/* The Bearer credential of a request with exactly one Authorization header. */
static const char *bearer(const http_req *req)
{
    const char *auth = http_req_header(req, "Authorization");
    if (auth == NULL || http_req_header_count(req, "Authorization") != 1 ||
        strncasecmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0')
        return NULL;
    return auth + 7;
}

static void invalid_token(http_req *req)
{
    http_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
    http_error_oauth(req, 401, "invalid_token", "missing or invalid access token");
}

static bool db_failed(http_req *req, int err)
{
    if (err == STORE_OK)
        return false;
    if (err == STORE_EINVALID)
        http_error_oauth(req, 400, "invalid_client_metadata",
                         "a metadata value was refused by the database");
    else
        http_error_oauth(req, 503, "temporarily_unavailable",
                         "database unavailable; retry shortly");
    return true;
}

/* prefix + base62 of n random bytes, in the arena. */
static char *random_id(arena *a, const char *prefix, size_t n)
{
    uint8_t raw[32];
    char text[64];
    hash_random(raw, n);
    enc_base62(raw, n, text, sizeof(text));
    return arena_printf(a, "%s%s", prefix, text);
}

/* The client information response (RFC 7591 §3.2.1, RFC 7592 §3) for the
 * first row of res; the caller adds a client_secret it just issued. */
static json_t *client_info(http_req *req, const PGresult *res, const char *token)
{
    const app *a = http_req_app(req);
    const char *id = PQgetvalue(res, 0, STORE_CLIENT_ID);
    /* Extra members first so the registered ones win over any stale copy. */
    json_t *j = json_loads(PQgetvalue(res, 0, STORE_CLIENT_METADATA), 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    json_object_set_new(j, "client_id", json_string(id));
    json_int_t issued = strtoll(PQgetvalue(res, 0, STORE_CLIENT_ISSUED_AT), NULL, 10);
    json_object_set_new(j, "client_id_issued_at", json_integer(issued));
    json_object_set_new(j, "client_secret_expires_at", json_integer(0));
    json_object_set_new(j, "registration_access_token", json_string(token));
    json_object_set_new(
        j, "registration_client_uri",
        json_string(arena_printf(http_req_arena(req), "%s/oauth/register/%s", a->cfg.issuer, id)));
    json_object_set_new(j, "token_endpoint_auth_method",
                        json_string(PQgetvalue(res, 0, STORE_CLIENT_AUTH_METHOD)));
    static const struct {
        const char *name;
        int col;
    } arrays[] = {{"grant_types", STORE_CLIENT_GRANT_TYPES},
                  {"response_types", STORE_CLIENT_RESPONSE_TYPES},
                  {"redirect_uris", STORE_CLIENT_REDIRECT_URIS}};
    for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++)
        json_object_set_new(j, arrays[i].name,
                            json_loads(PQgetvalue(res, 0, arrays[i].col), 0, NULL));
    const char *scope = PQgetvalue(res, 0, STORE_CLIENT_SCOPE);
    const char *name = PQgetvalue(res, 0, STORE_CLIENT_NAME);
    if (*scope != '\0')
        json_object_set_new(j, "scope", json_string(scope));
    if (*name != '\0')
        json_object_set_new(j, "client_name", json_string(name));
    /* OpenID Connect Registration §2: RS256 unless registered otherwise */
    if (json_object_get(j, "id_token_signed_response_alg") == NULL)
        json_object_set_new(j, "id_token_signed_response_alg", json_string("RS256"));
    if (!PQgetisnull(res, 0, STORE_CLIENT_JWKS))
        json_object_set_new(j, "jwks", json_loads(PQgetvalue(res, 0, STORE_CLIENT_JWKS), 0, NULL));
    json_t *resources = json_loads(PQgetvalue(res, 0, STORE_CLIENT_RESOURCES), 0, NULL);
    if (json_array_size(resources) > 0)
        json_object_set(j, "resources", resources);
    json_decref(resources);
    return j;
}

/* Answers with the client row in res (200/201), adding the secret when
 * this request issued one. */
static void respond_client(http_req *req, int status, const PGresult *res)
{
    const reg *g = http_req_ctx(req);
    json_t *j = client_info(req, res, g->token);
    if (g->secret != NULL)
        json_object_set_new(j, "client_secret", json_string(g->secret));
    http_respond_json(req, status, j);
}

/* ---- RFC 7591: POST /oauth/register ---- */

static void on_registered(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (db_failed(req, err))
        return;
    if (PQntuples(res) != 1) /* the initial access token was spent meanwhile */
        invalid_token(req);
    else
        respond_client(req, 201, res);
}

/* --dcr token: the initial access token, compared as digests so neither
 * its content nor its length shows in timing. */
static bool static_token_ok(const char *got, const char *expected)
{
    uint8_t a[HASH_SHA256_LEN], b[HASH_SHA256_LEN];
    hash_sha256(got, strlen(got), a);
    hash_sha256(expected, strlen(expected), b);
    return hash_ct_eq(a, sizeof(a), b, sizeof(b));
}

/* Validates the body against b and stores the client, spending the initial
 * access token in the same statement when one vouches for it. */
static void register_within(http_req *req, const bounds *b)
{
    arena *a = http_req_arena(req);
    reg *g = http_req_ctx(req);
    json_t *body = json_body(req);
    if (body == NULL)
        return;
    client_meta m = {0};
    int rc = parse_metadata(a, body, http_req_app(req)->cfg.signing_alg, &m);
    json_decref(body);
    if (rc != 0 || within(&m, a, b) != 0) {
        http_error_oauth(req, 400, m.error, m.desc);
        return;
    }
    g->client_id = random_id(a, "client_", 16);
    g->token = random_id(a, "rat_", 32);
    hash_sha256_hex(g->token, strlen(g->token), g->token_hash);
    if (m.needs_secret) {
        g->secret = random_id(a, "", 32);
        hash_sha256_hex(g->secret, strlen(g->secret), g->secret_hash);
        m.row.secret_hash = g->secret_hash;
    }
    m.row.client_id = g->client_id;
    m.row.token_hash = g->token_hash;
    m.row.request_id = http_req_id(req);
    m.row.client_ip = http_req_client_ip(req);
    m.row.registered_by = b->via;
    m.row.initial_token_hash = g->with_iat ? g->credential_hash : NULL;
    if (store_client_register(http_req_pool(req), &m.row, on_registered, req) != 0)
        db_failed(req, STORE_EUNAVAIL);
}

static void register_as_admin(http_req *req)
{
    const bounds b = {"admin", true, NULL, NULL, NULL};
    register_within(req, &b);
}

static void on_admin_key(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (db_failed(req, err))
        return;
    if (PQntuples(res) != 1)
        invalid_token(req);
    else
        register_as_admin(req);
}

/* RFC 7591 §3: the token's allowances bound the client; it is spent only
 * when the client is stored. */
static void on_initial_token(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    arena *a = http_req_arena(req);
    (void)msg;
    if (db_failed(req, err))
        return;
    if (PQntuples(res) != 1) {
        invalid_token(req);
        return;
    }
    const bounds b = {
        arena_strdup(a, PQgetvalue(res, 0, 0)), false, arena_strdup(a, PQgetvalue(res, 0, 1)),
        arena_strdup(a, PQgetvalue(res, 0, 2)), arena_strdup(a, PQgetvalue(res, 0, 3))};
    ((reg *)http_req_ctx(req))->with_iat = true;
    register_within(req, &b);
}

/* Anonymous registration per --dcr (open; token: with the static token;
 * off: none), or vouched for by the admin key or an initial access token
 * in any mode. A credential that does not check out is refused, never
 * taken as anonymous. */
static void register_client(http_req *req)
{
    const config *cfg = &http_req_app(req)->cfg;
    reg *g = arena_calloc(http_req_arena(req), sizeof(*g));
    http_req_set_ctx(req, g);
    const char *cred = bearer(req);
    if (cred == NULL && http_req_header(req, "Authorization") == NULL) {
        if (strcmp(cfg->dcr, "off") == 0) {
            http_error_oauth(req, 403, "access_denied", "dynamic registration is disabled");
        } else if (strcmp(cfg->dcr, "token") == 0) {
            invalid_token(req);
        } else {
            const bounds b = open_bounds(cfg);
            register_within(req, &b);
        }
        return;
    }
    if (cred == NULL || strlen(cred) > MAX_CREDENTIAL) {
        invalid_token(req);
        return;
    }
    if (strcmp(cfg->dcr, "token") == 0 && static_token_ok(cred, cfg->dcr_token)) {
        const bounds b = open_bounds(cfg);
        register_within(req, &b);
        return;
    }
    bool admin = strncmp(cred, "sk_live_", 8) == 0;
    if (!admin && strncmp(cred, "iat_", 4) != 0) {
        invalid_token(req);
        return;
    }
    /* Only hashes are stored; a lookup by hash reveals nothing of the
     * credential (as for the admin API, admin/guard.c). */
    hash_sha256_hex(cred, strlen(cred), g->credential_hash);
    if (admin && store_admin_key_cached(http_req_loop_ctx(req), g->credential_hash)) {
        register_as_admin(req);
        return;
    }
    store_pool *p = http_req_pool(req);
    int rc = admin ? store_admin_key_check(p, http_req_loop_ctx(req), g->credential_hash,
                                           on_admin_key, req)
                   : store_dcr_token_find(p, g->credential_hash, on_initial_token, req);
    if (rc != 0)
        db_failed(req, STORE_EUNAVAIL);
}

/* ---- RFC 7592: GET / PUT / DELETE /oauth/register/{client_id} ---- */

static void on_updated(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (db_failed(req, err))
        return;
    if (PQntuples(res) != 1) /* deleted or re-keyed since it was loaded */
        invalid_token(req);
    else
        respond_client(req, 200, res);
}

/* An update is held to what the registration was: the anonymous rules as
 * configured now, the initial access token's allowances, or none. */
static bounds stored_bounds(http_req *req, const PGresult *cur)
{
    const char *via = PQgetvalue(cur, 0, STORE_CLIENT_REGISTERED_BY);
    if (PQgetisnull(cur, 0, STORE_CLIENT_REGISTERED_BY) || strcmp(via, "open") == 0)
        return open_bounds(&http_req_app(req)->cfg);
    if (strcmp(via, "admin") == 0)
        return (bounds){via, true, NULL, NULL, NULL};
    return (bounds){via, false, PQgetvalue(cur, 0, STORE_CLIENT_BOUND_SCOPES),
                    PQgetvalue(cur, 0, STORE_CLIENT_BOUND_GRANTS),
                    PQgetvalue(cur, 0, STORE_CLIENT_BOUND_RESOURCES)};
}

/* RFC 7592 §2.2: the body replaces every registered value. The secret
 * stays while the method keeps using one; a client moving to a secret
 * method gets a new one. */
static void update_client(http_req *req, reg *g, const PGresult *cur)
{
    arena *a = http_req_arena(req);
    json_t *body = json_body(req);
    if (body == NULL)
        return;
    const char *stored = PQgetisnull(cur, 0, STORE_CLIENT_SECRET_HASH)
                             ? NULL
                             : arena_strdup(a, PQgetvalue(cur, 0, STORE_CLIENT_SECRET_HASH));
    const char *id = json_string_value(json_object_get(body, "client_id"));
    const json_t *secret = json_object_get(body, "client_secret");
    client_meta m = {0};
    if (id == NULL || strcmp(id, g->client_id) != 0) {
        fail(&m, "invalid_request", "client_id must be present and match the client URI");
    } else if (secret != NULL) {
        char h[65];
        const char *s = json_string_value(secret);
        if (s != NULL)
            hash_sha256_hex(s, strlen(s), h);
        if (s == NULL || stored == NULL || !hash_ct_eq(h, 64, stored, strlen(stored)))
            fail(&m, "invalid_request", "client_secret does not match the current secret");
    }
    if (m.error == NULL && parse_metadata(a, body, http_req_app(req)->cfg.signing_alg, &m) == 0) {
        const bounds b = stored_bounds(req, cur);
        within(&m, a, &b);
    }
    json_decref(body);
    if (m.error != NULL) {
        http_error_oauth(req, 400, m.error, m.desc);
        return;
    }
    if (m.needs_secret && stored != NULL) {
        m.row.secret_hash = stored;
    } else if (m.needs_secret) {
        g->secret = random_id(a, "", 32);
        hash_sha256_hex(g->secret, strlen(g->secret), g->secret_hash);
        m.row.secret_hash = g->secret_hash;
    }
    m.row.client_id = g->client_id;
    m.row.token_hash = g->token_hash;
    m.row.request_id = http_req_id(req);
    m.row.client_ip = http_req_client_ip(req);
    if (store_client_update(http_req_pool(req), &m.row, on_updated, req) != 0)
        db_failed(req, STORE_EUNAVAIL);
}

static void on_deleted(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (db_failed(req, err))
        return;
    if (strcmp(PQgetvalue(res, 0, 0), "1") != 0)
        invalid_token(req);
    else
        http_respond(req, 204, NULL, NULL, 0);
}

/* Unknown client, agent client, disabled client and wrong token all get
 * the same answer, so the endpoint does not reveal which clients exist. */
static void on_loaded(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    reg *g = http_req_ctx(req);
    (void)msg;
    if (db_failed(req, err))
        return;
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, STORE_CLIENT_KIND), "dcr") != 0 ||
        strcmp(PQgetvalue(res, 0, STORE_CLIENT_STATUS), "active") != 0 ||
        !hash_ct_eq(g->token_hash, 64, PQgetvalue(res, 0, STORE_CLIENT_TOKEN_HASH),
                    (size_t)PQgetlength(res, 0, STORE_CLIENT_TOKEN_HASH))) {
        invalid_token(req);
        return;
    }
    const char *method = http_req_method(req);
    if (strcmp(method, "GET") == 0)
        respond_client(req, 200, res);
    else if (strcmp(method, "PUT") == 0)
        update_client(req, g, res);
    else if (store_client_disable(http_req_pool(req), g->client_id, g->token_hash, http_req_id(req),
                                  http_req_client_ip(req), on_deleted, req) != 0)
        db_failed(req, STORE_EUNAVAIL);
}

static void manage_client(http_req *req)
{
    const char *id = http_req_param(req, "client_id");
    const char *token = bearer(req);
    if (id == NULL || token == NULL || strlen(id) > MAX_CLIENT_ID) {
        invalid_token(req);
        return;
    }
    reg *g = arena_calloc(http_req_arena(req), sizeof(*g));
    g->client_id = id;
    g->token = token;
    hash_sha256_hex(token, strlen(token), g->token_hash);
    http_req_set_ctx(req, g);
    if (store_client_registration(http_req_pool(req), id, on_loaded, req) != 0)
        db_failed(req, STORE_EUNAVAIL);
}

int oauth_register_routes(router *r)
{
    static const char *const manage_methods[] = {"GET", "PUT", "DELETE"};
    if (router_add(r, "POST", "/oauth/register", register_client, NULL) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(manage_methods) / sizeof(manage_methods[0]); i++)
        if (router_add(r, manage_methods[i], "/oauth/register/{client_id}", manage_client, NULL) !=
            0)
            return -1;
    return 0;
}
