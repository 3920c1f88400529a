"""The real flows, for fixtures: a person signs up, a client registered by DCR
sends them through /oauth/authorize, the hosted login and consent pages, and
redeems the code with PKCE (S256); or a device client runs RFC 8628 with the
person approving at /device. What the tests then revoke or inspect was made by
the same routes a user would go through, never written with SQL.

Everything goes over HTTP to a running `shark` (the conftest `Shark`); the HTML
pages are read for their hidden inputs the way a browser would submit them.
DPoP proofs (RFC 9449) are built here with the `cryptography` package."""
import base64
import hashlib
import html
import json
import os
import re
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

REDIRECT = "http://127.0.0.1:8976/cb"
PASSWORD = "correct horse battery"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
TIMEOUT = 20


def b64u(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64u_json(obj):
    return b64u(json.dumps(obj, separators=(",", ":")).encode())


def issuer(s):
    """The server's issuer: its --issuer when started with one (nodes of a
    cluster share one), else its own URL. DPoP proofs name URLs under it."""
    args = list(s.extra)
    return args[args.index("--issuer") + 1] if "--issuer" in args else s.url("")


def jwt_claims(token):
    """The payload of a JWT, unverified (the tests verify through the server)."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def pkce():
    verifier = b64u(os.urandom(32))
    return verifier, b64u(hashlib.sha256(verifier.encode()).digest())


def input_value(page, name):
    """The value of the <input name=...> in an HTML page, or None."""
    tag = re.search(r"<input[^>]*\bname=[\"']?%s[\"']?[^>]*>" % re.escape(name), page)
    if tag is None:
        return None
    v = re.search(r"\bvalue=(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))", tag.group(0))
    if v is None:
        return None
    return html.unescape(next(g for g in v.groups() if g is not None))


class DpopKey:
    """An ES256 key and its DPoP proofs. Every claim can be overridden or
    dropped (value None) to build the malformed proofs the tests need."""

    def __init__(self):
        self.priv = ec.generate_private_key(ec.SECP256R1())
        n = self.priv.public_key().public_numbers()
        self.jwk = {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")),
                    "y": b64u(n.y.to_bytes(32, "big"))}

    @property
    def jkt(self):
        canon = json.dumps({k: self.jwk[k] for k in ("crv", "kty", "x", "y")},
                           separators=(",", ":"))
        return b64u(hashlib.sha256(canon.encode()).digest())

    def proof(self, htu, htm, token=None, **override):
        claims = {"jti": str(uuid.uuid4()), "htm": htm, "htu": htu, "iat": int(time.time())}
        if token is not None:
            claims["ath"] = b64u(hashlib.sha256(token.encode()).digest())
        claims.update(override)
        claims = {k: v for k, v in claims.items() if v is not None}
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}
        si = b64u_json(header) + "." + b64u_json(claims)
        r, s = decode_dss_signature(self.priv.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
        return si + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


@dataclass
class Person:
    id: str
    email: str
    password: str
    browser: requests.Session  # holds the session cookie
    session_id: str
    csrf: str


@dataclass
class Client:
    client_id: str
    client_secret: str  # None for a public client
    redirect_uri: str
    registration: dict

    @property
    def auth(self):
        return (self.client_id, self.client_secret) if self.client_secret else None

    def form(self, data):
        """The token-endpoint form; a public client names itself in it."""
        return dict(data, client_id=self.client_id) if self.client_secret is None else data


@dataclass
class Grant:
    person: Person
    client: Client
    consent_id: str
    access_token: str
    refresh_token: str
    id_token: str
    scope: str
    response: dict
    key: DpopKey = None
    session: Person = None  # the browser session that approved (login page)
    extra: dict = field(default_factory=dict)

    @property
    def jti(self):
        return jwt_claims(self.access_token)["jti"]


def sign_up(s, name="Flow Person", password=PASSWORD):
    """POST /api/v1/auth/signup; the person's browser keeps the session it sets."""
    b = requests.Session()
    email = "flow-%s@example.test" % uuid.uuid4().hex[:14]
    r = b.post(s.url("/api/v1/auth/signup"), json={"email": email, "password": password,
                                                   "name": name}, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    uid = r.json()["user"]["id"]
    assert uid.startswith("usr_"), r.text
    return _with_session(s, b, uid, email, password)


def _with_session(s, browser, uid, email, password):
    me = browser.get(s.url("/api/v1/auth/me"), timeout=TIMEOUT)
    assert me.status_code == 200, me.text
    assert me.json()["id"] == uid, me.text
    return Person(uid, email, password, browser, me.json()["session_id"], me.json()["csrf_token"])


def register_client(s, scope="openid email mcp:read", redirect_uri=REDIRECT, public=False,
                    grant_types=("authorization_code", "refresh_token"), **extra):
    """Dynamic client registration (RFC 7591) of a code client, by the operator
    (admin key as the Bearer credential): anonymous registration only gets the
    --dcr-scopes allowlist, and these clients ask for API scopes too."""
    body = {"client_name": "flow client %s" % uuid.uuid4().hex[:6],
            "redirect_uris": [redirect_uri], "grant_types": list(grant_types),
            "token_endpoint_auth_method": "none" if public else "client_secret_basic",
            "scope": scope}
    body.update(extra)
    r = requests.post(s.url("/oauth/register"), json=body, headers=s.auth(), timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    reg = r.json()
    return Client(reg["client_id"], reg.get("client_secret"), redirect_uri, reg)


def register_device_client(s, scope="openid mcp:read"):
    return register_client(s, scope=scope, grant_types=(DEVICE_GRANT, "refresh_token"))


def authorize_url(s, client, scope, state, nonce, challenge, redirect_uri=None, **params):
    q = {"response_type": "code", "client_id": client.client_id,
         "redirect_uri": redirect_uri or client.redirect_uri, "scope": scope, "state": state,
         "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"}
    q.update(params)
    q = {k: v for k, v in q.items() if v is not None}
    return s.url("/oauth/authorize?" + urllib.parse.urlencode(q))


def log_in(s, browser, login_location, person):
    """From a 303 to /login: the login page, then its form; returns the
    /oauth/authorize/resume answer (the consent page, or the redirect)."""
    url = urllib.parse.urljoin(s.url("/"), login_location)
    page = browser.get(url, timeout=TIMEOUT)
    assert page.status_code == 200, page.text
    assert "text/html" in page.headers["Content-Type"]
    form = {"email": person.email, "password": person.password}
    for hidden in ("login_csrf", "request", "next"):
        v = input_value(page.text, hidden)
        if v is not None:
            form[hidden] = v
    assert form.get("login_csrf"), page.text
    r = browser.post(s.url("/login"), data=form, allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 303, r.text
    nxt = urllib.parse.urljoin(s.url("/"), r.headers["Location"])
    return browser.get(nxt, allow_redirects=False, timeout=TIMEOUT)


def consent(s, browser, page, decision="approve"):
    """Submits the consent page's form as its button would."""
    assert page.status_code == 200, page.text
    form = {"request": input_value(page.text, "request"),
            "csrf_token": input_value(page.text, "csrf_token"), "decision": decision}
    assert form["request"] and form["csrf_token"], page.text
    return browser.post(s.url("/oauth/authorize/decision"), data=form, allow_redirects=False,
                        timeout=TIMEOUT)


def authorize(s, person, client, scope, browser=None, **params):
    """The front channel to the redirect back: authorize; sign in on the hosted
    login page when asked (a fresh browser always is); approve the consent page
    when shown. Returns (callback query dict, verifier, nonce, browser)."""
    browser = browser or requests.Session()
    verifier, challenge = pkce()
    state, nonce = uuid.uuid4().hex, uuid.uuid4().hex
    r = browser.get(authorize_url(s, client, scope, state, nonce, challenge, **params),
                    allow_redirects=False, timeout=TIMEOUT)
    if r.status_code == 303 and urllib.parse.urlsplit(r.headers["Location"]).path == "/login":
        r = log_in(s, browser, r.headers["Location"], person)
    if r.status_code == 200:
        r = consent(s, browser, r)
    assert r.status_code == 303, r.text
    loc = r.headers["Location"]
    assert loc.startswith(client.redirect_uri + "?"), loc
    cb = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
    assert cb.get("state") == state, loc
    assert cb.get("iss") == issuer(s), loc
    assert "code" in cb, loc
    return cb, verifier, nonce, browser


def token_request(s, client, data, key=None, dpop_token=None):
    headers = {}
    if key is not None:
        headers["DPoP"] = key.proof(issuer(s) + "/oauth/token", "POST", dpop_token)
    return requests.post(s.url("/oauth/token"), data=client.form(data), auth=client.auth,
                         headers=headers, timeout=TIMEOUT)


def redeem(s, client, code, verifier, key=None, **extra):
    return token_request(s, client, dict(extra, grant_type="authorization_code", code=code,
                                         redirect_uri=client.redirect_uri,
                                         code_verifier=verifier), key)


def refresh(s, client, refresh_token, key=None, **extra):
    return token_request(s, client, dict(extra, grant_type="refresh_token",
                                         refresh_token=refresh_token), key)


def exchange(s, client, subject_token, key=None, **extra):
    """RFC 8693: the client trades an access token it is entitled to (its own,
    or one naming it in aud) for one of its own, bound to `key` if given."""
    return token_request(s, client, dict(extra, grant_type=EXCHANGE_GRANT,
                                         subject_token=subject_token,
                                         subject_token_type=ACCESS_TOKEN_TYPE), key)


def consent_id(s, user_id, client_id):
    """The id of the person's live consent to the client (GET .../consents)."""
    r = s.request("GET", "/api/v1/users/%s/consents" % user_id, admin=True)
    assert r.status_code == 200, r.text
    ids = [c["id"] for c in r.json()["data"] if c["client_id"] == client_id]
    assert len(ids) == 1, r.text
    return ids[0]


def code_flow(s, person=None, client=None, scope="openid email mcp:read", key=None,
              **token_params):
    """sign-up → authorize → hosted login → consent → code → tokens.

    A new person and a new DCR client unless given. With `key`, the code is
    redeemed with a DPoP proof, so the tokens are bound to it; token_params
    go with the redemption (e.g. audience=<client_id> to hand the token on)."""
    person = person or sign_up(s)
    client = client or register_client(s, scope=scope)
    cb, verifier, nonce, browser = authorize(s, person, client, scope)
    r = redeem(s, client, cb["code"], verifier, key, **token_params)
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["refresh_token"].startswith("rt_"), t
    assert t["token_type"].lower() == ("dpop" if key else "bearer"), t
    # OIDC: an id_token exactly when openid was asked for
    assert ("id_token" in t) == ("openid" in scope.split()), t
    if "id_token" in t:
        assert jwt_claims(t["id_token"])["nonce"] == nonce
    approver = _with_session(s, browser, person.id, person.email, person.password)
    return Grant(person=person, client=client,
                 consent_id=consent_id(s, person.id, client.client_id),
                 access_token=t["access_token"], refresh_token=t["refresh_token"],
                 id_token=t.get("id_token"), scope=t["scope"], response=t, key=key,
                 session=approver)


def device_flow(s, person=None, client=None, scope="openid mcp:read"):
    """RFC 8628: device authorization, the person approves at /device (hosted
    login first), then the device's poll gets the tokens."""
    person = person or sign_up(s)
    client = client or register_device_client(s, scope=scope)
    r = requests.post(s.url("/oauth/device_authorization"), data={"scope": scope},
                      auth=client.auth, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    da = r.json()
    browser = requests.Session()
    r = browser.get(s.url("/device"), allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 303, r.text
    r = log_in(s, browser, r.headers["Location"], person)
    assert r.status_code == 200, r.text
    r = browser.post(s.url("/device"), data={"csrf_token": input_value(r.text, "csrf_token"),
                                             "user_code": da["user_code"]}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    r = browser.post(s.url("/device/decision"),
                     data={"csrf_token": input_value(r.text, "csrf_token"),
                           "user_code": input_value(r.text, "user_code"), "decision": "approve"},
                     timeout=TIMEOUT)
    assert r.status_code == 200 and "Device connected" in r.text, r.text
    r = token_request(s, client, {"grant_type": DEVICE_GRANT, "device_code": da["device_code"]})
    assert r.status_code == 200, r.text
    t = r.json()
    approver = _with_session(s, browser, person.id, person.email, person.password)
    return Grant(person=person, client=client, consent_id=None, access_token=t["access_token"],
                 refresh_token=t.get("refresh_token"), id_token=t.get("id_token"),
                 scope=t.get("scope"), response=t, session=approver)


def introspect(s, token):
    """Introspection with the admin key; the whole answer."""
    r = requests.post(s.url("/oauth/introspect"), data={"token": token}, headers=s.auth(),
                      timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def active(s, token):
    return introspect(s, token)["active"]
