"""Token vault: provider templates, the connect flow (session, state, PKCE, callback),
the agent's DPoP-protected token fetch with single-flight refresh, rotating refresh
tokens, invalid_grant and provider outages, the Layer 5 disconnect cascade, sealing at
rest (pg_dump holds no token) and `shark vault rekey`.

A fake OAuth provider runs inside the test on loopback (shark is started with
--webhook-allowed-hosts 127.0.0.1 so it may reach it). DPoP proofs are built here with
the `cryptography` package, independently of the server."""
import base64
import hashlib
import http.server
import json
import os
import secrets
import signal
import subprocess
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import flows
from conftest import SHARK_BIN, Shark, assert_api_error, free_port

SHARK_ARGS = ["--webhook-allowed-hosts", "127.0.0.1", "--vault-refresh-skew", "60",
              "--threads", "4"]


# -- DPoP (RFC 9449) -----------------------------------------------------------------

def b64u(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64u_json(obj):
    return b64u(json.dumps(obj, separators=(",", ":")).encode())


class EcKey:
    def __init__(self):
        self.priv = ec.generate_private_key(ec.SECP256R1())
        n = self.priv.public_key().public_numbers()
        self.jwk = {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")),
                    "y": b64u(n.y.to_bytes(32, "big"))}

    def proof(self, htu, htm, token=None):
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}
        claims = {"jti": str(uuid.uuid4()), "htm": htm, "htu": htu, "iat": int(time.time())}
        if token is not None:
            claims["ath"] = b64u(hashlib.sha256(token.encode()).digest())
        si = b64u_json(header) + "." + b64u_json(claims)
        r, s = decode_dss_signature(self.priv.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
        return si + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


# -- the fake provider -----------------------------------------------------------------

class FakeProvider:
    """A token endpoint that issues, refreshes (optionally rotating) and revokes tokens.
    mode: ok | invalid_grant | 500 | slow."""

    def __init__(self):
        self.port = free_port()
        self.lock = threading.Lock()
        self.mode = "ok"
        self.rotate = False
        self.delay = 0.5
        self.refreshes = 0
        self.requests = []
        self.codes = {}            # code -> code_challenge
        self.live_refresh = set()  # refresh tokens the provider still accepts
        self.issued = []           # every token string handed out
        self.revoked = []

    def base(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def new_token(self, kind):
        t = "%s-%s" % (kind, secrets.token_urlsafe(18))
        self.issued.append(t)
        return t

    def approve(self, challenge):
        code = "code-" + secrets.token_urlsafe(12)
        with self.lock:
            self.codes[code] = challenge
        return code

    def add_refresh(self, rt):
        with self.lock:
            self.live_refresh.add(rt)
            self.issued.append(rt)

    def handle(self, path, form, headers):
        with self.lock:
            self.requests.append({"path": path, "form": form, "headers": headers})
        if path == "/revoke":
            with self.lock:
                self.revoked.append(form.get("token"))
            return 200, {}
        if path != "/token":
            return 404, {"error": "not_found"}
        if headers.get("Authorization") != "Basic " + base64.b64encode(b"cid:csecret").decode():
            return 401, {"error": "invalid_client"}
        gt = form.get("grant_type")
        if gt == "authorization_code":
            with self.lock:
                challenge = self.codes.pop(form.get("code"), None)
            verifier = form.get("code_verifier", "")
            if challenge is None or b64u(hashlib.sha256(verifier.encode()).digest()) != challenge:
                return 400, {"error": "invalid_grant"}
            with self.lock:
                at, rt = self.new_token("at"), self.new_token("rt")
                self.live_refresh.add(rt)
            return 200, {"access_token": at, "refresh_token": rt, "expires_in": 3600,
                         "token_type": "Bearer", "scope": "read write"}
        if gt == "refresh_token":
            with self.lock:
                self.refreshes += 1
                mode = self.mode
            if mode == "500":
                return 500, {"error": "server_error"}
            if mode == "invalid_grant":
                return 400, {"error": "invalid_grant", "error_description": "revoked"}
            if mode == "slow":
                time.sleep(self.delay)
            rt = form.get("refresh_token")
            with self.lock:
                if rt not in self.live_refresh:
                    return 400, {"error": "invalid_grant", "error_description": "unknown"}
                body = {"access_token": self.new_token("at"), "expires_in": 3600,
                        "token_type": "Bearer"}
                if self.rotate:
                    self.live_refresh.discard(rt)
                    body["refresh_token"] = self.new_token("rt")
                    self.live_refresh.add(body["refresh_token"])
            return 200, body
        return 400, {"error": "unsupported_grant_type"}

    def start(self):
        prov = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                form = dict(urllib.parse.parse_qsl(raw))
                status, body = prov.handle(self.path, form, dict(self.headers))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# -- fixtures and helpers -------------------------------------------------------------

@pytest.fixture(scope="module")
def provider():
    p = FakeProvider().start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def vshark():
    s = Shark(extra=SHARK_ARGS)
    s.start()
    yield s
    s.cleanup()


def api(s, method, path, body=None, **kw):
    return s.request(method, path, admin=True, json=body, **kw)


def uniq(p):
    return "%s_%s" % (p, uuid.uuid4().hex[:8])


def make_provider(s, fake, **extra):
    body = {"id": uniq("fake"), "name": "Fake", "authorize_url": fake.base("/authorize"),
            "token_url": fake.base("/token"), "revoke_url": fake.base("/revoke"),
            "scopes": ["read", "write"], "auth_style": "basic", "client_id": "cid",
            "client_secret": "csecret"}
    body.update(extra)
    r = api(s, "POST", "/api/v1/vault/providers", body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def signup(s):
    sess = requests.Session()
    r = sess.post(s.url("/api/v1/auth/signup"), json={
        "email": "%s@example.test" % uuid.uuid4().hex[:12], "password": "Vault-Test-Password-1"},
        timeout=15)
    assert r.status_code == 201, r.text
    return sess, r.json()["user"]["id"]


def make_agent(s, user_id, scopes=("vault:read",)):
    r = api(s, "POST", "/api/v1/apps", {"name": uniq("app"), "scopes": ["vault:read", "other"]})
    assert r.status_code == 201, r.text
    body = {"app_id": r.json()["id"], "name": uniq("agent"), "scopes": list(scopes)}
    if user_id:
        body["created_by"] = user_id
    r = api(s, "POST", "/api/v1/agents", body)
    assert r.status_code == 201, r.text
    return r.json()


def agent_token(s, agent, key=None, scope="vault:read"):
    headers = {}
    if key is not None:
        headers["DPoP"] = key.proof(s.url("/oauth/token"), "POST")
    r = requests.post(s.url("/oauth/token"), data={"grant_type": "client_credentials",
                                                   "scope": scope},
                      auth=(agent["client_id"], agent["client_secret"]), headers=headers,
                      timeout=15)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def vault_fetch(s, provider_id, token, key, scheme="DPoP"):
    path = "/api/v1/vault/%s/token" % provider_id
    headers = {"Authorization": "%s %s" % (scheme, token)}
    if key is not None:
        headers["DPoP"] = key.proof(flows.issuer(s) + path, "GET", token)
    return requests.get(s.url(path), headers=headers, timeout=30)


def connect(s, user_id, provider_id, fake, expires_at, access=None, refresh=None):
    access = access or fake.new_token("at")
    refresh = refresh or fake.new_token("rt")
    fake.add_refresh(refresh)
    r = api(s, "POST", "/api/v1/vault/connections", {
        "user_id": user_id, "provider_id": provider_id, "access_token": access,
        "refresh_token": refresh, "expires_at": expires_at, "scopes": ["read"]})
    assert r.status_code == 201, r.text
    return r.json(), access, refresh


def world(s, fake, expires_in=3600, **pextra):
    """A provider, a user with a connection to it, an agent the user created, its DPoP
    key and token."""
    pid = make_provider(s, fake, **pextra)
    person = flows.sign_up(s)
    uid = person.id
    conn, access, refresh = connect(s, uid, pid, fake, int(time.time()) + expires_in)
    agent = make_agent(s, uid)
    key = EcKey()
    return {"pid": pid, "uid": uid, "person": person, "conn": conn, "access": access,
            "refresh": refresh, "agent": agent, "key": key, "token": agent_token(s, agent, key)}


def audit(s, **params):
    r = api(s, "GET", "/api/v1/audit-logs", params=dict(params, limit=200))
    assert r.status_code == 200, r.text
    return r.json()["data"]


def sealed(s, conn_id):
    return s.psql("SELECT encode(access_sealed, 'hex') || ':' || encode(refresh_sealed, 'hex') "
                  "FROM vault_connections WHERE id = '%s'" % conn_id).strip()


def expire(s, conn_id, seconds_left=5):
    s.psql("UPDATE vault_connections SET access_expires_at = now() + interval '%d seconds' "
           "WHERE id = '%s'" % (seconds_left, conn_id))


# -- providers -------------------------------------------------------------------------

def test_builtin_templates_are_listed_with_real_endpoints(vshark):
    r = api(vshark, "GET", "/api/v1/vault/providers", params={"total": "true"})
    assert r.status_code == 200, r.text
    by_id = {p["id"]: p for p in r.json()["items"]}
    for pid in ("google_gmail", "google_calendar", "google_drive", "microsoft", "slack",
                "linear", "jira", "notion"):
        assert by_id[pid]["builtin"] is True
        assert by_id[pid]["authorize_url"].startswith("https://")
        assert by_id[pid]["token_url"].startswith("https://")
    assert by_id["google_gmail"]["token_url"] == "https://oauth2.googleapis.com/token"
    assert by_id["google_gmail"]["revoke_url"] == "https://oauth2.googleapis.com/revoke"
    assert by_id["microsoft"]["revoke_url"] is None
    assert r.json()["total"] == len(r.json()["items"]) and r.json()["items"] == r.json()["data"]


def test_builtin_takes_client_credentials_but_keeps_endpoints(vshark):
    r = api(vshark, "PATCH", "/api/v1/vault/providers/google_drive",
            {"client_id": "drive-client", "client_secret": "drive-secret-value"})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["client_id"] == "drive-client" and p["client_secret_set"] is True
    assert "drive-secret-value" not in r.text
    assert "drive-secret-value" not in api(vshark, "GET", "/api/v1/vault/providers").text
    r = api(vshark, "PATCH", "/api/v1/vault/providers/google_drive",
            {"token_url": "https://evil.example/token"})
    assert r.status_code == 400
    assert api(vshark, "DELETE", "/api/v1/vault/providers/google_drive").status_code == 400


def test_custom_provider_crud(vshark, provider):
    pid = make_provider(vshark, provider)
    r = api(vshark, "GET", "/api/v1/vault/providers/" + pid)
    assert r.status_code == 200 and r.json()["builtin"] is False
    assert "csecret" not in r.text and r.json()["client_secret_set"] is True
    r = api(vshark, "PATCH", "/api/v1/vault/providers/" + pid,
            {"name": "Renamed", "auth_style": "post", "scopes": ["a", "b"]})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed" and r.json()["scopes"] == ["a", "b"]
    assert api(vshark, "POST", "/api/v1/vault/providers",
               {"id": pid, "name": "x", "authorize_url": provider.base("/a"),
                "token_url": provider.base("/t")}).status_code == 409
    assert api(vshark, "DELETE", "/api/v1/vault/providers/" + pid).status_code == 204
    assert api(vshark, "GET", "/api/v1/vault/providers/" + pid).status_code == 404


@pytest.mark.parametrize("patch", [
    {"id": "connections"}, {"id": "Bad Slug"}, {"id": ""}, {"auth_style": "magic"},
    {"token_url": "ftp://x.example/t"}, {"token_url": "http://10.0.0.1/token"},
    {"authorize_url": None}, {"scopes": "read"},
])
def test_custom_provider_rejects_bad_input(vshark, provider, patch):
    body = {"id": uniq("bad"), "name": "Bad", "authorize_url": provider.base("/authorize"),
            "token_url": provider.base("/token")}
    body.update(patch)
    body = {k: v for k, v in body.items() if v is not None}
    r = api(vshark, "POST", "/api/v1/vault/providers", body)
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")


def test_vault_admin_routes_need_the_key(vshark):
    for method, path in (("GET", "/api/v1/vault/providers"), ("GET", "/api/v1/vault/connections"),
                         ("POST", "/api/v1/vault/connections"),
                         ("DELETE", "/api/v1/vault/connections/conn_x")):
        r = vshark.request(method, path)
        assert r.status_code == 401, (method, path, r.text)


# -- the connect flow ---------------------------------------------------------------------

def test_connect_flow(vshark, provider):
    pid = make_provider(vshark, provider)
    sess, uid = signup(vshark)
    r = requests.get(vshark.url("/api/v1/vault/connect/" + pid), allow_redirects=False, timeout=15)
    assert r.status_code == 401  # no session
    r = sess.get(vshark.url("/api/v1/vault/connect/" + pid), allow_redirects=False, timeout=15)
    assert r.status_code == 302, r.text
    loc = urllib.parse.urlsplit(r.headers["Location"])
    assert loc.netloc == "127.0.0.1:%d" % provider.port and loc.path == "/authorize"
    q = dict(urllib.parse.parse_qsl(loc.query))
    assert q["response_type"] == "code" and q["client_id"] == "cid"
    assert q["redirect_uri"] == vshark.url("/api/v1/vault/callback")
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert q["scope"] == "read write" and len(q["state"]) >= 43

    # The provider redirects the browser back with a code for that challenge.
    code = provider.approve(q["code_challenge"])
    cb = "/api/v1/vault/callback?" + urllib.parse.urlencode({"code": code, "state": q["state"]})
    other, _ = signup(vshark)
    assert other.get(vshark.url(cb), timeout=15).status_code == 400  # state is bound to the user
    r = sess.get(vshark.url(cb), timeout=15)
    assert r.status_code == 200, r.text
    assert "Connected" in r.text and "text/html" in r.headers["Content-Type"]
    assert sess.get(vshark.url(cb), timeout=15).status_code == 400  # single use

    r = api(vshark, "GET", "/api/v1/vault/connections", params={"user_id": uid, "total": "true"})
    assert r.status_code == 200 and r.json()["total"] == 1
    conn = r.json()["items"][0]
    assert conn["provider_id"] == pid and conn["provider_name"] == "Fake"
    assert conn["needs_reauth"] is False and conn["scopes"] == ["read", "write"]
    assert set(conn) >= {"id", "user_id", "provider_id", "provider_name", "created_at",
                         "updated_at", "needs_reauth"}
    assert conn["id"].startswith("conn_")
    assert any(e["event"] == "vault.connection_created" and e["actor_id"] == uid
               for e in audit(vshark, target_id=conn["id"]))

    agent = make_agent(vshark, uid)
    key = EcKey()
    r = vault_fetch(vshark, pid, agent_token(vshark, agent, key), key)
    assert r.status_code == 200, r.text
    assert r.json()["access_token"] == provider.issued[-2]  # the code exchange's access token
    assert r.json()["provider"] == pid and r.json()["token_type"] == "Bearer"


def test_connect_unknown_provider_and_bad_state(vshark):
    sess, _ = signup(vshark)
    r = sess.get(vshark.url("/api/v1/vault/connect/nope_nope"), allow_redirects=False, timeout=15)
    assert r.status_code == 404
    r = sess.get(vshark.url("/api/v1/vault/connect/notion"), allow_redirects=False, timeout=15)
    assert r.status_code == 409  # no client_id configured
    r = sess.get(vshark.url("/api/v1/vault/callback?code=x&state=forged"), timeout=15)
    assert r.status_code == 400


# -- fetching ----------------------------------------------------------------------------

def test_fetch_cached_token(vshark, provider):
    w = world(vshark, provider)
    before = provider.refreshes
    r = vault_fetch(vshark, w["pid"], w["token"], w["key"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["access_token"] == w["access"] and body["provider"] == w["pid"]
    assert body["token_type"] == "Bearer" and body["expires_at"]
    assert r.headers.get("Cache-Control") == "no-store"
    assert provider.refreshes == before
    ev = [e for e in audit(vshark, target_id=w["conn"]["id"]) if e["event"] == "vault.token_fetched"]
    assert ev and ev[0]["actor_id"] == w["agent"]["client_id"]
    assert w["access"] not in json.dumps(ev) and w["refresh"] not in json.dumps(ev)
    rows = vshark.psql("SELECT client_id FROM vault_access WHERE connection_id = '%s'"
                       % w["conn"]["id"]).split()
    assert rows == [w["agent"]["client_id"]]
    r = api(vshark, "GET", "/api/v1/vault/connections/" + w["conn"]["id"])
    assert r.status_code == 200 and w["access"] not in r.text and w["refresh"] not in r.text


def test_fetch_refreshes_an_expiring_token_and_stores_rotated_refresh_tokens(vshark, provider):
    w = world(vshark, provider, expires_in=30)  # inside the 60 s skew
    provider.rotate = True
    try:
        before = provider.refreshes
        r = vault_fetch(vshark, w["pid"], w["token"], w["key"])
        assert r.status_code == 200, r.text
        first = r.json()["access_token"]
        assert first != w["access"] and provider.refreshes == before + 1
        # Fresh now: served from the vault without another refresh.
        r = vault_fetch(vshark, w["pid"], w["token"], w["key"])
        assert r.json()["access_token"] == first and provider.refreshes == before + 1
        # The old refresh token was rotated away at the provider: a second refresh only
        # works if the rotated one was stored.
        assert w["refresh"] not in provider.live_refresh
        expire(vshark, w["conn"]["id"])
        r = vault_fetch(vshark, w["pid"], w["token"], w["key"])
        assert r.status_code == 200, r.text
        assert r.json()["access_token"] not in (first, w["access"])
        assert provider.refreshes == before + 2
    finally:
        provider.rotate = False


def test_invalid_grant_marks_needs_reauth(vshark, provider):
    w = world(vshark, provider, expires_in=10)
    provider.mode = "invalid_grant"
    try:
        r = vault_fetch(vshark, w["pid"], w["token"], w["key"])
    finally:
        provider.mode = "ok"
    assert r.status_code == 409, r.text
    assert_api_error(r.json(), "needs_reauth")
    r = api(vshark, "GET", "/api/v1/vault/connections/" + w["conn"]["id"])
    assert r.json()["needs_reauth"] is True
    ev = [e for e in audit(vshark, target_id=w["conn"]["id"]) if e["event"] == "vault.refresh_failed"]
    assert ev and ev[0]["metadata"]["needs_reauth"] is True
    # Stays refused without calling the provider again.
    before = provider.refreshes
    assert vault_fetch(vshark, w["pid"], w["token"], w["key"]).status_code == 409
    assert provider.refreshes == before


def test_provider_outage_is_502_and_keeps_tokens(vshark, provider):
    w = world(vshark, provider, expires_in=10)
    stored = sealed(vshark, w["conn"]["id"])
    provider.mode = "500"
    try:
        r = vault_fetch(vshark, w["pid"], w["token"], w["key"])
    finally:
        provider.mode = "ok"
    assert r.status_code == 502, r.text
    assert sealed(vshark, w["conn"]["id"]) == stored
    assert api(vshark, "GET", "/api/v1/vault/connections/" + w["conn"]["id"]).json()[
        "needs_reauth"] is False
    # The provider is back: the kept refresh token works.
    r = vault_fetch(vshark, w["pid"], w["token"], w["key"])
    assert r.status_code == 200, r.text


def test_unreachable_provider_is_502(vshark, provider):
    w = world(vshark, provider, expires_in=10)
    dead = "http://127.0.0.1:%d/token" % free_port()
    assert api(vshark, "PATCH", "/api/v1/vault/providers/" + w["pid"],
               {"token_url": dead}).status_code == 200
    r = vault_fetch(vshark, w["pid"], w["token"], w["key"])
    assert r.status_code == 502, r.text


def test_fifty_concurrent_fetches_refresh_once(vshark, provider):
    w = world(vshark, provider, expires_in=10)
    provider.mode = "slow"
    before = provider.refreshes
    try:
        with ThreadPoolExecutor(50) as ex:
            rs = list(ex.map(lambda _: vault_fetch(vshark, w["pid"], w["token"], w["key"]),
                             range(50)))
    finally:
        provider.mode = "ok"
    assert [r.status_code for r in rs] == [200] * 50, [r.text for r in rs if r.status_code != 200]
    assert len({r.json()["access_token"] for r in rs}) == 1
    assert rs[0].json()["access_token"] != w["access"]
    assert provider.refreshes == before + 1


# -- who may fetch -----------------------------------------------------------------------

def test_wrong_dpop_key_bearer_and_garbage_are_401(vshark, provider):
    w = world(vshark, provider)
    r = vault_fetch(vshark, w["pid"], w["token"], EcKey())
    assert r.status_code == 401, r.text
    r = vault_fetch(vshark, w["pid"], w["token"], None, scheme="Bearer")
    assert r.status_code == 401
    plain = agent_token(vshark, w["agent"])  # not DPoP-bound
    r = vault_fetch(vshark, w["pid"], plain, None, scheme="Bearer")
    assert r.status_code == 401, r.text
    assert_api_error(r.json(), "invalid_token")
    assert vault_fetch(vshark, w["pid"], "not.a.token", w["key"]).status_code == 401
    assert requests.get(vshark.url("/api/v1/vault/%s/token" % w["pid"]), timeout=15).status_code == 401


def test_missing_scope_is_403(vshark, provider):
    w = world(vshark, provider)
    agent = make_agent(vshark, w["uid"], scopes=("vault:read", "other"))
    key = EcKey()
    r = vault_fetch(vshark, w["pid"], agent_token(vshark, agent, key, scope="other"), key)
    assert r.status_code == 403, r.text


def test_other_users_connection_is_404_and_strangers_403(vshark, provider):
    w = world(vshark, provider)
    _, other_uid = signup(vshark)
    other_agent = make_agent(vshark, other_uid)
    key = EcKey()
    r = vault_fetch(vshark, w["pid"], agent_token(vshark, other_agent, key), key)
    assert r.status_code == 404, r.text
    assert_api_error(r.json(), "not_found")
    orphan = make_agent(vshark, None)  # created by nobody: acts for no user
    r = vault_fetch(vshark, w["pid"], agent_token(vshark, orphan, key), key)
    assert r.status_code == 403, r.text
    assert_api_error(r.json(), "forbidden")


def test_consent_authorises_an_app_the_user_did_not_create(vshark, provider):
    """The person approves an app (DCR) for vault:read on the consent page; the
    app's DPoP-bound token acts for them until the consent is revoked."""
    w = world(vshark, provider)
    app = flows.register_client(vshark, scope="vault:read")
    key = EcKey()
    g = flows.code_flow(vshark, person=w["person"], client=app, scope="vault:read", key=key)
    r = vault_fetch(vshark, w["pid"], g.access_token, key)
    assert r.status_code == 200, r.text
    assert r.json()["access_token"] == w["access"]
    ev = [e for e in audit(vshark, target_id=w["conn"]["id"])
          if e["event"] == "vault.token_fetched"]
    assert [e["actor_id"] for e in ev] == [app.client_id]
    # another person's approval of the same app reaches only their own connection
    stranger = flows.code_flow(vshark, client=app, scope="vault:read", key=key)
    r = vault_fetch(vshark, w["pid"], stranger.access_token, key)
    assert r.status_code == 404, r.text
    assert_api_error(r.json(), "not_found")
    r = api(vshark, "DELETE", "/api/v1/users/%s/consents/%s" % (w["uid"], g.consent_id))
    assert r.status_code == 204, r.text
    r = vault_fetch(vshark, w["pid"], g.access_token, key)
    assert r.status_code == 401, r.text
    assert_api_error(r.json(), "invalid_token")


# -- disconnect (Layer 5) ------------------------------------------------------------------

def introspect(s, token):
    r = requests.post(s.url("/oauth/introspect"), data={"token": token}, headers=s.auth(),
                      timeout=15)
    assert r.status_code == 200, r.text
    return r.json()


def test_disconnect_cascades_to_agents(vshark, provider):
    w = world(vshark, provider)
    assert vault_fetch(vshark, w["pid"], w["token"], w["key"]).status_code == 200
    bystander = make_agent(vshark, w["uid"])
    bkey = EcKey()
    btoken = agent_token(vshark, bystander, bkey)
    r = api(vshark, "DELETE", "/api/v1/vault/connections/" + w["conn"]["id"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["connection_id"] == w["conn"]["id"]
    assert body["revoked_agent_ids"] == [w["agent"]["client_id"]]
    assert body["revoked_token_count"] >= 1
    assert body["cascade_audit_event_id"].startswith("audit_")
    ev = [e for e in audit(vshark, target_id=w["conn"]["id"])
          if e["event"] == "vault.connection_disconnected"]
    assert ev and ev[0]["id"] == body["cascade_audit_event_id"]
    assert introspect(vshark, w["token"])["active"] is False
    assert introspect(vshark, btoken)["active"] is True  # never fetched
    assert vault_fetch(vshark, w["pid"], w["token"], w["key"]).status_code == 401
    assert api(vshark, "GET", "/api/v1/vault/connections/" + w["conn"]["id"]).status_code == 404
    # Best effort at the provider: its revocation endpoint gets the refresh token.
    deadline = time.time() + 5
    while w["refresh"] not in provider.revoked and time.time() < deadline:
        time.sleep(0.05)
    assert w["refresh"] in provider.revoked
    assert api(vshark, "DELETE", "/api/v1/vault/connections/" + w["conn"]["id"]).status_code == 404


def test_disconnect_without_cascade(vshark, provider):
    w = world(vshark, provider)
    assert vault_fetch(vshark, w["pid"], w["token"], w["key"]).status_code == 200
    r = api(vshark, "DELETE", "/api/v1/vault/connections/%s?cascade_to_agents=false"
            % w["conn"]["id"])
    assert r.status_code == 200, r.text
    assert r.json()["revoked_agent_ids"] == [] and r.json()["revoked_token_count"] == 0
    assert r.json()["cascade_audit_event_id"] is None
    assert introspect(vshark, w["token"])["active"] is True
    assert vault_fetch(vshark, w["pid"], w["token"], w["key"]).status_code == 404
    assert api(vshark, "DELETE", "/api/v1/vault/connections/x?cascade_to_agents=maybe"
               ).status_code == 400


# -- connections admin ---------------------------------------------------------------------

def test_connection_create_validation_and_listing(vshark, provider):
    pid = make_provider(vshark, provider)
    _, uid = signup(vshark)
    bad = [{}, {"user_id": uid, "provider_id": pid},
           {"user_id": uid, "provider_id": pid, "access_token": "a", "expires_at": "not a date"},
           {"user_id": uid, "provider_id": pid, "access_token": 5}]
    for b in bad:
        assert api(vshark, "POST", "/api/v1/vault/connections", b).status_code == 400, b
    assert api(vshark, "POST", "/api/v1/vault/connections",
               {"user_id": "usr_nobody", "provider_id": pid, "access_token": "a"}).status_code == 404
    assert api(vshark, "POST", "/api/v1/vault/connections",
               {"user_id": uid, "provider_id": "nope", "access_token": "a"}).status_code == 404
    c, _, _ = connect(vshark, uid, pid, provider, "2030-01-01T00:00:00Z")
    assert c["expires_at"].startswith("2030-01-01")
    r = api(vshark, "GET", "/api/v1/vault/connections", params={"provider_id": pid})
    assert r.status_code == 200 and [x["id"] for x in r.json()["items"]] == [c["id"]]
    r = api(vshark, "GET", "/api/v1/vault/connections", params={"limit": 1, "total": "true"})
    assert r.status_code == 200 and len(r.json()["items"]) == 1 and r.json()["total"] >= 1
    # A reconnect keeps the connection's id and replaces its tokens.
    c2, _, _ = connect(vshark, uid, pid, provider, 1900000000)
    assert c2["id"] == c["id"]



def list_all(s, **params):
    """Every connection the filters select, page by page (limit 1) by cursor."""
    seen, cursor = [], None
    for _ in range(100):
        q = dict(params, limit=1, **({"cursor": cursor} if cursor else {}))
        r = api(s, "GET", "/api/v1/vault/connections", params=q)
        assert r.status_code == 200, r.text
        seen += r.json()["data"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the pages never ended")


def test_needs_reauth_filter(vshark, provider):
    """The provider refuses two users' refresh tokens; the needs_reauth filter lists
    exactly those, beside provider_id and user_id and through cursor pages."""
    pid = make_provider(vshark, provider)
    conns = []
    for _ in range(5):
        uid = flows.sign_up(vshark).id
        conn, _, _ = connect(vshark, uid, pid, provider, int(time.time()) + 10)
        agent = make_agent(vshark, uid)
        key = EcKey()
        conns.append((conn, agent_token(vshark, agent, key), key))
    stale = {conns[1][0]["id"], conns[3][0]["id"]}
    provider.mode = "invalid_grant"
    try:
        for conn, token, key in conns:
            if conn["id"] in stale:
                assert vault_fetch(vshark, pid, token, key).status_code == 409
    finally:
        provider.mode = "ok"
    ids = {c["id"] for c, _, _ in conns}

    got = list_all(vshark, provider_id=pid, needs_reauth="true")
    assert sorted(x["id"] for x in got) == sorted(stale)
    assert all(x["needs_reauth"] is True for x in got)
    got = list_all(vshark, provider_id=pid, needs_reauth="false")
    assert sorted(x["id"] for x in got) == sorted(ids - stale)
    assert all(x["needs_reauth"] is False for x in got)
    # Alone it spans providers: ours are among them, and nothing fresh is.
    got = list_all(vshark, needs_reauth="true")
    assert len({x["id"] for x in got}) == len(got)
    assert stale <= {x["id"] for x in got} and all(x["needs_reauth"] for x in got)
    assert not (ids - stale) & {x["id"] for x in got}
    # With user_id, and with an exact total.
    one = conns[1][0]
    r = api(vshark, "GET", "/api/v1/vault/connections",
            params={"user_id": one["user_id"], "needs_reauth": "true", "total": "true"})
    assert [x["id"] for x in r.json()["data"]] == [one["id"]] and r.json()["total"] == 1
    r = api(vshark, "GET", "/api/v1/vault/connections",
            params={"user_id": one["user_id"], "needs_reauth": "false", "total": "true"})
    assert r.json()["data"] == [] and r.json()["total"] == 0 and r.json()["items"] == []
    r = api(vshark, "GET", "/api/v1/vault/connections",
            params={"provider_id": pid, "needs_reauth": "true", "total": "true", "limit": 1})
    assert r.json()["total"] == 2 and len(r.json()["data"]) == 1 and r.json()["next_cursor"]

    for bad in ("yes", "1", "", "TRUE", "true,false"):
        r = api(vshark, "GET", "/api/v1/vault/connections", params={"needs_reauth": bad})
        assert r.status_code == 400, bad
        assert_api_error(r.json(), "invalid_request")
        assert "needs_reauth" in r.json()["error"]["message"]


# -- at rest ------------------------------------------------------------------------------

def pg_dump(s):
    r = subprocess.run(["pg_dump", "host=%s dbname=shark user=shark" % s.pg_socket_dir],
                       capture_output=True, text=True, timeout=120, env=s.pg_env())
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_pg_dump_holds_no_plaintext_token(vshark, provider):
    world(vshark, provider)  # at least one connection exists
    dump = pg_dump(vshark)
    assert "vault_connections" in dump
    leaked = [t for t in provider.issued if t in dump]
    assert leaked == []
    assert "csecret" not in dump and "drive-secret-value" not in dump


def test_rekey(shark_factory, provider):
    s = shark_factory(extra=SHARK_ARGS)
    s.start()
    w = world(s, provider)
    assert vault_fetch(s, w["pid"], w["token"], w["key"]).status_code == 200
    assert s.stop() == 0
    s.wait_embedded_pg_gone()
    old = open(os.path.join(s.data_dir, "master.key")).read().strip()
    new = secrets.token_hex(32)
    kf = os.path.join(s.tmp_root, "new.key")
    with open(kf, "w") as f:
        f.write(new + "\n")
    r = subprocess.run([SHARK_BIN, "vault", "rekey", "--new-master-key-file", kf,
                        "--data-dir", s.data_dir], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "re-sealed" in r.stdout
    assert open(os.path.join(s.data_dir, "master.key")).read().strip() == new != old
    s.start()
    # Signing keys, provider secrets and connection tokens all open under the new key.
    key = EcKey()
    token = agent_token(s, w["agent"], key)
    r = vault_fetch(s, w["pid"], token, key)
    assert r.status_code == 200, r.text
    assert r.json()["access_token"] == w["access"]
    expire(s, w["conn"]["id"])
    r = vault_fetch(s, w["pid"], token, key)
    assert r.status_code == 200, r.text  # refresh: provider secret and refresh token opened


def test_sigterm_during_a_refresh_drains(shark_factory, provider):
    s = shark_factory(extra=SHARK_ARGS)
    s.start()
    w = world(s, provider, expires_in=10)
    provider.mode, provider.delay = "slow", 1.5
    try:
        with ThreadPoolExecutor(1) as ex:
            fut = ex.submit(vault_fetch, s, w["pid"], w["token"], w["key"])
            time.sleep(0.5)
            s.send_signal(signal.SIGTERM)
            r = fut.result()
            assert s.proc.wait(20) == 0
    finally:
        provider.mode, provider.delay = "ok", 0.5
    # The refresh in flight finished and was answered before the process ended.
    assert r.status_code == 200, r.text
