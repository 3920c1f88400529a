"""Token-side conformance (issue 14, items 10-13 and 15): JWT introspection
responses (RFC 9701), the DPoP server nonce on every endpoint that takes a
proof (token, PAR, userinfo: RFC 9449 §8-9), token endpoint errors in the
body only, default scopes for clients registered without scope, and
private_key_jwt assertions (RFC 7523: aud the issuer or the token endpoint,
jti single use). JWTs are signed and verified with PyJWT."""
import json
import time
import urllib.parse
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

import flows
from conftest import Shark, assert_oauth_error

JWT_TYPE = "application/token-introspection+jwt"


@pytest.fixture(scope="module")
def s():
    srv = Shark()
    srv.start()
    yield srv
    srv.cleanup()


@pytest.fixture(scope="module")
def ns():
    # the narrower --dcr-scopes holds anonymous registration only (item 13)
    srv = Shark(extra=["--dpop-nonce", "on", "--dcr-scopes", "openid email"])
    srv.start()
    yield srv
    srv.cleanup()


def m2m(s, **extra):
    body = {"grant_types": ["client_credentials"], "token_endpoint_auth_method":
            "client_secret_basic", "scope": "mcp:read", "client_name": "m2m"}
    body.update(extra)
    r = requests.post(s.url("/oauth/register"), json=body, headers=s.auth(), timeout=10)
    assert r.status_code == 201, r.text
    return r.json()


