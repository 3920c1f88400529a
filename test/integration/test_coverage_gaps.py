"""Cases no other file covered (issue 20, item 7): DPoP proofs with a wrong or
missing `ath`, or replayed, at /oauth/userinfo and at the vault's token
retrieval; introspection by a client that is not the token's; redirect_uri
variants at /oauth/authorize, PAR, registration and the token endpoint (OAuth
2.1 §2.3.1: exact string match); a sealed vault token copied to another row
(its associated data names the row, so it does not open there).

Everything is made through the real routes (flows.py); SQL is used only to do
what an attacker with write access to the database would do."""
import time
import urllib.parse
import uuid

import pytest
import requests

import flows
from conftest import Shark, assert_api_error, assert_oauth_error, free_port


@pytest.fixture(scope="module")
def s():
    # vault provider endpoints on loopback are allowed; they are never called
    # unless a test says so (the tokens are fresh)
    srv = Shark(extra=["--webhook-allowed-hosts", "127.0.0.1", "--vault-refresh-skew", "60"])
    srv.start()
    yield srv
    srv.cleanup()


def api(s, method, path, body=None):
    return s.request(method, path, admin=True, json=body)


def challenge(r):
    """The error of a DPoP WWW-Authenticate challenge (RFC 9449 §7.1)."""
    h = r.headers.get("WWW-Authenticate", "")
    assert h.startswith("DPoP "), (r.status_code, h, r.text)
    for part in h[5:].split(", "):
        k, _, v = part.partition("=")
        if k == "error":
            return v.strip('"')
    raise AssertionError("no error in %r" % h)


# -- DPoP at /oauth/userinfo ---------------------------------------------------------

@pytest.fixture(scope="module")
def bound(s):
    """A person's DPoP-bound access token, from the code flow redeemed with a proof."""
    key = flows.DpopKey()
    g = flows.code_flow(s, scope="openid email", key=key)
    assert flows.jwt_claims(g.access_token)["cnf"] == {"jkt": key.jkt}
    return g


def userinfo(s, token, proof):
    h = {"Authorization": "DPoP " + token}
    if proof is not None:
        h["DPoP"] = proof
    return requests.get(s.url("/oauth/userinfo"), headers=h, timeout=15)


def test_userinfo_with_a_good_proof(s, bound):
    u = s.url("/oauth/userinfo")
    r = userinfo(s, bound.access_token, bound.key.proof(u, "GET", bound.access_token))
    assert r.status_code == 200, r.text
    assert r.json()["sub"] == bound.person.id and r.json()["email"] == bound.person.email


@pytest.mark.parametrize("case", ["ath_of_another_token", "no_ath", "ath_not_base64url"])
def test_userinfo_refuses_a_proof_whose_ath_does_not_match(s, bound, case):
    u = s.url("/oauth/userinfo")
    proof = {"ath_of_another_token": bound.key.proof(u, "GET", bound.refresh_token),
             "no_ath": bound.key.proof(u, "GET"),
             "ath_not_base64url": bound.key.proof(u, "GET", ath="!!not base64url!!")}[case]
    r = userinfo(s, bound.access_token, proof)
    assert r.status_code == 401, r.text
    assert challenge(r) == "invalid_dpop_proof"
    assert "sub" not in r.json()


def test_userinfo_refuses_a_replayed_proof(s, bound):
    u = s.url("/oauth/userinfo")
    proof = bound.key.proof(u, "GET", bound.access_token)
    assert userinfo(s, bound.access_token, proof).status_code == 200
    r = userinfo(s, bound.access_token, proof)
    assert r.status_code == 401, r.text
    assert challenge(r) == "invalid_dpop_proof"
    # a fresh proof still works: the replay was refused, the token was not spent
    assert userinfo(s, bound.access_token,
                    bound.key.proof(u, "GET", bound.access_token)).status_code == 200


def test_the_body_names_the_same_error_as_the_challenge(s, bound):
    u = s.url("/oauth/userinfo")
    r = userinfo(s, bound.access_token, bound.key.proof(u, "GET"))
    assert r.status_code == 401
    assert r.json()["error"] == challenge(r) == "invalid_dpop_proof"


# -- DPoP at the vault's token retrieval -----------------------------------------------

