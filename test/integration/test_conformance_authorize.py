"""The authorization endpoint as OpenID Connect Core §3.1.2.1 and the OAuth
RFCs describe it (issue 14, items 1-5): prompt, max_age, response_mode
(query, fragment, form_post), loopback redirect URIs on any port (RFC 8252
§7.3) and codes bound to a DPoP key (RFC 9449 §10: dpop_jkt, or a proof sent
to PAR). The id_tokens are checked with PyJWT against the server's JWKS.

Everything goes through the real routes with a real browser session
(requests + cookies); nothing is written with SQL."""
import html
import re
import time
import urllib.parse
import uuid

import jwt
import pytest
import requests

import flows
from conftest import Shark, assert_oauth_error, free_port


@pytest.fixture(scope="module")
def s():
    srv = Shark()
    srv.start()
    yield srv
    srv.cleanup()


@pytest.fixture()
def person(s):
    return flows.sign_up(s)


@pytest.fixture()
def client(s):
    return flows.register_client(s, scope="openid email profile")


def go(s, browser, client, scope="openid", **params):
    """One authorization request from browser; the raw answer and its PKCE."""
    verifier, challenge = flows.pkce()
    state = uuid.uuid4().hex
    r = browser.get(flows.authorize_url(s, client, scope, state, "n-" + state, challenge,
                                        **params), allow_redirects=False, timeout=flows.TIMEOUT)
    return r, verifier, state


def back(r, client, state=None):
    """The query of a redirect to the client's redirect URI."""
    assert r.status_code == 303, (r.status_code, r.text)
    loc = r.headers["Location"]
    assert loc.startswith(client.redirect_uri + "?"), loc
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
    if state is not None:
        assert q["state"] == state, q
    return q


def is_login(r):
    return r.status_code == 303 and urllib.parse.urlsplit(r.headers["Location"]).path == "/login"


def verify_id_token(s, token, client):
    """PyJWT against the published JWKS, the way a relying party checks it."""
    jwks = jwt.PyJWKClient(s.url("/.well-known/jwks.json"))
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256", "ES256", "EdDSA", "PS256"],
                      audience=client.client_id, issuer=flows.issuer(s))


def consented(s, person, client, scope="openid"):
    """The person approved the client once (the consent is then on record)."""
    flows.authorize(s, person, client, scope, browser=person.browser)


# -- prompt -----------------------------------------------------------------------

def test_prompt_none_without_session_is_login_required(s, client):
    r, _, state = go(s, requests.Session(), client, prompt="none")
    q = back(r, client, state)
    assert q["error"] == "login_required" and "code" not in q, q
    assert q["iss"] == flows.issuer(s)


def test_prompt_none_without_consent_is_consent_required(s, person, client):
    r, _, state = go(s, person.browser, client, prompt="none")
    q = back(r, client, state)
    assert q["error"] == "consent_required", q


def test_prompt_none_with_session_and_consent_issues_a_code(s, person, client):
    consented(s, person, client)
    r, verifier, state = go(s, person.browser, client, prompt="none")
    q = back(r, client, state)
    assert "code" in q and "error" not in q, q
    assert flows.redeem(s, client, q["code"], verifier).status_code == 200


def test_prompt_login_signs_in_again_and_auth_time_is_the_new_one(s, person, client):
    consented(s, person, client)
    first = flows.redeem(s, client, *go_code(s, person, client))
    old = verify_id_token(s, first.json()["id_token"], client)["auth_time"]
    time.sleep(1.1)  # a later second, so the new auth_time can differ
    r, verifier, state = go(s, person.browser, client, prompt="login")
    assert is_login(r), (r.status_code, r.headers.get("Location"))
    # back at the login page: nothing is issued until the person signs in
    r = flows.log_in(s, person.browser, r.headers["Location"], person)
    q = back(r, client, state)
    t = flows.redeem(s, client, q["code"], verifier)
    assert t.status_code == 200, t.text
    claims = verify_id_token(s, t.json()["id_token"], client)
    assert claims["auth_time"] > old, (claims, old)


def go_code(s, person, client, **params):
    r, verifier, state = go(s, person.browser, client, **params)
    return back(r, client, state)["code"], verifier