def cc_token(s, c):
    r = requests.post(s.url("/oauth/token"), auth=(c["client_id"], c["client_secret"]),
                      data={"grant_type": "client_credentials"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


# -- 10. JWT introspection (RFC 9701) ---------------------------------------------------

def introspect(s, c, token, accept=JWT_TYPE):
    return requests.post(s.url("/oauth/introspect"), auth=(c["client_id"], c["client_secret"]),
                         data={"token": token}, headers={"Accept": accept}, timeout=10)


def verify_answer(s, c, r):
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == JWT_TYPE
    token = r.text
    assert jwt.get_unverified_header(token)["typ"] == "token-introspection+jwt"
    key = jwt.PyJWKClient(s.url("/.well-known/jwks.json")).get_signing_key_from_jwt(token)
    meta = requests.get(s.url("/.well-known/oauth-authorization-server"), timeout=10).json()
    claims = jwt.decode(token, key.key, algorithms=meta["introspection_signing_alg_values_supported"],
                        audience=c["client_id"], issuer=flows.issuer(s))
    assert isinstance(claims["iat"], int)
    return claims["token_introspection"]


def test_jwt_introspection_answer(s):
    c = m2m(s)
    at = cc_token(s, c)
    ti = verify_answer(s, c, introspect(s, c, at))
    assert ti["active"] is True and ti["client_id"] == c["client_id"]
    assert ti["jti"] == flows.jwt_claims(at)["jti"]
    # q-values and other ranges beside it still pick the JWT
    r = introspect(s, c, at, accept="application/json;q=0.5, %s;q=1" % JWT_TYPE)
    assert verify_answer(s, c, r)["active"] is True


def test_jwt_introspection_of_an_unknown_token_is_a_signed_inactive_answer(s):
    c = m2m(s)
    assert verify_answer(s, c, introspect(s, c, "garbage")) == {"active": False}
    assert verify_answer(s, c, introspect(s, c, "rt_unknown")) == {"active": False}


def test_plain_introspection_stays_json(s):
    c = m2m(s)
    at = cc_token(s, c)
    for accept in ("application/json", "*/*", "application/token-introspection+jwtx"):
        r = introspect(s, c, at, accept=accept)
        assert r.headers["Content-Type"].startswith("application/json"), accept
        assert r.json()["active"] is True


def test_jwt_introspection_still_needs_client_authentication(s):
    r = requests.post(s.url("/oauth/introspect"), data={"token": "x"},
                      headers={"Accept": JWT_TYPE}, timeout=10)
    assert r.status_code == 401
    assert_oauth_error(r.json(), "invalid_client")


# -- 11. the DPoP nonce on every endpoint that takes a proof --------------------------

def test_par_demands_the_nonce(ns):
    c = flows.register_client(ns, scope="openid")
    key = flows.DpopKey()
    htu = flows.issuer(ns) + "/oauth/par"
    _, challenge = flows.pkce()
    body = {"response_type": "code", "client_id": c.client_id, "redirect_uri": c.redirect_uri,
            "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"}

    def push(proof):
        return requests.post(ns.url("/oauth/par"), data=body, auth=c.auth,
                             headers={"DPoP": proof}, timeout=10)
    r = push(key.proof(htu, "POST"))
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "use_dpop_nonce")
    nonce = r.headers["DPoP-Nonce"]
    assert "WWW-Authenticate" not in r.headers
    r = push(key.proof(htu, "POST", nonce="forged-" + nonce))
    assert_oauth_error(r.json(), "use_dpop_nonce")
    assert r.headers["DPoP-Nonce"]
    r = push(key.proof(htu, "POST", nonce=nonce))
    assert r.status_code == 201, r.text
    assert r.headers["DPoP-Nonce"]


def nonce_token(ns):
    """A DPoP-bound user token from the code flow on the nonce server."""
    key = flows.DpopKey()
    c = flows.register_client(ns, scope="openid email")
    person = flows.sign_up(ns)
    cb, verifier, _, _ = flows.authorize(ns, person, c, "openid email", browser=person.browser)
    htu = flows.issuer(ns) + "/oauth/token"
    data = {"grant_type": "authorization_code", "code": cb["code"], "code_verifier": verifier,
            "redirect_uri": c.redirect_uri}
    r = requests.post(ns.url("/oauth/token"), auth=c.auth, data=data,
                      headers={"DPoP": key.proof(htu, "POST")}, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce", r.text
    assert "WWW-Authenticate" not in r.headers  # item 12: the error is in the body only
    nonce = r.headers["DPoP-Nonce"]
    r = requests.post(ns.url("/oauth/token"), auth=c.auth, data=data,
                      headers={"DPoP": key.proof(htu, "POST", nonce=nonce)}, timeout=10)
    assert r.status_code == 200, r.text
    return key, r.json()["access_token"], nonce


def test_userinfo_demands_the_nonce(ns):
    key, at, nonce = nonce_token(ns)
    url = flows.issuer(ns) + "/oauth/userinfo"

    def call(**claims):
        return requests.get(ns.url("/oauth/userinfo"), timeout=10, headers={
            "Authorization": "DPoP " + at, "DPoP": key.proof(url, "GET", at, **claims)})
    for r in (call(), call(nonce="stale-or-forged")):
        assert r.status_code == 401, r.text
        h = r.headers["WWW-Authenticate"]
        assert h.startswith("DPoP ") and 'error="use_dpop_nonce"' in h, h
        assert r.headers["DPoP-Nonce"]
    fresh = r.headers["DPoP-Nonce"]
    r = call(nonce=fresh)
    assert r.status_code == 200, r.text
    assert r.json()["sub"].startswith("usr_")


def test_the_vault_demands_the_nonce(ns):
    """The vault's token retrieval checks the proof before anything else."""
    key, at, _ = nonce_token(ns)
    path = "/api/v1/vault/no-such-provider/token"
    url = flows.issuer(ns) + path
    r = requests.get(ns.url(path), timeout=10, headers={
        "Authorization": "DPoP " + at, "DPoP": key.proof(url, "GET", at)})
    assert r.status_code == 401, r.text
    assert 'error="use_dpop_nonce"' in r.headers["WWW-Authenticate"]
    assert r.json()["error"]["code"] == "use_dpop_nonce"
    r = requests.get(ns.url(path), timeout=10, headers={
        "Authorization": "DPoP " + at,
        "DPoP": key.proof(url, "GET", at, nonce=r.headers["DPoP-Nonce"])})
    # past the proof: now it is about what the token may fetch
    assert r.status_code == 403, r.text
    assert "vault:read" in r.json()["error"]["message"]


def test_token_endpoint_dpop_errors_are_in_the_body_only(s):
    c = m2m(s)
    htu = flows.issuer(s) + "/oauth/token"
    key = flows.DpopKey()
    for proof in ("x.y.z", key.proof(htu, "GET"), key.proof(htu, "POST", iat=1)):
        r = requests.post(s.url("/oauth/token"), auth=(c["client_id"], c["client_secret"]),
                          data={"grant_type": "client_credentials"}, headers={"DPoP": proof},
                          timeout=10)
        assert r.status_code == 400
        assert_oauth_error(r.json(), "invalid_dpop_proof")
        assert "WWW-Authenticate" not in r.headers


# -- 13. default scopes for clients registered without scope --------------------------

def test_open_registration_without_scope_gets_the_default_interactive_scopes(s):
    r = requests.post(s.url("/oauth/register"), timeout=10, json={
        "redirect_uris": [flows.REDIRECT], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "client_name": "mcp"})
    assert r.status_code == 201, r.text
    reg = r.json()
    assert reg["scope"] == "openid profile email offline_access"
    c = flows.Client(reg["client_id"], None, flows.REDIRECT, reg)
    person = flows.sign_up(s)
    cb, verifier, _, _ = flows.authorize(s, person, c, "openid profile email offline_access",
                                         browser=person.browser)
    t = flows.redeem(s, c, cb["code"], verifier)
    assert t.status_code == 200, t.text
    assert set(t.json()["scope"].split()) == {"openid", "profile", "email", "offline_access"}


def test_default_scopes_stay_within_the_registration_allowlist(ns):
    r = requests.post(ns.url("/oauth/register"), timeout=10, json={
        "redirect_uris": [flows.REDIRECT], "grant_types": ["authorization_code"]})
    assert r.status_code == 201, r.text
    assert r.json()["scope"] == "openid email"


def test_machine_clients_without_scope_get_none(s):
    c = m2m(s, scope=None)
    assert "scope" not in c


# -- 15. private_key_jwt assertions -----------------------------------------------------

@pytest.fixture(scope="module")
def pkj(s):
    priv = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(priv.public_key()))  # PyJWT 2.6
    jwk.update(kid="k1", alg="ES256", use="sig")
    c = m2m(s, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [jwk]})
    return c, priv


