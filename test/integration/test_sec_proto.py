"""Issue 13 §4, the protocol half: metadata-document fetches, device-code
guessing, password sign-in throttling, who may introspect what, the audience
of our own resource endpoints, and RS256 id_tokens. A real `shark` with its
embedded PostgreSQL over real sockets; clients at other addresses come in
through X-Forwarded-For from a trusted loopback proxy."""
import base64
import hashlib
import http.server
import json
import os
import re
import ssl
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from conftest import Shark, loopback_cert

GENERIC = "could not be fetched or is not valid"
REDIRECT = "http://127.0.0.1:9/cb"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
PASSWORD = "correct horse battery staple"


# -- helpers -------------------------------------------------------------------

def b64u(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64u_json(obj):
    return b64u(json.dumps(obj, separators=(",", ":")).encode())


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(jwt):
    h, c, _ = jwt.split(".")
    return json.loads(unb64u(h)), json.loads(unb64u(c))


def uniq(prefix="x"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def xff(addr):
    return {"X-Forwarded-For": addr}


class EcKey:
    """A P-256 key that signs DPoP proofs (RFC 9449), ath included when asked."""

    def __init__(self):
        self.priv = ec.generate_private_key(ec.SECP256R1())
        n = self.priv.public_key().public_numbers()
        self.jwk = {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")),
                    "y": b64u(n.y.to_bytes(32, "big"))}

    def proof(self, htu, htm="POST", token=None):
        claims = {"jti": str(uuid.uuid4()), "htm": htm, "htu": htu, "iat": int(time.time())}
        if token is not None:
            claims["ath"] = b64u(hashlib.sha256(token.encode()).digest())
        si = b64u_json({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}) + "." + \
            b64u_json(claims)
        r, s = decode_dss_signature(self.priv.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
        return si + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class DocServer:
    """HTTPS on loopback serving client metadata documents, optionally slowly;
    counts hits per path and the most fetches it ever had in flight."""

    def __init__(self, tmp):
        self.cert, key = loopback_cert(tmp, "sec-doc")
        self.docs, self.hits = {}, {}
        self.delay = 0.0
        self.lock = threading.Lock()
        self.now = self.peak = 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with outer.lock:
                    outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                    outer.now += 1
                    outer.peak = max(outer.peak, outer.now)
                try:
                    time.sleep(outer.delay)
                    body = outer.docs.get(self.path)
                    if body is None:
                        self.send_response(404)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with outer.lock:
                        outer.now -= 1

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.port, path)

    def put(self, path, redirect_uris=(REDIRECT,)):
        cid = self.url(path)
        self.docs[path] = json.dumps({"client_id": cid, "client_name": "sec doc",
                                      "redirect_uris": list(redirect_uris)}).encode()
        return cid


@pytest.fixture(scope="module")
def env():
    s = Shark()
    docs = DocServer(s.tmp_root)
    s.extra = ["--trusted-proxy", "127.0.0.1/32", "--webhook-allowed-hosts", "127.0.0.1",
               "--outbound-ca-file", docs.cert]
    s.start()
    yield s, docs
    s.cleanup()
    docs.httpd.shutdown()


def api(s, method, path, body=None, **kw):
    return s.request(method, path, admin=True, json=body, **kw)


def make_agent(s, scopes=("mcp:read",), **extra):
    r = api(s, "POST", "/api/v1/apps", {"name": uniq("app"),
                                        "scopes": ["mcp:read", "mcp:write", "vault:read"]})
    assert r.status_code == 201, r.text
    body = {"app_id": r.json()["id"], "name": uniq("agent"), "scopes": list(scopes)}
    body.update(extra)
    r = api(s, "POST", "/api/v1/agents", body)
    assert r.status_code == 201, r.text
    return r.json()


def cc_token(s, agent, **data):
    r = requests.post(s.url("/oauth/token"), auth=(agent["client_id"], agent["client_secret"]),
                      data=dict(data, grant_type="client_credentials"), timeout=15)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def introspect(s, token, auth=None, headers=None, data=None):
    r = requests.post(s.url("/oauth/introspect"), data=dict(data or {}, token=token), auth=auth,
                      headers=headers, timeout=15)
    assert r.status_code == 200, r.text
    return r.json()


def signup(s, addr="10.9.9.9"):
    sess = requests.Session()
    email = "%s@example.test" % uuid.uuid4().hex[:12]
    r = sess.post(s.url("/api/v1/auth/signup"), json={"email": email, "password": PASSWORD},
                  headers=xff(addr), timeout=20)
    assert r.status_code == 201, r.text
    return sess, email, r.json()["user"]["id"]


def api_login(s, email, password, addr, sess=None):
    return (sess or requests).post(s.url("/api/v1/auth/login"), timeout=30, headers=xff(addr),
                                   json={"email": email, "password": password})


def audit(s, event, target):
    r = s.get("/api/v1/audit-logs", admin=True,
              params={"event": event, "target_id": target, "limit": 200})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def register(s, admin=False, **meta):
    body = {"redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid email offline_access", "client_name": uniq("sec")}
    body.update(meta)
    r = requests.post(s.url("/oauth/register"), json=body, headers=s.auth() if admin else {},
                      timeout=15)
    assert r.status_code == 201, r.text
    return r.json()


def pkce():
    verifier = b64u(os.urandom(32))
    return verifier, b64u(hashlib.sha256(verifier.encode()).digest())


def code_flow(s, sess, client, scope="openid email offline_access", **extra):
    """Authorize, approve the consent page, redeem the code; the token response."""
    verifier, challenge = pkce()
    q = dict({"response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT,
              "scope": scope, "state": "st", "nonce": "n-0S6", "code_challenge": challenge,
              "code_challenge_method": "S256"}, **extra)
    r = sess.get(s.url("/oauth/authorize?" + urllib.parse.urlencode(q)), allow_redirects=False,
                 timeout=20)
    if r.status_code == 200:
        csrf = re.search(r'name=csrf_token value="([^"]+)"', r.text).group(1)
        req = re.search(r'name=request value="([^"]+)"', r.text).group(1)
        r = sess.post(s.url("/oauth/authorize/decision"), allow_redirects=False, timeout=10,
                      data={"request": req, "csrf_token": csrf, "decision": "approve"})
    assert r.status_code in (302, 303), r.text
    code = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["Location"]).query)["code"][0]
    r = requests.post(s.url("/oauth/token"), auth=(client["client_id"], client["client_secret"]),
                      data={"grant_type": "authorization_code", "code": code,
                            "redirect_uri": REDIRECT, "code_verifier": verifier}, timeout=15)
    assert r.status_code == 200, r.text
    return r.json()