def test_prompt_login_resumed_without_signing_in_goes_back_to_login(s, person, client):
    """The request sent to /login cannot be resumed with the old session."""
    consented(s, person, client)
    r, _, _ = go(s, person.browser, client, prompt="login")
    assert is_login(r)
    request = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["Location"]).query)["request"][0]
    again = person.browser.get(s.url("/oauth/authorize/resume?request=" + request),
                               allow_redirects=False, timeout=flows.TIMEOUT)
    assert is_login(again), (again.status_code, again.text)


def test_prompt_consent_asks_again(s, person, client):
    consented(s, person, client)
    r, _, _ = go(s, person.browser, client, prompt="consent")
    assert r.status_code == 200 and "wants to act for you" in r.text, r.text
    r2 = flows.consent(s, person.browser, r)
    assert "code" in back(r2, client)


def test_prompt_login_consent_signs_in_then_asks(s, person, client):
    consented(s, person, client)
    r, verifier, state = go(s, person.browser, client, prompt="login consent")
    assert is_login(r)
    r = flows.log_in(s, person.browser, r.headers["Location"], person)
    assert r.status_code == 200 and "wants to act for you" in r.text, r.text
    q = back(flows.consent(s, person.browser, r), client, state)
    assert flows.redeem(s, client, q["code"], verifier).status_code == 200


def test_prompt_select_account_shows_the_login_page(s, person, client):
    consented(s, person, client)
    r, _, _ = go(s, person.browser, client, prompt="select_account")
    assert is_login(r)


@pytest.mark.parametrize("prompt", ["none login", "none consent", "bogus", "login login"])
def test_bad_prompt_is_invalid_request(s, person, client, prompt):
    r, _, state = go(s, person.browser, client, prompt=prompt)
    q = back(r, client, state)
    assert q["error"] == "invalid_request", q


# -- max_age ----------------------------------------------------------------------

def test_max_age_passed_signs_in_again(s, person, client):
    consented(s, person, client)
    time.sleep(2.1)  # the sign-in is now older than max_age=1
    r, verifier, state = go(s, person.browser, client, max_age="1")
    assert is_login(r), (r.status_code, r.text)
    before = int(time.time())
    r = flows.log_in(s, person.browser, r.headers["Location"], person)
    t = flows.redeem(s, client, back(r, client, state)["code"], verifier)
    claims = verify_id_token(s, t.json()["id_token"], client)
    assert claims["auth_time"] >= before, claims


def test_max_age_not_passed_needs_no_sign_in(s, person, client):
    consented(s, person, client)
    r, _, state = go(s, person.browser, client, max_age="3600")
    assert "code" in back(r, client, state)


def test_max_age_zero_always_signs_in(s, person, client):
    consented(s, person, client)
    r, verifier, state = go(s, person.browser, client, max_age="0")
    assert is_login(r)
    r = flows.log_in(s, person.browser, r.headers["Location"], person)
    t = flows.redeem(s, client, back(r, client, state)["code"], verifier)
    assert "auth_time" in verify_id_token(s, t.json()["id_token"], client)


def test_max_age_with_prompt_none_is_login_required(s, person, client):
    consented(s, person, client)
    r, _, state = go(s, person.browser, client, max_age="0", prompt="none")
    assert back(r, client, state)["error"] == "login_required"


@pytest.mark.parametrize("v", ["-1", "abc", "1e3", "99999999999"])
def test_bad_max_age_is_invalid_request(s, person, client, v):
    r, _, state = go(s, person.browser, client, max_age=v)
    assert back(r, client, state)["error"] == "invalid_request"


# -- response_mode ------------------------------------------------------------------

def test_response_mode_fragment(s, person, client):
    consented(s, person, client)
    r, verifier, state = go(s, person.browser, client, response_mode="fragment")
    assert r.status_code == 303
    loc = r.headers["Location"]
    assert loc.startswith(client.redirect_uri + "#"), loc
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).fragment))
    assert q["state"] == state and q["iss"] == flows.issuer(s)
    assert flows.redeem(s, client, q["code"], verifier).status_code == 200


