"""The contract test's calls for the OpenID Connect / OAuth conformance surface
(issue 14): RP-initiated logout, response modes (form_post pages), prompt and
max_age, dpop_jkt and DPoP proofs at PAR, request objects (JAR), JWT
introspection answers, OpenID registration members, default scopes, and the
use_dpop_nonce answers of a server run with --dpop-nonce on (started here,
its traffic recorded too)."""
import json
import time
import urllib.parse
import uuid

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec

import flows
import openapi_scenario
from conftest import Shark

T = 20
AFTER = "https://rp.example.test/after-logout"


def ok(r, *status):
    assert r.status_code in status, (r.request.method, r.request.url, r.status_code, r.text)
    return r


def run(s):
    registration(s)
    modes_and_prompt(s)
    request_objects(s)
    pushed_with_dpop(s)
    introspection_as_jwt(s)
    logout(s)
    nonce_server()


def registration(s):
    # OpenID Connect registration members; the id_token alg is checked
    c = flows.register_client(s, scope="openid email", id_token_signed_response_alg="RS256",
                              post_logout_redirect_uris=[AFTER])
    assert c.registration["id_token_signed_response_alg"] == "RS256", c.registration
    ok(requests.post(s.url("/oauth/register"), headers=s.auth(), timeout=T, json={
        "redirect_uris": [flows.REDIRECT], "id_token_signed_response_alg": "HS256"}), 400)
    ok(requests.post(s.url("/oauth/register"), headers=s.auth(), timeout=T, json={
        "redirect_uris": [flows.REDIRECT], "post_logout_redirect_uris": ["ftp://x.test/"]}), 400)
    # no scope asked for: the default interactive scopes, said in the answer
    r = ok(requests.post(s.url("/oauth/register"), headers=s.auth(), timeout=T, json={
        "redirect_uris": [flows.REDIRECT], "grant_types": ["authorization_code"],
        "token_endpoint_auth_method": "none"}), 201).json()
    assert set(r["scope"].split()) == {"openid", "profile", "email", "offline_access"}, r
    ok(requests.post(s.url("/oauth/register"), headers=s.auth(), timeout=T, json={
        "redirect_uris": [flows.REDIRECT], "request_uris": ["https://rp.example.test/r"]}), 400)


def _authorize(s, browser, client, **params):
    verifier, challenge = flows.pkce()
    url = flows.authorize_url(s, client, "openid email", uuid.uuid4().hex, uuid.uuid4().hex,
                              challenge, **params)
    return browser.get(url, allow_redirects=False, timeout=T)


def modes_and_prompt(s):
    person = flows.sign_up(s)
    client = flows.register_client(s, scope="openid email")
    # prompt=none without consent on record: consent_required goes back (a redirect)
    r = ok(_authorize(s, person.browser, client, prompt="none"), 303)
    assert "error=consent_required" in r.headers["Location"], r.headers
    # form_post: the consent page, then a page that posts the code to the client
    page = ok(_authorize(s, person.browser, client, response_mode="form_post",
                         dpop_jkt=flows.DpopKey().jkt), 200)
    r = ok(flows.consent(s, person.browser, page), 200)
    assert "text/html" in r.headers["Content-Type"] and 'name="code"' in r.text, r.text
    assert "form-action " in r.headers["Content-Security-Policy"], r.headers
    # consent on record: prompt=none answers at once, here by a form_post page
    r = ok(_authorize(s, person.browser, client, prompt="none", response_mode="form_post",
                      max_age="3600"), 200)
    assert 'name="code"' in r.text, r.text
    # the fragment mode, and errors that go back the way the client asked
    r = ok(_authorize(s, person.browser, client, response_mode="fragment"), 303)
    assert "#code=" in r.headers["Location"], r.headers
    r = ok(_authorize(s, person.browser, client, prompt="none login"), 303)
    assert "error=invalid_request" in r.headers["Location"], r.headers
    r = ok(_authorize(s, person.browser, client, response_mode="form_post", max_age="soon"), 200)
    assert 'name="error" value="invalid_request"' in r.text, r.text
    ok(_authorize(s, person.browser, client, response_mode="mail"), 303)
    # a browser without a session: login_required, no page
    r = ok(_authorize(s, requests.Session(), client, prompt="none"), 303)
    assert "error=login_required" in r.headers["Location"], r.headers
    # the sign-in that resumes into a form_post answer
    fresh = requests.Session()
    r = ok(_authorize(s, fresh, client, response_mode="form_post", prompt="login"), 303)
    r = ok(flows.log_in(s, fresh, r.headers["Location"], person), 200)
    assert 'name="code"' in r.text, r.text