def refusal_logged(s, cid, why):
    return any(r.get("msg") == "client metadata document refused" and r.get("client_id") == cid
               and why in r.get("error", "") for r in s.log_records())


def authorize_doc(s, cid, addr="10.5.0.1", redirect=REDIRECT):
    _, challenge = pkce()
    q = urllib.parse.urlencode({"response_type": "code", "client_id": cid, "redirect_uri": redirect,
                                "state": "st", "code_challenge": challenge,
                                "code_challenge_method": "S256"})
    return requests.get(s.url("/oauth/authorize?" + q), allow_redirects=False, timeout=30,
                        headers=xff(addr))


# -- 1. metadata-document fetches ----------------------------------------------

def test_cimd_redirect_uris_use_the_registration_validator(env):
    s, docs = env
    evil = "http://localhost.attacker.example/cb"
    cid = docs.put("/v/evil.json", redirect_uris=[evil])
    r = authorize_doc(s, cid, redirect=evil)
    assert r.status_code == 400 and "Location" not in r.headers, r.text
    assert GENERIC in r.text
    assert refusal_logged(s, cid, "may use http only for 127.0.0.1, [::1] or localhost")
    # what registration accepts still works: loopback http and https
    ok = docs.put("/v/ok.json", redirect_uris=["http://localhost:9/cb", "https://a.example/cb"])
    r = authorize_doc(s, ok, redirect="https://a.example/cb")
    assert r.status_code in (302, 303), r.text  # on to sign-in


def test_cimd_failures_answer_generically_and_rest_for_a_while(env):
    s, docs = env
    cid = docs.url("/v/later.json")
    r = authorize_doc(s, cid)
    assert r.status_code == 400 and GENERIC in r.text and "404" not in r.text, r.text
    assert refusal_logged(s, cid, "HTTP 404")
    # the document appears, but the failure is remembered: no second fetch yet
    docs.put("/v/later.json")
    r = authorize_doc(s, cid)
    assert r.status_code == 400 and GENERIC in r.text, r.text
    assert docs.hits["/v/later.json"] == 1


