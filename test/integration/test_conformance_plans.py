"""Requirements of the OpenID Foundation's Basic OP plan and of the FAPI 2.0
Security Profile that no outside suite can check here (issue 14), each as a
test against the real server: only response_type=code, PKCE S256 required,
iss on every authorization response (RFC 9207), PAR request_uris short-lived
and single use with the pushed parameters the only ones used, and the
id_token's required claims, checked with PyJWT."""
import base64
import hashlib
import urllib.parse

import jwt
import pytest
import requests

import flows
from conftest import Shark, assert_oauth_error


@pytest.fixture(scope="module")
def s():
    srv = Shark()
    srv.start()
    yield srv
    srv.cleanup()


@pytest.fixture(scope="module")
def setup(s):
    person = flows.sign_up(s)
    client = flows.register_client(s, scope="openid email profile")
    flows.authorize(s, person, client, "openid email profile", browser=person.browser)
    return person, client


def answer(r, client):
    assert r.status_code == 303, r.text
    loc = r.headers["Location"]
    assert loc.startswith(client.redirect_uri + "?"), loc
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))


@pytest.mark.parametrize("rt", ["token", "id_token", "code id_token", "code token", "none"])
def test_only_the_code_response_type(s, setup, rt):
    person, client = setup
    _, challenge = flows.pkce()
    r = person.browser.get(flows.authorize_url(s, client, "openid", "st", "n", challenge,
                                               response_type=rt),
                           allow_redirects=False, timeout=flows.TIMEOUT)
    q = answer(r, client)
    assert q["error"] == "unsupported_response_type" and "code" not in q, q
    assert q["iss"] == flows.issuer(s) and q["state"] == "st"


@pytest.mark.parametrize("params", [{"code_challenge": None},
                                    {"code_challenge_method": "plain"},
                                    {"code_challenge_method": None},
                                    {"code_challenge": "short"}])
def test_pkce_s256_is_required(s, setup, params):
    person, client = setup
    _, challenge = flows.pkce()
    r = person.browser.get(flows.authorize_url(s, client, "openid", "st", "n", challenge,
                                               **params),
                           allow_redirects=False, timeout=flows.TIMEOUT)
    q = answer(r, client)
    assert q["error"] == "invalid_request" and q["iss"] == flows.issuer(s), q


def push(s, client, **extra):
    verifier, challenge = flows.pkce()
    body = {"response_type": "code", "client_id": client.client_id,
            "redirect_uri": client.redirect_uri, "scope": "openid", "state": "pushed",
            "code_challenge": challenge, "code_challenge_method": "S256"}
    body.update(extra)
    r = requests.post(s.url("/oauth/par"), data=body, auth=client.auth, timeout=flows.TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json(), verifier


def test_par_request_uri_is_short_lived_single_use_and_alone(s, setup):
    person, client = setup
    pushed, verifier = push(s, client)
    assert 0 < pushed["expires_in"] <= 600  # FAPI 2.0: under ten minutes
    # parameters beside request_uri are not used: the pushed ones are
    url = s.url("/oauth/authorize?" + urllib.parse.urlencode(
        {"client_id": client.client_id, "request_uri": pushed["request_uri"],
         "scope": "openid email profile", "state": "from-the-query",
         "redirect_uri": "http://127.0.0.1:8976/elsewhere"}))
    q = answer(person.browser.get(url, allow_redirects=False, timeout=flows.TIMEOUT), client)
    assert q["state"] == "pushed", q
    t = flows.redeem(s, client, q["code"], verifier)
    assert t.status_code == 200 and t.json()["scope"] == "openid", t.text
    again = person.browser.get(url, allow_redirects=False, timeout=flows.TIMEOUT)
    assert again.status_code == 400 and "Location" not in again.headers


def test_par_request_uri_is_bound_to_its_client(s, setup):
    person, client = setup
    other = flows.register_client(s, scope="openid")
    pushed, _ = push(s, client)
    r = person.browser.get(s.url("/oauth/authorize?" + urllib.parse.urlencode(
        {"client_id": other.client_id, "request_uri": pushed["request_uri"]})),
        allow_redirects=False, timeout=flows.TIMEOUT)
    assert r.status_code == 400 and "Location" not in r.headers


def test_par_needs_client_authentication(s, setup):
    _, client = setup
    _, challenge = flows.pkce()
    r = requests.post(s.url("/oauth/par"), timeout=flows.TIMEOUT, data={
        "response_type": "code", "client_id": client.client_id,
        "redirect_uri": client.redirect_uri, "code_challenge": challenge,
        "code_challenge_method": "S256"})
    assert r.status_code == 401
    assert_oauth_error(r.json(), "invalid_client")


def test_id_token_carries_the_required_claims(s, setup):
    person, client = setup
    cb, verifier, nonce, _ = flows.authorize(s, person, client, "openid email profile",
                                             browser=person.browser)
    t = flows.redeem(s, client, cb["code"], verifier).json()
    key = jwt.PyJWKClient(s.url("/.well-known/jwks.json")).get_signing_key_from_jwt(t["id_token"])
    claims = jwt.decode(t["id_token"], key.key, algorithms=["RS256"], audience=client.client_id,
                        issuer=flows.issuer(s),
                        options={"require": ["iss", "sub", "aud", "exp", "iat", "auth_time"]})
    assert claims["nonce"] == nonce and claims["sub"] == person.id
    assert claims["exp"] > claims["iat"] >= claims["auth_time"]
    # at_hash: the left half of SHA-256 of the access token (OpenID Connect Core §3.1.3.6)
    half = hashlib.sha256(t["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(half).rstrip(b"=").decode()


def test_scope_without_openid_has_no_id_token(s, setup):
    person, _ = setup
    c = flows.register_client(s, scope="openid mcp:read")
    cb, verifier, _, _ = flows.authorize(s, person, c, "mcp:read", browser=person.browser)
    t = flows.redeem(s, c, cb["code"], verifier)
    assert t.status_code == 200 and "id_token" not in t.json(), t.text