def vault_world(s, secret):
    """A provider, a person with a connection to it (admin API) and an agent the
    person created, holding a DPoP-bound vault:read token."""
    pid = "gap_" + uuid.uuid4().hex[:10]
    dead = "http://127.0.0.1:%d" % free_port()
    r = api(s, "POST", "/api/v1/vault/providers", {
        "id": pid, "name": "Gap", "authorize_url": dead + "/authorize",
        "token_url": dead + "/token", "scopes": ["read"], "auth_style": "basic",
        "client_id": "cid", "client_secret": "csecret"})
    assert r.status_code == 201, r.text
    person = flows.sign_up(s)
    r = api(s, "POST", "/api/v1/vault/connections", {
        "user_id": person.id, "provider_id": pid, "access_token": secret,
        "refresh_token": "rt-" + secret, "expires_at": int(time.time()) + 3600,
        "scopes": ["read"]})
    assert r.status_code == 201, r.text
    conn = r.json()
    r = api(s, "POST", "/api/v1/apps", {"name": "gap", "scopes": ["vault:read"]})
    assert r.status_code == 201, r.text
    r = api(s, "POST", "/api/v1/agents", {"app_id": r.json()["id"], "name": "gap",
                                          "scopes": ["vault:read"], "created_by": person.id})
    assert r.status_code == 201, r.text
    agent = r.json()
    key = flows.DpopKey()
    r = requests.post(s.url("/oauth/token"), timeout=15,
                      data={"grant_type": "client_credentials", "scope": "vault:read"},
                      auth=(agent["client_id"], agent["client_secret"]),
                      headers={"DPoP": key.proof(s.url("/oauth/token"), "POST")})
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    return {"pid": pid, "conn": conn, "key": key, "token": r.json()["access_token"],
            "url": s.url("/api/v1/vault/%s/token" % pid), "secret": secret}


def vault_fetch(s, w, proof):
    h = {"Authorization": "DPoP " + w["token"]}
    if proof is not None:
        h["DPoP"] = proof
    return requests.get(w["url"], headers=h, timeout=15)


@pytest.fixture(scope="module")
def vw(s):
    return vault_world(s, "at-" + uuid.uuid4().hex)


def test_vault_fetch_with_a_good_proof(s, vw):
    r = vault_fetch(s, vw, vw["key"].proof(vw["url"], "GET", vw["token"]))
    assert r.status_code == 200, r.text
    assert r.json()["access_token"] == vw["secret"]


@pytest.mark.parametrize("case", ["ath_of_another_token", "no_ath"])
def test_vault_fetch_refuses_a_proof_whose_ath_does_not_match(s, vw, case):
    other = "eyJ" + uuid.uuid4().hex
    proof = vw["key"].proof(vw["url"], "GET", other if case == "ath_of_another_token" else None)
    r = vault_fetch(s, vw, proof)
    assert r.status_code == 401, r.text
    assert challenge(r) == "invalid_dpop_proof"
    assert r.json()["error"]["code"] == "invalid_dpop_proof"  # the same error as the challenge
    assert vw["secret"] not in r.text


def test_vault_fetch_refuses_a_replayed_proof(s, vw):
    proof = vw["key"].proof(vw["url"], "GET", vw["token"])
    assert vault_fetch(s, vw, proof).status_code == 200
    r = vault_fetch(s, vw, proof)
    assert r.status_code == 401, r.text
    assert challenge(r) == "invalid_dpop_proof"
    assert vw["secret"] not in r.text
    ev = api(s, "GET", "/api/v1/audit-logs?target_id=%s&event=vault.token_fetched&limit=200"
             % vw["conn"]["id"]).json()["data"]
    before = len(ev)
    assert vault_fetch(s, vw, vw["key"].proof(vw["url"], "GET", vw["token"])).status_code == 200
    ev = api(s, "GET", "/api/v1/audit-logs?target_id=%s&event=vault.token_fetched&limit=200"
             % vw["conn"]["id"]).json()["data"]
    assert len(ev) == before + 1  # refused fetches recorded no fetch


# -- a sealed vault token copied to another row ------------------------------------------