def test_cimd_fetches_are_bounded_per_address(env):
    s, docs = env
    docs.delay, docs.peak = 2.0, 0
    try:
        cids = [docs.put("/v/addr-%d.json" % i) for i in range(8)]
        with ThreadPoolExecutor(8) as ex:
            rs = list(ex.map(lambda c: authorize_doc(s, c, addr="10.5.1.1"), cids))
    finally:
        docs.delay = 0.0
    codes = sorted(r.status_code for r in rs)
    assert codes.count(503) == 4, codes
    assert all(c in (302, 303) for c in codes if c != 503), codes
    assert docs.peak <= 4
    busy = [r for r in rs if r.status_code == 503]
    assert "busy" in busy[0].text


def test_cimd_fetches_are_bounded_per_process(env):
    s, docs = env
    docs.delay, docs.peak = 2.0, 0
    try:
        cids = [docs.put("/v/proc-%d.json" % i) for i in range(20)]
        with ThreadPoolExecutor(20) as ex:
            rs = list(ex.map(lambda i: authorize_doc(s, cids[i], addr="10.5.2.%d" % i),
                             range(20)))
    finally:
        docs.delay = 0.0
    codes = [r.status_code for r in rs]
    assert codes.count(503) == 4, codes
    assert docs.peak == 16


def test_cimd_fetches_leave_the_thread_pool_to_passwords(env):
    """Slow documents must not hold the uv thread pool argon2 runs on."""
    s, docs = env
    _, email, _ = signup(s, addr="10.5.3.99")
    docs.delay = 4.0
    try:
        cids = [docs.put("/v/slow-%d.json" % i) for i in range(4)]
        with ThreadPoolExecutor(4) as ex:
            pending = [ex.submit(authorize_doc, s, c, "10.5.3.%d" % i) for i, c in enumerate(cids)]
            deadline = time.time() + 5
            while docs.now < 4 and time.time() < deadline:
                time.sleep(0.05)
            assert docs.now == 4
            t0 = time.time()
            r = api_login(s, email, PASSWORD, "10.5.3.98")
            took = time.time() - t0
            assert r.status_code == 200, r.text
            assert took < 2.5, took
            assert all(p.result().status_code in (302, 303) for p in pending)
    finally:
        docs.delay = 0.0


# -- 2. device flow: wrong user codes ------------------------------------------

def device_client(s):
    r = requests.post(s.url("/oauth/register"), timeout=15, json={
        "client_name": uniq("dev"), "grant_types": [DEVICE], "token_endpoint_auth_method": "none",
        "scope": "openid"})
    assert r.status_code == 201, r.text
    return r.json()["client_id"]


def device_start(s, cid):
    r = requests.post(s.url("/oauth/device_authorization"), data={"client_id": cid}, timeout=15)
    assert r.status_code == 200, r.text
    return r.json()


def person(s, addr):
    sess, email, uid = signup(s, addr)
    r = api_login(s, email, PASSWORD, addr, sess)
    assert r.status_code == 200, r.text
    return sess, r.json()["csrf_token"]


def wrong_code(real):
    c = "BCDFGHJKLMNPQRSTVWXZ"
    code = real.replace("-", "")
    return "".join(c[(c.index(ch) + 1) % 20] for ch in code)


def device_post(s, who, path, code, addr, decision=None):
    sess, csrf = who
    data = {"csrf_token": csrf, "user_code": code}
    if decision:
        data["decision"] = decision
    return sess.post(s.url(path), data=data, headers=xff(addr), timeout=15, allow_redirects=False)


def poll(s, cid, dc):
    r = requests.post(s.url("/oauth/token"), timeout=15,
                      data={"grant_type": DEVICE, "device_code": dc, "client_id": cid})
    return r.json().get("error", "granted")


def test_device_decision_counts_wrong_user_codes(env):
    s, _ = env
    cid = device_client(s)
    da = device_start(s, cid)
    guesser = person(s, "10.6.0.1")
    for _ in range(10):
        r = device_post(s, guesser, "/device/decision", wrong_code(da["user_code"]), "10.6.0.1",
                        "approve")
        assert r.status_code == 400, r.text
    r = device_post(s, guesser, "/device/decision", da["user_code"], "10.6.0.1", "approve")
    assert r.status_code == 429, r.text
    assert poll(s, cid, da["device_code"]) in ("authorization_pending", "slow_down")
    # the entry route sees the same count
    r = device_post(s, guesser, "/device", da["user_code"], "10.6.0.1")
    assert r.status_code == 429, r.text


