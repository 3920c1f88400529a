"""Fixtures of the SDK suite: a real `shark` (the binary in SHARK_BIN, default
build/shark of this checkout) on a throwaway embedded database, and the
browser steps a person takes (sign-up, hosted login, consent, device
approval) done over HTTP the way a browser would. Nothing is mocked: every
SDK call goes over a socket to the running server."""
from __future__ import annotations

import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from typing import Dict, List, Optional

import httpx
import pytest

from shark_auth import Client, DPoPProver, OAuthClient

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
SHARK_BIN = os.environ.get("SHARK_BIN", os.path.join(REPO, "build", "shark"))
PASSWORD = "correct horse battery staple"
REDIRECT = "http://127.0.0.1:8976/cb"
TIMEOUT = 30.0


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Shark:
    """One `shark serve` on 127.0.0.1 with its own data dir (embedded PostgreSQL)."""

    def __init__(self, *extra: str) -> None:
        self.root = tempfile.mkdtemp(prefix="shark-sdk-py-")
        os.chmod(self.root, 0o711)  # the embedded cluster runs as postgres
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        self.extra = list(extra)
        self.url = "http://127.0.0.1:%d" % self.port
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHARK_")}
        self.err_path = os.path.join(self.root, "stderr.log")
        with open(os.path.join(self.root, "stdout.log"), "wb") as out, \
                open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [SHARK_BIN, "serve", "--listen", "127.0.0.1:%d" % self.port, "--data-dir",
                 self.data, "--threads", "2"] + self.extra,
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        deadline = time.time() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("shark exited %s:\n%s" % (self.proc.returncode, self.stderr()))
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("shark not healthy:\n" + self.stderr())
            time.sleep(0.1)
        with open(os.path.join(self.data, "admin.key.firstboot")) as f:
            self.admin_key = f.read().strip()

    def stderr(self) -> str:
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.root, ignore_errors=True)

    def halt(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        pidfile = os.path.join(self.data, "pg", "data", "postmaster.pid")
        if os.path.exists(pidfile):  # the embedded cluster outlived shark: stop it
            try:
                with open(pidfile) as f:
                    os.kill(int(f.readline()), signal.SIGQUIT)
                time.sleep(1)
            except (OSError, ValueError):
                pass

    def api(self, method: str, path: str, **kw) -> httpx.Response:
        """A raw admin call, for set-up the SDK does not offer (vault connections)."""
        kw.setdefault("timeout", TIMEOUT)
        h = kw.pop("headers", {})
        h["Authorization"] = "Bearer " + self.admin_key
        return httpx.request(method, self.url + path, headers=h, **kw)


# -- no secret in the server's logs ---------------------------------------------------
# Every secret that crosses the wire during the suite (credentials sent, tokens and
# secrets received) is recorded from httpx, which every SDK call goes through; each
# Shark's logs are scanned for them before its directory is removed.
SECRETS: set = set()
SECRET_FIELDS = ("client_secret", "access_token", "refresh_token", "id_token", "secret",
                 "device_code", "registration_access_token")
RUN = re.compile(r"[A-Za-z0-9_-]{16,}")
BANNER = re.compile(r"\n  SharkAuth first boot\..*?\n\n.*?\n", re.S)


def _piece(secret: str) -> Optional[str]:
    """The part of a secret to look for: a JWT's signature, else its longest run."""
    if secret.count(".") == 2:
        secret = secret.rsplit(".", 1)[1]
    runs = RUN.findall(secret)
    return max(runs, key=len) if runs else None


def _record(v) -> None:
    if isinstance(v, str):
        p = _piece(v)
        if p:
            SECRETS.add(p)


_orig_send = httpx.Client.send


def _recording_send(self, request, *a, **kw):
    authz = request.headers.get("Authorization", "")
    if " " in authz:
        scheme, cred = authz.split(" ", 1)
        if scheme.lower() == "basic":
            import base64 as _b64
            cred = _b64.b64decode(cred).decode("latin-1").split(":", 1)[-1]
        _record(cred)
    resp = _orig_send(self, request, *a, **kw)
    if "json" in resp.headers.get("Content-Type", ""):
        try:
            resp.read()
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            for k in SECRET_FIELDS:
                _record(body.get(k))
    return resp


httpx.Client.send = _recording_send  # the suite's httpx, SDK calls included


def assert_no_secret_logged(s: "Shark") -> None:
    logs = []
    for dirpath, _, files in os.walk(s.root):
        for f in files:
            if f.endswith(".log"):
                with open(os.path.join(dirpath, f), "rb") as fh:
                    text = fh.read().decode("utf-8", "replace")
                if f == "stdout.log":
                    text = BANNER.sub("\n", text, count=1)
                logs.append((f, text))
    assert logs, "no server log found to scan"
    assert SECRETS, "no secret was recorded: the scan would look at nothing"
    leaks = []
    for name, text in logs:
        runs = set(RUN.findall(text))
        for secret in SECRETS:
            if any(secret in r for r in runs):
                leaks.append((name, secret[:6] + "..."))
    assert not leaks, "secrets in server logs: %r" % leaks


@pytest.fixture(scope="session")
def shark():
    s = Shark("--rate-limit", "0", "--webhook-allowed-hosts", "127.0.0.1")
    yield s
    finish(s)


def finish(s: "Shark") -> None:
    """Stop the server, then scan its logs, then remove its directory."""
    s.halt()
    try:
        assert_no_secret_logged(s)
    finally:
        s.stop()


@pytest.fixture(scope="session")
def admin(shark) -> Client:
    c = Client(base_url=shark.url, token=shark.admin_key)
    yield c
    c.close()


def uniq(prefix: str) -> str:
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


@pytest.fixture(scope="session")
def app(admin) -> Dict:
    return admin.apps.create_app(
        name=uniq("sdk-app"),
        scopes=["mcp:read", "mcp:write", "vault:read", "docs:read", "code:execute"],
        resources=["http://127.0.0.1:1/never", "https://docs.internal"])


@pytest.fixture
def user(admin) -> Dict:
    return admin.users.create_user(email=uniq("u") + "@example.test", name="Test User")


@pytest.fixture
def make_agent(admin, app):
    def make(scopes=("mcp:read", "mcp:write"), **kw):
        return admin.agents.register_agent(app_id=app["id"], name=uniq("agent"),
                                           scopes=list(scopes), **kw)
    return make


def agent_token(shark, agent, prover=None, scope="mcp:read mcp:write", **kw):
    oauth = OAuthClient(shark.url)
    if prover is None:
        return oauth.get_token(client_id=agent["client_id"], client_secret=agent["client_secret"],
                               scope=scope, **kw)
    return oauth.get_token_with_dpop(grant_type="client_credentials", dpop_prover=prover,
                                     client_id=agent["client_id"],
                                     client_secret=agent["client_secret"], scope=scope, **kw)


# -- a person in a browser ------------------------------------------------------------

def input_value(page: str, name: str) -> Optional[str]:
    tag = re.search(r"<input[^>]*\bname=[\"']?%s[\"']?[^>]*>" % re.escape(name), page)
    if tag is None:
        return None
    v = re.search(r"\bvalue=(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))", tag.group(0))
    return None if v is None else html.unescape(next(g for g in v.groups() if g is not None))


class Person:
    def __init__(self, shark: Shark) -> None:
        self.shark = shark
        self.email = uniq("person") + "@example.test"
        self.browser = httpx.Client(base_url=shark.url, timeout=TIMEOUT)
        r = self.browser.post("/api/v1/auth/signup", json={
            "email": self.email, "password": PASSWORD, "name": "Alice"})
        assert r.status_code == 201, r.text
        self.id = r.json()["user"]["id"]
        self.logged_in = False

    def _login_if_asked(self, r: httpx.Response) -> httpx.Response:
        if r.status_code == 303 and urllib.parse.urlsplit(r.headers["Location"]).path == "/login":
            page = self.browser.get(r.headers["Location"])
            form = {"email": self.email, "password": PASSWORD}
            for hidden in ("login_csrf", "request", "next"):
                v = input_value(page.text, hidden)
                if v is not None:
                    form[hidden] = v
            r = self.browser.post("/login", data=form)
            assert r.status_code == 303, r.text
            r = self.browser.get(r.headers["Location"])
        return r

    def authorize(self, client_id: str, scope: str, **params) -> Dict[str, str]:
        """Authorization code with PKCE through the hosted login and consent; the callback query."""
        import base64
        import hashlib
        verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        q = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
             "scope": scope, "state": uuid.uuid4().hex, "code_challenge": challenge,
             "code_challenge_method": "S256"}
        q.update(params)
        r = self._login_if_asked(self.browser.get("/oauth/authorize?" + urllib.parse.urlencode(q)))
        if r.status_code == 200:  # the consent page
            r = self.browser.post("/oauth/authorize/decision", data={
                "request": input_value(r.text, "request"),
                "csrf_token": input_value(r.text, "csrf_token"), "decision": "approve"})
        assert r.status_code == 303, r.text
        cb = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))
        assert cb.get("code"), r.headers["Location"]
        cb["code_verifier"] = verifier
        return cb

    def approve_device(self, user_code: str) -> None:
        r = self._login_if_asked(self.browser.get("/device"))
        assert r.status_code == 200, r.text
        r = self.browser.post("/device", data={"csrf_token": input_value(r.text, "csrf_token"),
                                               "user_code": user_code})
        assert r.status_code == 200, r.text
        r = self.browser.post("/device/decision", data={
            "csrf_token": input_value(r.text, "csrf_token"),
            "user_code": input_value(r.text, "user_code"), "decision": "approve"})
        assert r.status_code == 200 and "Device connected" in r.text, r.text