def test_response_mode_form_post_is_a_csp_safe_auto_submitting_page(s, person, client):
    consented(s, person, client)
    r, verifier, state = go(s, person.browser, client, response_mode="form_post")
    assert r.status_code == 200 and "Location" not in r.headers, r.text
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Cache-Control"] == "no-store"
    csp = r.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([A-Za-z0-9]+)'", csp).group(1)
    assert "form-action http://127.0.0.1:8976;" in csp and "default-src 'none'" in csp, csp
    assert "unsafe-inline" not in csp
    form = re.search(r'<form method=post action="([^"]+)">', r.text)
    assert html.unescape(form.group(1)) == client.redirect_uri
    assert '<script nonce="%s">' % nonce in r.text
    fields = {n: html.unescape(v) for n, v in
              re.findall(r'<input type=hidden name="([^"]+)" value="([^"]*)">', r.text)}
    assert fields["state"] == state and fields["iss"] == flows.issuer(s), fields
    assert flows.redeem(s, client, fields["code"], verifier).status_code == 200


def test_form_post_escapes_the_state(s, person, client):
    consented(s, person, client)
    verifier, challenge = flows.pkce()
    evil = '"><script>alert(1)</script>'
    r = person.browser.get(flows.authorize_url(s, client, "openid", evil, "n", challenge,
                                               response_mode="form_post"),
                           allow_redirects=False, timeout=flows.TIMEOUT)
    assert r.status_code == 200
    assert "<script>alert" not in r.text
    assert r.text.count("<script") == 1


def test_form_post_errors_too(s, client):
    r, _, state = go(s, requests.Session(), client, prompt="none", response_mode="form_post")
    assert r.status_code == 200
    assert 'name="error" value="login_required"' in r.text


@pytest.mark.parametrize("mode", ["jwt", "query.jwt", "form_post ", "web_message"])
def test_unknown_response_mode_is_invalid_request(s, person, client, mode):
    r, _, state = go(s, person.browser, client, response_mode=mode)
    q = back(r, client, state)  # refused in the default mode, query
    assert q["error"] == "invalid_request", q


# -- loopback redirect URIs (RFC 8252 §7.3) -------------------------------------------

def test_ipv6_loopback_any_port(s, person):
    c = flows.register_client(s, redirect_uri="http://[::1]/cb", public=True)
    c.redirect_uri = "http://[::1]:%d/cb" % free_port()
    cb, verifier, _, _ = flows.authorize(s, person, c, "openid", browser=person.browser)
    r = flows.redeem(s, c, cb["code"], verifier)
    assert r.status_code == 200, r.text
    # the token request names the port the authorization request used
    c2 = flows.register_client(s, redirect_uri="http://[::1]/cb", public=True)
    c2.redirect_uri = "http://[::1]:%d/cb" % free_port()
    cb, verifier, _, _ = flows.authorize(s, person, c2, "openid", browser=person.browser)
    r = flows.token_request(s, c2, {"grant_type": "authorization_code", "code": cb["code"],
                                    "code_verifier": verifier,
                                    "redirect_uri": "http://[::1]:1/cb"})
    assert r.status_code == 400
    assert_oauth_error(r.json(), "invalid_grant")


@pytest.mark.parametrize("uri", ["http://127.0.0.1:/cb", "http://127.0.0.1:123456/cb",
                                 "http://127.0.0.1:80x/cb", "http://127.0.0.1:80/cb?x=1",
                                 "http://127.0.0.1.evil.test:80/cb"])
def test_loopback_port_rule_relaxes_nothing_else(s, person, uri):
    c = flows.register_client(s, redirect_uri="http://127.0.0.1/cb", public=True)
    _, challenge = flows.pkce()
    r = person.browser.get(flows.authorize_url(s, c, "openid", "st", "n", challenge,
                                               redirect_uri=uri),
                           allow_redirects=False, timeout=flows.TIMEOUT)
    assert r.status_code == 400 and "Location" not in r.headers, (uri, r.text)


def test_non_loopback_http_keeps_exact_port(s, person):
    c = flows.register_client(s, redirect_uri="https://app.example.test/cb")
    _, challenge = flows.pkce()
    r = person.browser.get(flows.authorize_url(s, c, "openid", "st", "n", challenge,
                                               redirect_uri="https://app.example.test:8443/cb"),
                           allow_redirects=False, timeout=flows.TIMEOUT)
    assert r.status_code == 400 and "Location" not in r.headers


# -- DPoP-bound codes (RFC 9449 §10) ----------------------------------------------------