def test_device_wrong_user_codes_count_per_address(env):
    s, _ = env
    cid = device_client(s)
    da = device_start(s, cid)
    for i in range(3):
        who = person(s, "10.6.1.1")
        for j in range(10):
            path = "/device" if j % 2 else "/device/decision"
            r = device_post(s, who, path, wrong_code(da["user_code"]), "10.6.1.1",
                            None if j % 2 else "deny")
            assert r.status_code == 400, (i, j, r.text)
    fresh = person(s, "10.6.1.1")
    r = device_post(s, fresh, "/device", da["user_code"], "10.6.1.1")
    assert r.status_code == 429, r.text
    # misses older than the window are dropped as new ones come
    s.psql("INSERT INTO device_attempts (user_id, addr_key, at) SELECT 'usr_old', 'old', "
           "now() - interval '1 hour' FROM generate_series(1, 5)")
    device_post(s, person(s, "10.6.1.3"), "/device", wrong_code(da["user_code"]), "10.6.1.3")
    assert s.psql("SELECT count(*) FROM device_attempts WHERE addr_key = 'old'").strip() == "0"
    elsewhere = person(s, "10.6.1.2")
    r = device_post(s, elsewhere, "/device", da["user_code"], "10.6.1.2")
    assert r.status_code == 200, r.text


# -- 3. login ------------------------------------------------------------------

def test_login_attempts_are_reserved_before_the_password_check(env):
    s, _ = env
    _, email, uid = signup(s)
    with ThreadPoolExecutor(20) as ex:
        rs = list(ex.map(lambda i: api_login(s, email, "wrong password %d" % i, "10.7.0.1"),
                         range(20)))
    assert sorted({r.status_code for r in rs}) == [401, 423], [r.status_code for r in rs]
    assert sum(r.status_code == 401 for r in rs) == 5
    failed, locked = audit(s, "user.login_failed", uid), audit(s, "user.locked", uid)
    assert len(failed) == 5, failed  # exactly five passwords were checked
    assert len(locked) == 1, locked
    r = api_login(s, email, PASSWORD, "10.7.0.1")
    assert r.status_code == 423, r.text


def test_login_locked_and_unknown_accounts_answer_alike(env):
    s, _ = env
    _, email, _ = signup(s)
    nobody = "%s@example.test" % uuid.uuid4().hex[:12]
    answers = {}
    for who in (email, nobody):
        seen = []
        for i in range(7):
            r = api_login(s, who, "wrong password %d" % i, "10.7.1.1")
            body = r.json()
            body["error"].pop("request_id")
            seen.append((r.status_code, body))
        answers[who] = seen
    assert answers[email] == answers[nobody]
    assert [c for c, _ in answers[email]] == [401] * 5 + [423] * 2


def test_login_lockout_holds_for_the_attackers_address_only(env):
    s, _ = env
    _, email, uid = signup(s)
    for i in range(6):
        api_login(s, email, "wrong password %d" % i, "10.7.2.1")
    assert api_login(s, email, PASSWORD, "10.7.2.1").status_code == 423
    r = api_login(s, email, PASSWORD, "10.7.2.2")
    assert r.status_code == 200, r.text
    # IPv6 neighbours share a /64
    for i in range(5):
        api_login(s, email, "wrong password %d" % i, "2001:db8:7:2::1")
    assert api_login(s, email, PASSWORD, "2001:db8:7:2::ffff").status_code == 423
    assert api_login(s, email, PASSWORD, "2001:db8:7:3::1").status_code == 200
    # lapsed counters are dropped as new attempts come
    s.psql("INSERT INTO login_throttle SELECT 'old:' || i, 9, now() - interval '1 hour' "
           "FROM generate_series(1, 5) i")
    api_login(s, email, PASSWORD, "10.7.2.3")
    assert s.psql("SELECT count(*) FROM login_throttle WHERE key LIKE 'old:%'").strip() == "0"


def test_login_account_ceiling_bounds_guesses_from_many_addresses(env):
    s, _ = env
    _, email, uid = signup(s)
    for a in range(10):
        for i in range(5):
            assert api_login(s, email, "wrong %d" % i, "10.7.3.%d" % a).status_code == 401
    assert api_login(s, email, PASSWORD, "10.7.3.200").status_code == 423
    assert len(audit(s, "user.login_failed", uid)) == 50


# -- 4. introspection ------------------------------------------------------------

