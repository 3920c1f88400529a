#include "register_meta.h"
#include "redirect_uri.h"

#include <stdlib.h>
#include <string.h>

#include "../core/fatal.h"
#include "../crypto/jwk.h"
#include "audience.h"
#include "scope.h"

#define MAX_LIST 50  /* entries in any metadata array, scopes included */
#define MAX_NAME 200 /* characters of client_name */
#define MAX_JWKS 20  /* keys in jwks */

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

static int fail(oauth_client_meta *m, const char *error, const char *desc)
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
static int string_array(oauth_client_meta *m, arena *a, const json_t *v, const char *field)
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

static int only_from(oauth_client_meta *m, arena *a, const json_t *v, const char *field,
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

static int check_jwks(oauth_client_meta *m, arena *a, const json_t *jwks)
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
static int parse_grants(oauth_client_meta *m, arena *a, const json_t *body)
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
static int parse_auth(oauth_client_meta *m, arena *a, const json_t *body)
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

static int parse_redirect_uris(oauth_client_meta *m, arena *a, const json_t *body)
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

static int parse_scope(oauth_client_meta *m, arena *a, const json_t *body)
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

static int parse_resources(oauth_client_meta *m, arena *a, const json_t *body)
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
static int parse_oidc(oauth_client_meta *m, arena *a, const json_t *body, const char *signing_alg)
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

static int parse_name(oauth_client_meta *m, arena *a, const json_t *body)
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
int oauth_register_parse(arena *a, const json_t *body, const char *signing_alg,
                         oauth_client_meta *m)
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

oauth_reg_bounds oauth_register_open_bounds(const config *cfg)
{
    return (oauth_reg_bounds){"open", false, cfg->dcr_scopes, OPEN_GRANTS, ""};
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
int oauth_register_within(oauth_client_meta *m, arena *a, const oauth_reg_bounds *b)
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