def copied_box_fetch(s, column):
    """Copies a's sealed `column` into b's row, then b's agent fetches."""
    a = vault_world(s, "secret-a-" + uuid.uuid4().hex)
    b = vault_world(s, "secret-b-" + uuid.uuid4().hex)
    assert vault_fetch(s, b, b["key"].proof(b["url"], "GET", b["token"])).status_code == 200
    # As someone who can write the table: a's sealed box into b's row.
    s.psql("UPDATE vault_connections SET %s = (SELECT %s FROM vault_connections WHERE id = '%s') "
           "WHERE id = '%s'" % (column, column, a["conn"]["id"], b["conn"]["id"]))
    if column == "refresh_sealed":
        # due for a refresh, so the refresh token has to be opened (before the
        # provider, which is not listening, would be called: that would be a 502)
        s.psql("UPDATE vault_connections SET access_expires_at = now() WHERE id = '%s'"
               % b["conn"]["id"])
    r = vault_fetch(s, b, b["key"].proof(b["url"], "GET", b["token"]))
    assert r.status_code != 200, r.text
    assert "cannot be opened" in r.json()["error"]["message"], r.text
    assert a["secret"] not in r.text and b["secret"] not in r.text
    # a's own row is untouched and still opens
    ra = vault_fetch(s, a, a["key"].proof(a["url"], "GET", a["token"]))
    assert ra.status_code == 200, ra.text
    assert ra.json()["access_token"] == a["secret"]
    return r


def test_a_sealed_access_token_copied_to_another_row_does_not_open(s):
    r = copied_box_fetch(s, "access_sealed")
    assert r.status_code == 500, r.text
    assert_api_error(r.json(), "internal_error")


def test_a_sealed_refresh_token_copied_to_another_row_does_not_open(s):
    # refused, unopened, nothing leaked; not blamed on the provider
    r = copied_box_fetch(s, "refresh_sealed")
    assert r.status_code == 500, r.text
    assert_api_error(r.json(), "internal_error")


# -- introspection by another client -------------------------------------------------------

def introspect_as(s, client, token):
    return requests.post(s.url("/oauth/introspect"), data={"token": token}, auth=client.auth,
                         timeout=15)


def test_introspection_by_another_client(s):
    """What every rule agrees on. (Today any authenticated client sees an active
    token's claims; which clients may is being changed apart, so this test pins
    only what holds either way.)"""
    g = flows.code_flow(s, scope="openid mcp:read")
    other = flows.register_client(s, scope="mcp:read")
    # the caller must authenticate, whoever's the token
    r = requests.post(s.url("/oauth/introspect"), data={"token": g.access_token}, timeout=15)
    assert r.status_code == 401, r.text
    assert_oauth_error(r.json(), "invalid_client")
    r = requests.post(s.url("/oauth/introspect"), data={"token": g.access_token}, timeout=15,
                      auth=(other.client_id, other.client_secret + "x"))
    assert r.status_code == 401, r.text
    assert_oauth_error(r.json(), "invalid_client")
    # an authenticated caller gets 200 and a boolean; never claims the token lacks
    r = introspect_as(s, other, g.access_token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["active"], bool), body
    assert set(body) <= set(flows.introspect(s, g.access_token)), body
    # an inactive token is {"active": false} and nothing else, for any client (RFC 7662 §2.2)
    r = api(s, "DELETE", "/api/v1/users/%s/consents/%s" % (g.person.id, g.consent_id))
    assert r.status_code == 204, r.text
    for c in (g.client, other):
        r = introspect_as(s, c, g.access_token)
        assert r.status_code == 200 and r.json() == {"active": False}, r.text
    r = introspect_as(s, other, "not-a-token")
    assert r.status_code == 200 and r.json() == {"active": False}, r.text


# -- redirect_uri: exact match ---------------------------------------------------------------

REGISTERED = "https://app.example.test/cb"
VARIANTS = {
    "trailing_slash": REGISTERED + "/",
    "path_case": "https://app.example.test/CB",
    "scheme_case": "HTTPS://app.example.test/cb",
    "host_case": "https://APP.example.test/cb",
    "default_port": "https://app.example.test:443/cb",
    "other_port": "https://app.example.test:8443/cb",
    "extra_query": REGISTERED + "?x=1",
    "fragment": REGISTERED + "#f",
    "http": "http://app.example.test/cb",
    "encoded_space": REGISTERED + "%20",
    "subdomain": "https://evil.app.example.test/cb",
    "userinfo": "https://app.example.test@evil.example/cb",
}


@pytest.fixture(scope="module")
def strict(s):
    return {"client": flows.register_client(s, redirect_uri=REGISTERED),
            "person": flows.sign_up(s)}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_authorize_refuses_a_redirect_uri_not_registered_exactly(s, strict, variant):
    """OAuth 2.1 §4.1.2.1: no redirect to a URI that is not registered; an error
    page instead, and no authorization request is made."""
    _, challenge_ = flows.pkce()
    url = flows.authorize_url(s, strict["client"], "openid", "st", "n", challenge_,
                              redirect_uri=VARIANTS[variant])
    r = strict["person"].browser.get(url, allow_redirects=False, timeout=15)
    assert r.status_code == 400, r.text
    assert "Location" not in r.headers
    assert r.headers["Content-Type"].startswith("text/html")
    assert "redirect URI is not registered" in r.text
    assert "areq_" not in r.text


