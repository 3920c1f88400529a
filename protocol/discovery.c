/* Discovery (RFC 8414, OpenID Connect Discovery 1.0) and the JWKS (see
 * discovery.h). */
#include "discovery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "issuer.h"
#include "keys.h"
#include "prompt.h"
#include "respmode.h"

static void jwks(http_req *req)
{
    const keyring_snap *s = keyring_current(http_req_app(req)->keys);
    http_header(req, "Cache-Control", "public, max-age=300");
    http_respond(req, 200, "application/jwk-set+json", s->jwks, s->jwks_len);
}

static json_t *strings(const char *const *v)
{
    json_t *a = json_array();
    for (; *v != NULL; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

/* RFC 8414 and OpenID Connect Discovery 1.0 in one document, served at both
 * well-known paths. Lists only what the server does: each member is checked
 * by test_conformance_discovery.py (authlib's validators) and openid-client. */
static void metadata(http_req *req)
{
    app *a = http_req_app(req);
    static const struct {
        const char *member, *path;
    } endpoints[] = {
        {"token_endpoint", "/oauth/token"},
        {"jwks_uri", "/.well-known/jwks.json"},
        {"registration_endpoint", "/oauth/register"},
        {"introspection_endpoint", "/oauth/introspect"},
        {"revocation_endpoint", "/oauth/revoke"},
        {"authorization_endpoint", "/oauth/authorize"},
        {"userinfo_endpoint", "/oauth/userinfo"},
        {"pushed_authorization_request_endpoint", "/oauth/par"},
        {"device_authorization_endpoint", "/oauth/device_authorization"},
        {"end_session_endpoint", "/oauth/logout"},
    };
    static const char *const grants[] = {"authorization_code",
                                         "refresh_token",
                                         "client_credentials",
                                         "urn:ietf:params:oauth:grant-type:token-exchange",
                                         "urn:ietf:params:oauth:grant-type:device_code",
                                         NULL};
    static const char *const auth_methods[] = {"client_secret_basic", "client_secret_post",
                                               "private_key_jwt", "none", NULL};
    /* introspection needs an authenticated caller: no "none" */
    static const char *const confidential[] = {"client_secret_basic", "client_secret_post",
                                               "private_key_jwt", NULL};
    static const char *const algs[] = {"ES256", "EdDSA", "Ed25519", "RS256", "PS256", NULL};
    static const char *const scopes[] = {"openid",         "profile",    "email",
                                         "offline_access", "vault:read", NULL};
    static const char *const claims[] = {"iss",
                                         "sub",
                                         "aud",
                                         "exp",
                                         "iat",
                                         "auth_time",
                                         "nonce",
                                         "at_hash",
                                         "amr",
                                         "email",
                                         "email_verified",
                                         "name",
                                         NULL};
    static const char *const token_types[] = {"urn:ietf:params:oauth:token-type:access_token",
                                              "urn:ietf:params:oauth:token-type:jwt", NULL};
    json_t *m = json_object();
    json_object_set_new(m, "issuer", json_string(a->cfg.issuer));
    char u[600];
    for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
        oauth_url(a, endpoints[i].path, u, sizeof(u));
        json_object_set_new(m, endpoints[i].member, json_string(u));
    }
    json_object_set_new(m, "scopes_supported", strings(scopes));
    json_object_set_new(m, "response_types_supported", json_pack("[s]", "code"));
    json_object_set_new(m, "response_modes_supported", strings(oauth_response_modes));
    json_object_set_new(m, "grant_types_supported", strings(grants));
    json_object_set_new(m, "code_challenge_methods_supported", json_pack("[s]", "S256"));
    json_object_set_new(m, "token_endpoint_auth_methods_supported", strings(auth_methods));
    json_object_set_new(m, "token_endpoint_auth_signing_alg_values_supported", strings(algs));
    json_object_set_new(m, "introspection_endpoint_auth_methods_supported", strings(confidential));
    json_object_set_new(m, "introspection_endpoint_auth_signing_alg_values_supported",
                        strings(algs));
    json_object_set_new(m, "revocation_endpoint_auth_methods_supported", strings(auth_methods));
    json_object_set_new(m, "revocation_endpoint_auth_signing_alg_values_supported", strings(algs));
    json_object_set_new(m, "dpop_signing_alg_values_supported", strings(algs));
    json_object_set_new(m, "dpop_nonce_required",
                        json_boolean(strcmp(a->cfg.dpop_nonce, "on") == 0));
    /* RFC 9701: introspection answers as a signed JWT when asked to */
    json_object_set_new(m, "introspection_signing_alg_values_supported",
                        json_pack("[s]", a->cfg.signing_alg));
    /* id_tokens: RS256 (OpenID's default) or the access-token key's alg */
    json_t *id_algs = json_pack("[s]", "RS256");
    if (strcmp(a->cfg.signing_alg, "RS256") != 0)
        json_array_append_new(id_algs, json_string(a->cfg.signing_alg));
    json_object_set_new(m, "id_token_signing_alg_values_supported", id_algs);
    json_object_set_new(m, "access_token_signing_alg_values_supported",
                        json_pack("[s]", a->cfg.signing_alg));
    json_object_set_new(m, "subject_types_supported", json_pack("[s]", "public"));
    json_object_set_new(m, "claims_supported", strings(claims));
    json_object_set_new(m, "claims_parameter_supported", json_false());
    json_object_set_new(m, "prompt_values_supported", strings(oauth_prompt_values));
    /* JAR (RFC 9101): request objects by value, signed with the client's
     * keys (any alg of algs). request_object_signing_alg_values_supported is
     * left out: validators (authlib) insist it lists "none", never taken. */
    json_object_set_new(m, "request_parameter_supported", json_true());
    /* request_uri: only the ones PAR issues, which need no registration */
    json_object_set_new(m, "request_uri_parameter_supported", json_true());
    json_object_set_new(m, "require_request_uri_registration", json_true());
    json_object_set_new(m, "require_pushed_authorization_requests", json_false());
    json_object_set_new(m, "authorization_response_iss_parameter_supported", json_true());
    json_object_set_new(m, "tls_client_certificate_bound_access_tokens", json_false());
    json_object_set_new(m, "client_id_metadata_document_supported", json_true());
    json_object_set_new(m, "token_types_supported", strings(token_types));
    json_object_set_new(m, "frontchannel_logout_supported", json_false());
    json_object_set_new(m, "backchannel_logout_supported", json_false());
    http_header(req, "Cache-Control", "public, max-age=300");
    http_respond_json(req, 200, m);
}

int oauth_discovery_routes(router *r)
{
    if (router_add(r, "GET", "/.well-known/oauth-authorization-server", metadata, NULL) != 0 ||
        router_add(r, "GET", "/.well-known/openid-configuration", metadata, NULL) != 0)
        return -1;
    return router_add(r, "GET", "/.well-known/jwks.json", jwks, NULL);
}