def assertion(c, priv, aud, jti=None, **extra):
    claims = {"iss": c["client_id"], "sub": c["client_id"], "aud": aud,
              "jti": jti or uuid.uuid4().hex, "exp": int(time.time()) + 60,
              "iat": int(time.time())}
    claims.update(extra)
    return jwt.encode(claims, priv, algorithm="ES256", headers={"kid": "k1"})


def assert_with(s, c, a):
    return requests.post(s.url("/oauth/token"), timeout=10, data={
        "grant_type": "client_credentials", "client_id": c["client_id"],
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": a})


def test_assertion_aud_may_be_the_issuer_or_the_token_endpoint(s, pkj):
    c, priv = pkj
    iss = flows.issuer(s)
    for aud in (iss, iss + "/oauth/token", [iss], ["https://other.test", iss]):
        r = assert_with(s, c, assertion(c, priv, aud))
        assert r.status_code == 200, (aud, r.text)


@pytest.mark.parametrize("aud", ["https://other.test", "", ["https://other.test"], None])
def test_assertion_with_another_aud_is_refused(s, pkj, aud):
    c, priv = pkj
    extra = {} if aud is not None else {"aud": None}
    a = assertion(c, priv, aud, **extra) if aud is not None else jwt.encode(
        {"iss": c["client_id"], "sub": c["client_id"], "jti": uuid.uuid4().hex,
         "exp": int(time.time()) + 60}, priv, algorithm="ES256", headers={"kid": "k1"})
    r = assert_with(s, c, a)
    assert r.status_code == 401, r.text
    assert_oauth_error(r.json(), "invalid_client")


def test_assertion_jti_is_single_use(s, pkj):
    c, priv = pkj
    a = assertion(c, priv, flows.issuer(s))
    assert assert_with(s, c, a).status_code == 200
    r = assert_with(s, c, a)
    assert r.status_code == 401
    assert_oauth_error(r.json(), "invalid_client")
    # a new assertion with the same jti is the same replay
    again = assertion(c, priv, flows.issuer(s) + "/oauth/token",
                      jti=jwt.decode(a, options={"verify_signature": False})["jti"])
    assert assert_with(s, c, again).status_code == 401