def _signer(s):
    priv = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(priv.public_key()))
    jwk.update(kid="jar-1", alg="ES256", use="sig")
    return priv, flows.register_client(s, scope="openid email", jwks={"keys": [jwk]})


def _request_object(s, c, priv, challenge):
    now = int(time.time())
    return jwt.encode({"iss": c.client_id, "aud": flows.issuer(s), "exp": now + 120, "iat": now,
                       "jti": uuid.uuid4().hex, "client_id": c.client_id,
                       "response_type": "code", "redirect_uri": c.redirect_uri,
                       "scope": "openid", "state": "jar-state", "code_challenge": challenge,
                       "code_challenge_method": "S256"},
                      priv, algorithm="ES256", headers={"kid": "jar-1"})


def request_objects(s):
    priv, c = _signer(s)
    person = flows.sign_up(s)
    _, challenge = flows.pkce()
    obj = _request_object(s, c, priv, challenge)
    page = ok(person.browser.get(s.url("/oauth/authorize"), params={
        "client_id": c.client_id, "request": obj}, allow_redirects=False, timeout=T), 200)
    r = ok(flows.consent(s, person.browser, page), 303)
    assert "state=jar-state" in r.headers["Location"], r.headers
    ok(requests.get(s.url("/oauth/authorize"), params={"client_id": c.client_id,
                                                       "request": obj[:-4] + "AAAA"},
                    allow_redirects=False, timeout=T), 400)
    ok(requests.get(s.url("/oauth/authorize"), params={
        "client_id": c.client_id, "request": obj,
        "request_uri": "urn:ietf:params:oauth:request_uri:x"}, allow_redirects=False,
        timeout=T), 400)
    # by PAR: the object alone, the client authenticated
    _, challenge = flows.pkce()
    r = ok(requests.post(s.url("/oauth/par"), auth=c.auth, timeout=T, data={
        "client_id": c.client_id, "request": _request_object(s, c, priv, challenge)}), 201)
    ok(requests.post(s.url("/oauth/par"), auth=c.auth, timeout=T, data={
        "client_id": c.client_id, "request": "not.a.jwt"}), 400)


def pushed_with_dpop(s):
    client = flows.register_client(s, scope="openid")
    key = flows.DpopKey()
    _, challenge = flows.pkce()
    form = {"response_type": "code", "client_id": client.client_id,
            "redirect_uri": client.redirect_uri, "scope": "openid",
            "code_challenge": challenge, "code_challenge_method": "S256"}
    htu = flows.issuer(s) + "/oauth/par"
    ok(requests.post(s.url("/oauth/par"), auth=client.auth, data=form, timeout=T,
                     headers={"DPoP": key.proof(htu, "POST")}), 201)
    r = ok(requests.post(s.url("/oauth/par"), auth=client.auth, data=form, timeout=T,
                         headers={"DPoP": key.proof(htu, "GET")}), 400)
    assert r.json()["error"] == "invalid_dpop_proof", r.text
    r = ok(requests.post(s.url("/oauth/par"), auth=client.auth, timeout=T,
                         data=dict(form, dpop_jkt=flows.DpopKey().jkt),
                         headers={"DPoP": key.proof(htu, "POST")}), 400)
    assert r.json()["error"] == "invalid_dpop_proof", r.text


def introspection_as_jwt(s):
    g = flows.code_flow(s, scope="openid email")
    jwt_type = {"Accept": "application/token-introspection+jwt"}
    r = ok(requests.post(s.url("/oauth/introspect"), data={"token": g.access_token},
                         auth=g.client.auth, headers=jwt_type, timeout=T), 200)
    assert r.headers["Content-Type"].startswith("application/token-introspection+jwt"), r.headers
    claims = flows.jwt_claims(r.text)
    assert claims["token_introspection"]["active"] is True, claims
    assert claims["aud"] == g.client.client_id, claims
    r = ok(requests.post(s.url("/oauth/introspect"), data={"token": "garbage"},
                         headers=dict(s.auth(), **jwt_type), timeout=T), 200)
    assert flows.jwt_claims(r.text)["token_introspection"] == {"active": False}
    ok(requests.post(s.url("/oauth/introspect"), data={"token": g.access_token},
                     auth=(g.client.client_id, "wrong"), headers=jwt_type, timeout=T), 401)