def test_dpop_jkt_binds_the_code(s, person, client):
    consented(s, person, client)
    key, other = flows.DpopKey(), flows.DpopKey()
    for attempt in (None, other):
        code, verifier = go_code(s, person, client, dpop_jkt=key.jkt)
        r = flows.redeem(s, client, code, verifier, attempt)
        assert r.status_code == 400, r.text
        assert_oauth_error(r.json(), "invalid_grant")
        assert "WWW-Authenticate" not in r.headers
    code, verifier = go_code(s, person, client, dpop_jkt=key.jkt)
    r = flows.redeem(s, client, code, verifier, key)
    assert r.status_code == 200, r.text
    assert flows.jwt_claims(r.json()["access_token"])["cnf"] == {"jkt": key.jkt}
    # the refresh token keeps the binding
    r = flows.refresh(s, client, r.json()["refresh_token"], other)
    assert r.status_code == 400


@pytest.mark.parametrize("jkt", ["short", "x" * 43 + "=", "+" * 43])
def test_malformed_dpop_jkt_is_invalid_request(s, person, client, jkt):
    r, _, state = go(s, person.browser, client, dpop_jkt=jkt)
    assert back(r, client, state)["error"] == "invalid_request"


def par(s, client, key=None, proof=None, **extra):
    verifier, challenge = flows.pkce()
    body = {"response_type": "code", "client_id": client.client_id,
            "redirect_uri": client.redirect_uri, "scope": "openid", "state": "par-st",
            "code_challenge": challenge, "code_challenge_method": "S256"}
    body.update(extra)
    headers = {}
    if key is not None:
        headers["DPoP"] = proof or key.proof(flows.issuer(s) + "/oauth/par", "POST")
    r = requests.post(s.url("/oauth/par"), data=body, auth=client.auth, headers=headers,
                      timeout=flows.TIMEOUT)
    return r, verifier


def par_code(s, person, client, request_uri):
    r = person.browser.get(s.url("/oauth/authorize?" + urllib.parse.urlencode(
        {"client_id": client.client_id, "request_uri": request_uri})),
        allow_redirects=False, timeout=flows.TIMEOUT)
    return back(r, client, "par-st")["code"]


def test_a_proof_sent_to_par_binds_the_code(s, person, client):
    consented(s, person, client)
    key, other = flows.DpopKey(), flows.DpopKey()
    r, verifier = par(s, client, key)
    assert r.status_code == 201, r.text
    code = par_code(s, person, client, r.json()["request_uri"])
    t = flows.redeem(s, client, code, verifier, other)
    assert t.status_code == 400
    assert_oauth_error(t.json(), "invalid_grant")
    r, verifier = par(s, client, key)
    code = par_code(s, person, client, r.json()["request_uri"])
    t = flows.redeem(s, client, code, verifier, key)
    assert t.status_code == 200, t.text
    assert t.json()["token_type"] == "DPoP"


def test_par_proof_and_dpop_jkt_must_agree(s, client):
    key, other = flows.DpopKey(), flows.DpopKey()
    r, _ = par(s, client, key, dpop_jkt=other.jkt)
    assert r.status_code == 400
    assert_oauth_error(r.json(), "invalid_dpop_proof")
    r, _ = par(s, client, key, dpop_jkt=key.jkt)
    assert r.status_code == 201, r.text


def test_par_refuses_bad_and_replayed_proofs(s, client):
    key = flows.DpopKey()
    for proof in (key.proof(flows.issuer(s) + "/oauth/token", "POST"),   # another endpoint
                  key.proof(flows.issuer(s) + "/oauth/par", "GET"),
                  key.proof(flows.issuer(s) + "/oauth/par", "POST", iat=int(time.time()) - 3600),
                  "not.a.jwt"):
        r, _ = par(s, client, key, proof=proof)
        assert r.status_code == 400, r.text
        assert_oauth_error(r.json(), "invalid_dpop_proof")
        assert "WWW-Authenticate" not in r.headers
    proof = key.proof(flows.issuer(s) + "/oauth/par", "POST")
    assert par(s, client, key, proof=proof)[0].status_code == 201
    r, _ = par(s, client, key, proof=proof)
    assert r.status_code == 400
    assert_oauth_error(r.json(), "invalid_dpop_proof")
