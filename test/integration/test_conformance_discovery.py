"""Discovery (RFC 8414, OpenID Connect Discovery 1.0) and the signing keys
(issue 14, items 7-9): the documents pass authlib's validators (its https
rule met through --tls-cert), list what the server does and nothing it does
not, and the JWKS holds an ES256 and an RS256 key at once: access tokens
keep the configured key, id_tokens are RS256 (OpenID's default) unless the
client registered the access-token key's alg. id_tokens are verified with
PyJWT; authlib's own OpenID Connect client checks one too."""
import os

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata

import flows
from conftest import Shark, start_tls_shark

WELL_KNOWN = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


@pytest.fixture(scope="module")
def tls():
    s = start_tls_shark()
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def s():
    srv = Shark()
    srv.start()
    yield srv
    srv.cleanup()


def doc(tls, path):
    r = requests.get(tls.base + path, verify=tls.cert, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("path", WELL_KNOWN)
def test_authlib_validates_both_documents(tls, path):
    meta = doc(tls, path)
    assert meta["issuer"] == tls.base
    OpenIDProviderMetadata(meta).validate()
    AuthorizationServerMetadata(meta).validate()


def test_authlib_refuses_what_we_would_get_wrong(tls):
    """The validators are strict enough to notice the mistakes of issue 14."""
    meta = doc(tls, WELL_KNOWN[0])
    for broken in (dict(meta, token_endpoint_auth_signing_alg_values_supported=None),
                   dict(meta, id_token_signing_alg_values_supported=["ES256"]),
                   dict(meta, introspection_endpoint_auth_signing_alg_values_supported=None),
                   dict(meta, response_modes_supported="query")):
        broken = {k: v for k, v in broken.items() if v is not None}
        with pytest.raises(ValueError):
            OpenIDProviderMetadata(broken).validate()
            AuthorizationServerMetadata(broken).validate()


def test_documents_list_what_the_server_does(tls):
    meta = doc(tls, WELL_KNOWN[0])
    assert meta == doc(tls, WELL_KNOWN[1])
    base = tls.base
    assert meta["end_session_endpoint"] == base + "/oauth/logout"
    assert meta["response_modes_supported"] == ["query", "fragment", "form_post"]
    assert meta["prompt_values_supported"] == ["none", "login", "consent", "select_account"]
    assert "offline_access" in meta["scopes_supported"]
    for c in ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "email",
              "email_verified", "name", "amr", "at_hash"):
        assert c in meta["claims_supported"], c
    assert meta["request_uri_parameter_supported"] is True
    assert meta["require_request_uri_registration"] is True
    assert meta["request_parameter_supported"] is True
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "none" not in meta["introspection_endpoint_auth_methods_supported"]
    for ep in ("token", "introspection", "revocation"):
        methods = meta["%s_endpoint_auth_methods_supported" % ep]
        if "private_key_jwt" in methods:
            algs = meta["%s_endpoint_auth_signing_alg_values_supported" % ep]
            assert algs and "none" not in algs and "HS256" not in algs, ep
    assert meta["id_token_signing_alg_values_supported"][0] == "RS256"
    assert "ES256" in meta["id_token_signing_alg_values_supported"]
    assert meta["introspection_signing_alg_values_supported"] == ["ES256"]
    assert meta["claims_parameter_supported"] is False


def test_jwks_holds_an_es256_and_an_rs256_key(tls):
    jwks = doc(tls, "/.well-known/jwks.json")
    algs = {k["alg"] for k in jwks["keys"]}
    assert {"ES256", "RS256"} <= algs, jwks
    for k in jwks["keys"]:
        JsonWebKey.import_key(k)  # authlib reads every key
        assert not any(p in k for p in ("d", "p", "q", "dp", "dq", "qi")), k


def test_id_token_alg_follows_the_registration(s):
    person = flows.sign_up(s)
    jwks = jwt.PyJWKClient(s.url("/.well-known/jwks.json"))
    for registered, expected in ((None, "RS256"), ("RS256", "RS256"), ("ES256", "ES256")):
        extra = {} if registered is None else {"id_token_signed_response_alg": registered}
        c = flows.register_client(s, scope="openid", **extra)
        assert c.registration["id_token_signed_response_alg"] == expected
        g = flows.code_flow(s, person=person, client=c, scope="openid")
        assert jwt.get_unverified_header(g.id_token)["alg"] == expected
        key = jwks.get_signing_key_from_jwt(g.id_token)
        claims = jwt.decode(g.id_token, key.key, algorithms=[expected], audience=c.client_id,
                            issuer=flows.issuer(s))
        assert claims["amr"] == ["pwd"] and claims["sub"] == person.id
        # the access token stays on the configured key
        assert jwt.get_unverified_header(g.access_token)["alg"] == "ES256"


@pytest.mark.parametrize("alg", ["PS256", "EdDSA", "HS256", "none", 5])
def test_an_id_token_alg_the_server_cannot_sign_with_is_refused(s, alg):
    r = requests.post(s.url("/oauth/register"), headers=s.auth(), timeout=10, json={
        "redirect_uris": [flows.REDIRECT], "id_token_signed_response_alg": alg})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_client_metadata"


def test_authlib_client_runs_the_code_flow_and_validates_the_id_token(s):
    """authlib's OAuth2Session (PKCE S256) and its CodeIDToken claim checks."""
    person = flows.sign_up(s)
    c = flows.register_client(s, scope="openid email profile")
    meta = requests.get(s.url(WELL_KNOWN[0]), timeout=10).json()
    sess = OAuth2Session(c.client_id, c.client_secret, scope="openid email",
                         redirect_uri=c.redirect_uri, code_challenge_method="S256")
    verifier = flows.b64u(os.urandom(32))
    url, state = sess.create_authorization_url(meta["authorization_endpoint"], nonce="n-1",
                                               code_verifier=verifier)
    r = person.browser.get(url, allow_redirects=False, timeout=flows.TIMEOUT)
    if r.status_code == 200:
        r = flows.consent(s, person.browser, r)
    assert r.status_code == 303, r.text
    token = sess.fetch_token(meta["token_endpoint"], authorization_response=r.headers["Location"],
                             code_verifier=verifier)
    jwks = requests.get(meta["jwks_uri"], timeout=10).json()
    from authlib.jose import jwt as ajwt
    claims = ajwt.decode(token["id_token"], JsonWebKey.import_key_set(jwks),
                         claims_cls=CodeIDToken,
                         claims_options={"iss": {"value": meta["issuer"]}},
                         claims_params={"nonce": "n-1", "client_id": c.client_id,
                                        "access_token": token["access_token"]})
    claims.validate()
    assert claims["sub"] == person.id