def logout(s):
    person = flows.sign_up(s)
    client = flows.register_client(s, scope="openid email", post_logout_redirect_uris=[AFTER])
    cb, verifier, _, browser = flows.authorize(s, person, client, "openid")
    t = ok(flows.redeem(s, client, cb["code"], verifier), 200).json()
    q = {"id_token_hint": t["id_token"], "post_logout_redirect_uri": AFTER, "state": "bye"}
    # asked by the relying party: the person confirms (GET and cross-site POST)
    page = ok(browser.get(s.url("/oauth/logout"), params=q, allow_redirects=False, timeout=T),
              200)
    ok(browser.post(s.url("/oauth/logout"), data={"client_id": client.client_id,
                                                 "post_logout_redirect_uri": AFTER},
                    headers={"Origin": "https://rp.example.test"}, allow_redirects=False,
                    timeout=T), 200)
    ok(browser.get(s.url("/oauth/logout"), params=dict(q, post_logout_redirect_uri=AFTER + "/"),
                   allow_redirects=False, timeout=T), 400)
    ok(browser.post(s.url("/oauth/logout"), data={"id_token_hint": "not-a-jwt"},
                    allow_redirects=False, timeout=T), 400)
    ok(browser.post(s.url("/oauth/logout"), json={"client_id": client.client_id},
                    allow_redirects=False, timeout=T), 400)
    ok(browser.post(s.url("/oauth/logout/confirm"), data={"csrf_token": "wrong"},
                    allow_redirects=False, timeout=T), 403)
    form = {n: flows.input_value(page.text, n) for n in
            ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "csrf_token")}
    r = ok(browser.post(s.url("/oauth/logout/confirm"),
                        data={k: v for k, v in form.items() if v is not None},
                        allow_redirects=False, timeout=T), 303)
    assert r.headers["Location"] == AFTER + "?state=bye", r.headers
    ok(browser.get(s.url("/api/v1/auth/me"), timeout=T), 401)
    # no session left: straight back, or the signed-out page
    ok(requests.get(s.url("/oauth/logout"), params=q, allow_redirects=False, timeout=T), 303)
    ok(requests.post(s.url("/oauth/logout"), data=q, allow_redirects=False, timeout=T), 303)
    ok(requests.post(s.url("/oauth/logout/confirm"), data={"csrf_token": "x"},
                     allow_redirects=False, timeout=T), 200)


def nonce_server():
    """A server that requires DPoP nonces: every DPoP endpoint first answers
    use_dpop_nonce with the nonce in DPoP-Nonce."""
    n = Shark(extra=["--dpop-nonce", "on"])
    n.start()
    try:
        openapi_scenario.RECORDED.append(n.url(""))
        admin = n.auth()
        app = ok(requests.post(n.url("/api/v1/apps"), headers=admin, timeout=T, json={
            "name": "nonce app", "scopes": ["vault:read"]}), 201).json()
        agent = ok(requests.post(n.url("/api/v1/agents"), headers=admin, timeout=T, json={
            "app_id": app["id"], "name": "nonce agent", "scopes": ["vault:read"]}), 201).json()
        key = flows.DpopKey()
        tok_url = flows.issuer(n) + "/oauth/token"
        form = {"grant_type": "client_credentials", "scope": "vault:read"}
        creds = (agent["client_id"], agent["client_secret"])
        r = ok(requests.post(n.url("/oauth/token"), data=form, auth=creds, timeout=T,
                             headers={"DPoP": key.proof(tok_url, "POST")}), 400)
        assert r.json()["error"] == "use_dpop_nonce" and r.headers.get("DPoP-Nonce"), r.text
        nonce = r.headers["DPoP-Nonce"]
        tok = ok(requests.post(n.url("/oauth/token"), data=form, auth=creds, timeout=T,
                               headers={"DPoP": key.proof(tok_url, "POST", nonce=nonce)}),
                 200).json()["access_token"]
        for path in ("/oauth/userinfo", "/api/v1/vault/google_gmail/token"):
            r = ok(requests.get(n.url(path), timeout=T, headers={
                "Authorization": "DPoP " + tok,
                "DPoP": key.proof(flows.issuer(n) + path, "GET", tok)}), 401)
            assert "use_dpop_nonce" in r.headers["WWW-Authenticate"], r.headers
            assert r.headers.get("DPoP-Nonce"), r.headers
        r = ok(requests.post(n.url("/oauth/par"), timeout=T, data={"response_type": "code"},
                             headers={"DPoP": key.proof(flows.issuer(n) + "/oauth/par", "POST")}),
               400)
        assert r.json()["error"] == "use_dpop_nonce", r.text
    finally:
        n.cleanup()