def test_introspection_public_client_learns_nothing(env):
    s, _ = env
    a = make_agent(s)
    tok = cc_token(s, a)
    pub = requests.post(s.url("/oauth/register"), timeout=15, json={
        "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}).json()
    assert introspect(s, tok, data={"client_id": pub["client_id"]}) == {"active": False}
    assert introspect(s, tok, headers=s.auth())["active"] is True


def test_introspection_confidential_client_sees_only_its_own(env):
    s, _ = env
    a, b, c, d = (make_agent(s, scopes=("mcp:read", "mcp:write")) for _ in range(4))
    mine = cc_token(s, a)
    assert introspect(s, mine, auth=(a["client_id"], a["client_secret"]))["active"] is True
    assert introspect(s, mine, auth=(b["client_id"], b["client_secret"])) == {"active": False}
    # aud names B: B may see it
    for_b = cc_token(s, a, audience=b["client_id"])
    assert introspect(s, for_b, auth=(b["client_id"], b["client_secret"]))["active"] is True
    assert introspect(s, for_b, auth=(d["client_id"], d["client_secret"])) == {"active": False}
    # B exchanges it for C, C exchanges that: A is the subject, B is in the act chain
    r = requests.post(s.url("/oauth/token"), auth=(b["client_id"], b["client_secret"]),
                      timeout=15, data={"grant_type": EXCHANGE, "subject_token": for_b,
                                        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                                        "audience": c["client_id"]})
    assert r.status_code == 200, r.text
    r = requests.post(s.url("/oauth/token"), auth=(c["client_id"], c["client_secret"]),
                      timeout=15, data={"grant_type": EXCHANGE,
                                        "subject_token": r.json()["access_token"],
                                        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token"})
    assert r.status_code == 200, r.text
    chained = r.json()["access_token"]
    assert jwt_parts(chained)[1]["act"]["act"]["sub"] == b["client_id"]
    for who in (a, b, c):
        assert introspect(s, chained, auth=(who["client_id"], who["client_secret"]))["active"]
    assert introspect(s, chained, auth=(d["client_id"], d["client_secret"])) == {"active": False}


def test_introspection_resource_servers_see_everything(env):
    s, _ = env
    a, rs = make_agent(s), make_agent(s)
    tok = cc_token(s, a)
    assert rs["resource_server"] is False
    assert introspect(s, tok, auth=(rs["client_id"], rs["client_secret"])) == {"active": False}
    r = api(s, "PATCH", "/api/v1/agents/" + rs["client_id"], {"resource_server": True})
    assert r.status_code == 200 and r.json()["resource_server"] is True, r.text
    info = introspect(s, tok, auth=(rs["client_id"], rs["client_secret"]))
    assert info["active"] is True and info["client_id"] == a["client_id"]
    ev = audit(s, "agent.updated", rs["client_id"])
    assert ev[0]["metadata"]["resource_server"] is True
    # set at creation too; only a boolean
    made = make_agent(s, resource_server=True)
    assert made["resource_server"] is True
    r = api(s, "PATCH", "/api/v1/agents/" + rs["client_id"], {"resource_server": "yes"})
    assert r.status_code == 400, r.text


def test_introspection_of_refresh_tokens(env):
    s, _ = env
    sess, _, uid = signup(s)
    client, other = register(s), register(s)
    tr = code_flow(s, sess, client)
    rt = tr["refresh_token"]
    me = (client["client_id"], client["client_secret"])
    info = introspect(s, rt, auth=me)
    assert info["active"] is True and info["token_type"] == "refresh_token"
    assert info["client_id"] == client["client_id"] and info["sub"] == uid
    assert info["scope"] == "openid email offline_access"
    assert info["exp"] > time.time() + 86400
    assert introspect(s, rt, auth=(other["client_id"], other["client_secret"])) == \
        {"active": False}
    assert introspect(s, rt, headers=s.auth())["active"] is True
    # used: inactive
    r = requests.post(s.url("/oauth/token"), auth=me, timeout=15,
                      data={"grant_type": "refresh_token", "refresh_token": rt})
    assert r.status_code == 200, r.text
    assert introspect(s, rt, auth=me) == {"active": False}
    rt2 = r.json()["refresh_token"]
    assert introspect(s, rt2, auth=me)["active"] is True
    # revoked: inactive
    r = requests.post(s.url("/oauth/revoke"), auth=me, data={"token": rt2}, timeout=15)
    assert r.status_code == 200, r.text
    assert introspect(s, rt2, auth=me) == {"active": False}
    assert introspect(s, "rt_" + "x" * 43, auth=me) == {"active": False}


# -- 5. audience on our own resource endpoints ------------------------------------

def test_userinfo_accepts_only_tokens_meant_for_this_server(env):
    s, _ = env
    sess, _, uid = signup(s)
    # Only an operator-registered client may name another resource.
    client = register(s, admin=True, resources=["https://rs.example/api"])
    ours = code_flow(s, sess, client, scope="openid email")["access_token"]
    r = requests.get(s.url("/oauth/userinfo"), headers={"Authorization": "Bearer " + ours},
                     timeout=15)
    assert r.status_code == 200 and r.json()["sub"] == uid, r.text
    theirs = code_flow(s, sess, client, scope="openid email",
                       resource="https://rs.example/api")["access_token"]
    assert jwt_parts(theirs)[1]["aud"] == "https://rs.example/api"
    r = requests.get(s.url("/oauth/userinfo"), headers={"Authorization": "Bearer " + theirs},
                     timeout=15)
    assert r.status_code == 401, r.text
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_vault_accepts_only_tokens_meant_for_this_server(env):
    s, _ = env
    agent, other = make_agent(s, scopes=("vault:read",)), make_agent(s)
    key = EcKey()
    issuer = s.get("/.well-known/oauth-authorization-server").json()["issuer"]
    token_url = issuer + "/oauth/token"

    def bound(**data):
        r = requests.post(s.url("/oauth/token"), auth=(agent["client_id"], agent["client_secret"]),
                          headers={"DPoP": key.proof(token_url)}, timeout=15,
                          data=dict(data, grant_type="client_credentials", scope="vault:read"))
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def vault(tok):
        path = "/api/v1/vault/google/token"
        return requests.get(s.url(path), timeout=15, headers={
            "Authorization": "DPoP " + tok, "DPoP": key.proof(issuer + path, "GET", tok)})

    elsewhere = bound(audience=other["client_id"])
    r = vault(elsewhere)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "invalid_token"
    r = vault(bound())
    assert r.status_code != 401, r.text  # past the token check (no connection here)


# -- 6. RS256 id_tokens ----------------------------------------------------------

def rsa_verify(jwks, jwt):
    header, _ = jwt_parts(jwt)
    k = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    pub = rsa.RSAPublicNumbers(int.from_bytes(unb64u(k["e"]), "big"),
                               int.from_bytes(unb64u(k["n"]), "big")).public_key()
    si, sig = jwt.rsplit(".", 1)
    pub.verify(unb64u(sig), si.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_rs256_id_tokens(env):
    s, _ = env
    meta = s.get("/.well-known/openid-configuration").json()
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert "ES256" in meta["id_token_signing_alg_values_supported"]
    jwks = s.get("/.well-known/jwks.json").json()
    assert any(k["kty"] == "RSA" for k in jwks["keys"]), jwks
    sess, _, uid = signup(s)
    rsa_client = register(s, id_token_signed_response_alg="RS256")
    tr = code_flow(s, sess, rsa_client, scope="openid")
    header, claims = jwt_parts(tr["id_token"])
    assert header["alg"] == "RS256"
    assert claims["sub"] == uid and claims["aud"] == rsa_client["client_id"]
    rsa_verify(jwks, tr["id_token"])
    # access tokens stay on the active key; id_tokens are RS256 unless the
    # client registered the active key's alg (issue 14: OpenID's default)
    assert jwt_parts(tr["access_token"])[0]["alg"] == "ES256"
    plain = code_flow(s, sess, register(s), scope="openid")
    assert jwt_parts(plain["id_token"])[0]["alg"] == "RS256"
    es = code_flow(s, sess, register(s, id_token_signed_response_alg="ES256"), scope="openid")
    assert jwt_parts(es["id_token"])[0]["alg"] == "ES256"


def test_rs256_id_token_key_rotates_on_its_own(env):
    s, _ = env
    kids = lambda: {k["kid"]: k["kty"] for k in s.get("/.well-known/jwks.json").json()["keys"]}
    before = kids()
    r = api(s, "POST", "/api/v1/admin/keys/rotate", {"use": "id_token"})
    assert r.status_code == 201 and r.json()["alg"] == "RS256", r.text
    after = kids()
    assert r.json()["kid"] in after and set(before) <= set(after)
    r = api(s, "POST", "/api/v1/admin/keys/rotate", {"use": "id_token", "alg": "ES256"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_request"
    # the access-token key was left alone
    assert jwt_parts(cc_token(s, make_agent(s)))[0]["alg"] == "ES256"
