"""Request objects (RFC 9101, JAR; issue 14 item 14) at /oauth/authorize and
/oauth/par, signed with PyJWT by a key the client registered: their claims
are the request; anything signed otherwise, addressed elsewhere, expired or
naming another client is refused; request_uri values are PAR's only."""
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


@pytest.fixture(scope="module")
def s():
    srv = Shark()
    srv.start()
    yield srv
    srv.cleanup()


@pytest.fixture(scope="module")
def signer(s):
    priv = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(priv.public_key()))
    jwk.update(kid="jar-1", alg="ES256", use="sig")
    c = flows.register_client(s, scope="openid email", jwks={"keys": [jwk]})
    person = flows.sign_up(s)
    flows.authorize(s, person, c, "openid email", browser=person.browser)  # consent on record
    return c, priv, person


def request_object(s, c, priv, challenge, kid="jar-1", **override):
    claims = {"iss": c.client_id, "aud": flows.issuer(s), "exp": int(time.time()) + 120,
              "iat": int(time.time()), "jti": uuid.uuid4().hex, "client_id": c.client_id,
              "response_type": "code", "redirect_uri": c.redirect_uri, "scope": "openid",
              "state": "jar-state", "nonce": "jar-nonce", "code_challenge": challenge,
              "code_challenge_method": "S256", "max_age": 3600}
    claims.update(override)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, priv, algorithm="ES256", headers={"kid": kid})


def authorize_with(s, person, c, obj, **query):
    q = {"client_id": c.client_id, "request": obj}
    q.update(query)
    return person.browser.get(s.url("/oauth/authorize?" + urllib.parse.urlencode(q)),
                              allow_redirects=False, timeout=flows.TIMEOUT)


def code_of(r, c):
    assert r.status_code == 303, r.text
    loc = r.headers["Location"]
    assert loc.startswith(c.redirect_uri + "?"), loc
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))


def test_request_object_by_value(s, signer):
    c, priv, person = signer
    verifier, challenge = flows.pkce()
    # parameters outside the object are not used (RFC 9101 §5)
    r = authorize_with(s, person, c, request_object(s, c, priv, challenge), state="outside",
                       scope="openid email")
    q = code_of(r, c)
    assert q["state"] == "jar-state", q
    t = flows.redeem(s, c, q["code"], verifier)
    assert t.status_code == 200, t.text
    assert t.json()["scope"] == "openid"
    assert flows.jwt_claims(t.json()["id_token"])["nonce"] == "jar-nonce"


def test_request_object_at_par(s, signer):
    c, priv, person = signer
    verifier, challenge = flows.pkce()
    r = requests.post(s.url("/oauth/par"), auth=c.auth, timeout=flows.TIMEOUT, data={
        "client_id": c.client_id, "request": request_object(s, c, priv, challenge)})
    assert r.status_code == 201, r.text
    r = person.browser.get(s.url("/oauth/authorize?" + urllib.parse.urlencode(
        {"client_id": c.client_id, "request_uri": r.json()["request_uri"]})),
        allow_redirects=False, timeout=flows.TIMEOUT)
    q = code_of(r, c)
    assert flows.redeem(s, c, q["code"], verifier).status_code == 200


def bad_objects(s, c, priv, challenge):
    other = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    unsigned = (flows.b64u_json({"alg": "none"}) + "." + flows.b64u_json(
        {"iss": c.client_id, "aud": flows.issuer(s), "exp": now + 60, "response_type": "code"})
        + ".")
    return {
        "another key": request_object(s, c, other, challenge),
        "unknown kid": request_object(s, c, other, challenge, kid="nope"),
        "alg none": unsigned,
        "HS256": jwt.encode({"iss": c.client_id, "aud": flows.issuer(s), "exp": now + 60},
                            "a-shared-secret-of-32-bytes-....", algorithm="HS256"),
        "wrong aud": request_object(s, c, priv, challenge, aud="https://other.test"),
        "wrong iss": request_object(s, c, priv, challenge, iss="someone-else"),
        "expired": request_object(s, c, priv, challenge, exp=now - 10),
        "no exp": request_object(s, c, priv, challenge, exp=None),
        "too far": request_object(s, c, priv, challenge, exp=now + 7200),
        "other client_id": request_object(s, c, priv, challenge, client_id="client_other"),
        "nested": request_object(s, c, priv, challenge, request_uri="https://x.test/r"),
        "not a jwt": "abc.def",
    }


def test_bad_request_objects_are_refused_at_authorize(s, signer):
    c, priv, person = signer
    _, challenge = flows.pkce()
    for name, obj in bad_objects(s, c, priv, challenge).items():
        r = authorize_with(s, person, c, obj)
        assert r.status_code == 400 and "Location" not in r.headers, (name, r.text)


def test_bad_request_objects_are_refused_at_par(s, signer):
    c, priv, _ = signer
    _, challenge = flows.pkce()
    for name, obj in bad_objects(s, c, priv, challenge).items():
        r = requests.post(s.url("/oauth/par"), auth=c.auth, timeout=flows.TIMEOUT,
                          data={"client_id": c.client_id, "request": obj})
        assert r.status_code == 400, (name, r.text)
        assert_oauth_error(r.json(), "invalid_request_object")


def test_a_client_without_keys_cannot_send_request_objects(s, signer):
    _, priv, person = signer
    plain = flows.register_client(s, scope="openid")
    _, challenge = flows.pkce()
    r = authorize_with(s, person, plain, request_object(s, plain, priv, challenge))
    assert r.status_code == 400 and "no registered keys" in r.text


def test_request_and_request_uri_together_or_foreign_request_uri_are_refused(s, signer):
    c, priv, person = signer
    _, challenge = flows.pkce()
    r = authorize_with(s, person, c, request_object(s, c, priv, challenge),
                       request_uri="urn:ietf:params:oauth:request_uri:x")
    assert r.status_code == 400
    r = person.browser.get(s.url("/oauth/authorize?" + urllib.parse.urlencode(
        {"client_id": c.client_id, "request_uri": "https://client.example.test/request.jwt"})),
        allow_redirects=False, timeout=flows.TIMEOUT)
    assert r.status_code == 400 and "Location" not in r.headers


def test_registration_refuses_request_uris(s):
    r = requests.post(s.url("/oauth/register"), headers=s.auth(), timeout=10, json={
        "redirect_uris": [flows.REDIRECT], "request_uris": ["https://client.example.test/r"]})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_client_metadata"
