"""OpenID Connect RP-Initiated Logout 1.0 (issue 14, item 6): the
end_session_endpoint takes id_token_hint, client_id, post_logout_redirect_uri
(registered, exact) and state, by GET or POST from the relying party's site;
the signed-in person confirms, the session ends (and the grants bound to it),
and the browser goes back to the relying party with state.

The id_token is the one the code flow issued, checked with PyJWT first."""
import urllib.parse

import jwt
import pytest
import requests

import flows
from conftest import Shark

AFTER = "https://rp.example.test/after-logout"


@pytest.fixture(scope="module")
def s():
    srv = Shark()
    srv.start()
    yield srv
    srv.cleanup()


@pytest.fixture()
def signed_in(s):
    """A person signed in through the hosted login page (the browser holds
    that session) with an id_token for a client that registered AFTER."""
    person = flows.sign_up(s)
    client = flows.register_client(s, scope="openid email",
                                   post_logout_redirect_uris=[AFTER, AFTER + "?x=1"])
    assert client.registration["post_logout_redirect_uris"] == [AFTER, AFTER + "?x=1"]
    cb, verifier, _, browser = flows.authorize(s, person, client, "openid")
    t = flows.redeem(s, client, cb["code"], verifier).json()
    key = jwt.PyJWKClient(s.url("/.well-known/jwks.json")).get_signing_key_from_jwt(t["id_token"])
    jwt.decode(t["id_token"], key.key, algorithms=["RS256"], audience=client.client_id)
    return person, client, browser, t


def me(s, browser):
    return browser.get(s.url("/api/v1/auth/me"), timeout=flows.TIMEOUT).status_code


def confirm(s, browser, page):
    form = {n: flows.input_value(page.text, n) for n in
            ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "csrf_token")}
    form = {k: v for k, v in form.items() if v is not None}
    assert form.get("csrf_token"), page.text
    return browser.post(s.url("/oauth/logout/confirm"), data=form, allow_redirects=False,
                        timeout=flows.TIMEOUT)


def test_discovery_names_the_endpoint(s):
    meta = requests.get(s.url("/.well-known/openid-configuration"), timeout=10).json()
    assert meta["end_session_endpoint"] == flows.issuer(s) + "/oauth/logout"


def test_logout_with_hint_ends_the_session_and_returns_with_state(s, signed_in):
    person, client, browser, t = signed_in
    assert me(s, browser) == 200
    q = urllib.parse.urlencode({"id_token_hint": t["id_token"], "state": "bye-1",
                                "post_logout_redirect_uri": AFTER})
    page = browser.get(s.url("/oauth/logout?" + q), allow_redirects=False, timeout=flows.TIMEOUT)
    assert page.status_code == 200 and "Sign out?" in page.text, page.text
    assert me(s, browser) == 200  # asking changes nothing
    r = confirm(s, browser, page)
    assert r.status_code == 303, r.text
    assert r.headers["Location"] == AFTER + "?state=bye-1"
    assert me(s, browser) == 401
    # the refresh token bound to that session ended with it
    assert flows.refresh(s, client, t["refresh_token"]).status_code == 400


def test_logout_by_post_from_the_relying_party(s, signed_in):
    person, client, browser, t = signed_in
    r = browser.post(s.url("/oauth/logout"), allow_redirects=False, timeout=flows.TIMEOUT,
                     headers={"Origin": "https://rp.example.test"},
                     data={"client_id": client.client_id, "post_logout_redirect_uri": AFTER + "?x=1",
                           "state": "s2"})
    assert r.status_code == 200, r.text
    r = confirm(s, browser, r)
    assert r.headers["Location"] == AFTER + "?x=1&state=s2"
    assert me(s, browser) == 401


def test_the_confirmation_must_be_same_origin_with_the_csrf_token(s, signed_in):
    person, client, browser, t = signed_in
    page = browser.get(s.url("/oauth/logout"), timeout=flows.TIMEOUT)
    r = browser.post(s.url("/oauth/logout/confirm"), data={"csrf_token": "wrong"},
                     allow_redirects=False, timeout=flows.TIMEOUT)
    assert r.status_code == 403
    r = browser.post(s.url("/oauth/logout/confirm"),
                     data={"csrf_token": flows.input_value(page.text, "csrf_token")},
                     headers={"Origin": "https://evil.example.test"}, allow_redirects=False,
                     timeout=flows.TIMEOUT)
    assert r.status_code == 403
    assert me(s, browser) == 200
    r = confirm(s, browser, page)
    assert r.status_code == 200 and "signed out" in r.text
    assert me(s, browser) == 401


@pytest.mark.parametrize("uri", [AFTER + "/", AFTER + "?x=2", "https://evil.example.test/",
                                 AFTER.upper()])
def test_unregistered_post_logout_redirect_uri_is_refused(s, signed_in, uri):
    person, client, browser, t = signed_in
    r = browser.get(s.url("/oauth/logout?" + urllib.parse.urlencode(
        {"id_token_hint": t["id_token"], "post_logout_redirect_uri": uri})),
        allow_redirects=False, timeout=flows.TIMEOUT)
    assert r.status_code == 400 and "Location" not in r.headers, r.text
    assert "not registered" in r.text
    assert me(s, browser) == 200


def test_bad_hints_are_refused(s, signed_in):
    person, client, browser, t = signed_in
    head, body, sig = t["id_token"].split(".")
    forged = flows.b64u_json(dict(flows.jwt_claims(t["id_token"]), aud="client_other"))
    other = flows.register_client(s, post_logout_redirect_uris=[AFTER])
    for params in ({"id_token_hint": head + "." + forged + "." + sig},
                   {"id_token_hint": "not-a-jwt"},
                   {"id_token_hint": t["access_token"] + "x"},
                   {"id_token_hint": t["access_token"]},  # ours, but not an ID token
                   {"id_token_hint": t["id_token"], "client_id": other.client_id},
                   {"post_logout_redirect_uri": AFTER}):  # no client named
        r = browser.get(s.url("/oauth/logout?" + urllib.parse.urlencode(params)),
                        allow_redirects=False, timeout=flows.TIMEOUT)
        assert r.status_code == 400 and "Location" not in r.headers, (params, r.text)
    assert me(s, browser) == 200


def test_without_a_session_it_goes_straight_back(s, signed_in):
    person, client, browser, t = signed_in
    r = requests.get(s.url("/oauth/logout?" + urllib.parse.urlencode(
        {"id_token_hint": t["id_token"], "post_logout_redirect_uri": AFTER, "state": "z"})),
        allow_redirects=False, timeout=flows.TIMEOUT)
    assert r.status_code == 303 and r.headers["Location"] == AFTER + "?state=z"


def test_registration_validates_post_logout_redirect_uris(s):
    for bad in (["ftp://x.test/"], ["https://x.test/#f"], "https://x.test/", [1],
                ["http://rp.example.test/"]):
        r = requests.post(s.url("/oauth/register"), headers=s.auth(), timeout=10, json={
            "redirect_uris": [flows.REDIRECT], "post_logout_redirect_uris": bad})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"] == "invalid_client_metadata"