def register_code_client(shark: Shark, scope: str, grant_types=("authorization_code",
                                                                 "refresh_token")) -> Dict:
    """DCR by the operator (admin key), so the client may ask for API scopes."""
    r = httpx.post(shark.url + "/oauth/register", headers={
        "Authorization": "Bearer " + shark.admin_key}, json={
        "client_name": uniq("code-client"), "redirect_uris": [REDIRECT],
        "grant_types": list(grant_types), "token_endpoint_auth_method": "client_secret_basic",
        "scope": scope}, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json()


def user_delegated_token(shark: Shark, person: Person, scope: str, prover: DPoPProver,
                         audience: Optional[str] = None):
    """A person's token through a code client, bound to `prover`, optionally
    naming an agent in aud so the agent may exchange it. Returns (client, TokenResponse)."""
    client = register_code_client(shark, scope)
    cb = person.authorize(client["client_id"], scope)
    form = {"grant_type": "authorization_code", "code": cb["code"], "redirect_uri": REDIRECT,
            "code_verifier": cb["code_verifier"]}
    if audience:
        form["audience"] = audience
    r = httpx.post(shark.url + "/oauth/token", data=form,
                   auth=(client["client_id"], client["client_secret"]),
                   headers={"DPoP": prover.make_proof("POST", shark.url + "/oauth/token")},
                   timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    from shark_auth.oauth import _token_response
    return client, _token_response(r.json())


@pytest.fixture
def person(shark) -> Person:
    p = Person(shark)
    yield p
    p.browser.close()


def run_example(args: List[str], env: Dict[str, str], **kw) -> subprocess.Popen:
    e = dict(os.environ)
    e.update(env)
    return subprocess.Popen([sys.executable] + args, env=e, cwd=REPO, **kw)


class WSGIServer:
    """A threaded wsgiref server on 127.0.0.1 for a resource server under test."""

    def __init__(self, app) -> None:
        import threading
        from socketserver import ThreadingMixIn
        from wsgiref.simple_server import WSGIRequestHandler, WSGIServer as _Base, make_server

        class Quiet(WSGIRequestHandler):
            def log_message(self, *a):  # keep pytest output clean
                pass

        class Threaded(ThreadingMixIn, _Base):
            daemon_threads = True

        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.httpd = make_server("127.0.0.1", self.port, app, server_class=Threaded,
                                 handler_class=Quiet)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def json_app(routes):
    """A tiny WSGI app: {path: fn(environ) -> (status, obj)}; 404 otherwise."""
    import json as _json

    def app(environ, start_response):
        fn = routes.get(environ.get("PATH_INFO"))
        status, obj = (404, {"error": "not_found"}) if fn is None else fn(environ)
        body = _json.dumps(obj).encode()
        start_response("%d X" % status, [("Content-Type", "application/json"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    return app


def whoami(environ):
    c = environ["shark_auth.claims"]
    return 200, {"sub": c.sub, "client_id": c.client_id, "scope": c.scope,
                 "chain": [h.sub for h in c.delegation_chain], "method":
                 environ["REQUEST_METHOD"]}