@pytest.mark.parametrize("variant", ["trailing_slash", "extra_query", "other_port", "host_case"])
def test_par_refuses_a_redirect_uri_not_registered_exactly(s, strict, variant):
    c = strict["client"]
    _, challenge_ = flows.pkce()
    r = requests.post(s.url("/oauth/par"), auth=c.auth, timeout=15, data={
        "response_type": "code", "client_id": c.client_id, "redirect_uri": VARIANTS[variant],
        "scope": "openid", "code_challenge": challenge_, "code_challenge_method": "S256"})
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_request")
    assert "request_uri" not in r.json()


def test_registration_refuses_a_redirect_uri_with_a_fragment(s):
    r = requests.post(s.url("/oauth/register"), timeout=15, json={
        "redirect_uris": [REGISTERED + "#f"], "grant_types": ["authorization_code"],
        "token_endpoint_auth_method": "none"})
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_redirect_uri")


@pytest.mark.parametrize("variant", ["trailing_slash", "path_case", "extra_query", "other_port",
                                     "fragment"])
def test_token_endpoint_refuses_a_redirect_uri_other_than_the_requests(s, strict, variant):
    c = strict["client"]
    cb, verifier, _, _ = flows.authorize(s, strict["person"], c, "openid",
                                         browser=strict["person"].browser)
    r = requests.post(s.url("/oauth/token"), auth=c.auth, timeout=15, data={
        "grant_type": "authorization_code", "code": cb["code"], "code_verifier": verifier,
        "redirect_uri": VARIANTS[variant]})
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_grant")
    assert "access_token" not in r.json()


def test_token_endpoint_without_redirect_uri_when_the_request_had_none(s, strict):
    """A client with one registered URI may leave redirect_uri out of both."""
    c = strict["client"]
    b = strict["person"].browser
    verifier, challenge_ = flows.pkce()
    q = {"response_type": "code", "client_id": c.client_id, "scope": "openid", "state": "st",
         "code_challenge": challenge_, "code_challenge_method": "S256"}
    r = b.get(s.url("/oauth/authorize?" + urllib.parse.urlencode(q)), allow_redirects=False,
              timeout=15)
    if r.status_code == 200:  # the consent page, the first time this person meets the client
        r = flows.consent(s, b, r)
    assert r.status_code == 303 and r.headers["Location"].startswith(REGISTERED + "?"), r.text
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))["code"]
    r = requests.post(s.url("/oauth/token"), auth=c.auth, timeout=15, data={
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier})
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"


def test_token_endpoint_requires_redirect_uri_when_the_request_had_one(s, strict):
    c = strict["client"]
    cb, verifier, _, _ = flows.authorize(s, strict["person"], c, "openid",
                                         browser=strict["person"].browser)
    r = requests.post(s.url("/oauth/token"), auth=c.auth, timeout=15, data={
        "grant_type": "authorization_code", "code": cb["code"], "code_verifier": verifier})
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_request")


def test_loopback_redirect_uri_may_use_any_port(s):
    person = flows.sign_up(s)
    c = flows.register_client(s, redirect_uri="http://127.0.0.1/cb", public=True)
    port = free_port()
    c.redirect_uri = "http://127.0.0.1:%d/cb" % port
    cb, verifier, _, _ = flows.authorize(s, person, c, "openid")
    r = flows.redeem(s, c, cb["code"], verifier)
    assert r.status_code == 200, r.text


def test_loopback_redirect_uri_keeps_host_and_path_exact(s):
    """Whatever the port rule, only the port may differ for a loopback URI."""
    person = flows.sign_up(s)
    c = flows.register_client(s, redirect_uri="http://127.0.0.1:8976/cb", public=True)
    for uri in ("http://localhost:8976/cb", "http://127.0.0.1:8976/cb/", "http://[::1]:8976/cb",
                "http://127.0.0.2:8976/cb", "https://127.0.0.1:8976/cb"):
        _, challenge_ = flows.pkce()
        r = person.browser.get(flows.authorize_url(s, c, "openid", "st", "n", challenge_,
                                                   redirect_uri=uri),
                               allow_redirects=False, timeout=15)
        assert r.status_code == 400 and "Location" not in r.headers, (uri, r.text)
