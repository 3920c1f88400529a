"""Client ID Metadata Documents: an https client_id is resolved by fetching its
document (private-address safe, size-capped, cached), and the code flow runs
with it like with a registered public client."""
import base64
import hashlib
import http.server
import json
import os
import re
import ssl
import threading
import urllib.parse

import pytest
import requests

from conftest import Shark, loopback_cert


class DocServer:
    """An HTTPS server on loopback serving client metadata documents."""

    def __init__(self, tmp):
        self.cert, key = loopback_cert(tmp, "doc")
        self.docs = {}
        self.hits = {}
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                body, headers = outer.docs.get(self.path, (None, {}))
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

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

    def put(self, path, doc, headers=None, raw=None):
        body = raw if raw is not None else json.dumps(doc).encode()
        self.docs[path] = (body, headers or {})
        return self.url(path)


@pytest.fixture(scope="module")
def env():
    s = Shark()
    docs = DocServer(s.tmp_root)
    s.extra = ["--webhook-allowed-hosts", "127.0.0.1", "--outbound-ca-file", docs.cert]
    s.start()
    yield s, docs
    s.stop()
    docs.httpd.shutdown()


def pkce():
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(s, client_id, redirect, challenge, scope="openid"):
    q = urllib.parse.urlencode({"response_type": "code", "client_id": client_id,
                                "redirect_uri": redirect, "scope": scope, "state": "st",
                                "code_challenge": challenge, "code_challenge_method": "S256"})
    return requests.get(s.url("/oauth/authorize?" + q), allow_redirects=False, timeout=20)


GENERIC = "could not be fetched or is not valid"


def refusal_logged(s, cid, why):
    """The exact cause of a refused document is in the log (never in the answer)."""
    return any(r.get("msg") == "client metadata document refused" and r.get("client_id") == cid
               and why in r.get("error", "") for r in s.log_records())


def test_metadata_advertises_support(env):
    s, _ = env
    meta = requests.get(s.url("/.well-known/oauth-authorization-server"), timeout=5).json()
    assert meta["client_id_metadata_document_supported"] is True


def test_code_flow_with_a_metadata_document_client(env):
    s, docs = env
    redirect = "http://127.0.0.1:9/cb"
    cid = docs.url("/apps/notes.json")
    docs.put("/apps/notes.json", {"client_id": cid, "client_name": "Notes MCP",
                                  "redirect_uris": [redirect], "scope": "openid email"},
             {"Cache-Control": "max-age=600"})
    sess = requests.Session()
    r = sess.post(s.url("/api/v1/auth/signup"), timeout=20,
                  json={"email": "cimd@example.com", "password": "correct horse battery"})
    assert r.status_code == 201, r.text
    verifier, challenge = pkce()
    q = urllib.parse.urlencode({"response_type": "code", "client_id": cid, "redirect_uri": redirect,
                                "scope": "openid email", "state": "st", "code_challenge": challenge,
                                "code_challenge_method": "S256"})
    r = sess.get(s.url("/oauth/authorize?" + q), allow_redirects=False, timeout=20)
    assert r.status_code == 200, r.text
    assert "Notes MCP" in r.text
    csrf = re.search(r'name=csrf_token value="([^"]+)"', r.text).group(1)
    req = re.search(r'name=request value="([^"]+)"', r.text).group(1)
    r = sess.post(s.url("/oauth/authorize/decision"), allow_redirects=False, timeout=10,
                  data={"request": req, "csrf_token": csrf, "decision": "approve"})
    assert r.status_code == 303
    loc = urllib.parse.urlparse(r.headers["Location"])
    code = urllib.parse.parse_qs(loc.query)["code"][0]
    r = requests.post(s.url("/oauth/token"), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
        "code_verifier": verifier, "client_id": cid})
    assert r.status_code == 200, r.text
    assert r.json()["access_token"]
    # Cached per max-age: the document was fetched once for authorize and token.
    assert docs.hits["/apps/notes.json"] == 1


def test_redirect_uri_must_come_from_the_document(env):
    s, docs = env
    cid = docs.put("/apps/strict.json", {"client_id": docs.url("/apps/strict.json"),
                                         "redirect_uris": ["http://127.0.0.1:9/ok"]})
    _, challenge = pkce()
    r = authorize(s, cid, "http://127.0.0.1:9/evil", challenge)
    assert r.status_code == 400 and "Location" not in r.headers


@pytest.mark.parametrize("doc,why", [
    ({"client_id": "https://elsewhere.example/c.json", "redirect_uris": ["https://a.example/cb"]},
     "own URL"),
    ({"redirect_uris": ["https://a.example/cb"]}, "own URL"),
    ({"client_id": None, "redirect_uris": []}, "redirect_uris"),
    ({"client_id": None, "redirect_uris": ["http://evil.example/cb"]}, "redirect_uri"),
    ({"client_id": None, "redirect_uris": ["https://a.example/cb"],
      "token_endpoint_auth_method": "client_secret_basic"}, "token_endpoint_auth_method"),
])
def test_bad_documents_are_refused(env, doc, why):
    s, docs = env
    path = "/bad/%s.json" % hashlib.sha1(json.dumps(doc).encode()).hexdigest()[:10]
    if "client_id" in doc and doc["client_id"] is None:
        doc = dict(doc, client_id=docs.url(path))
    cid = docs.put(path, doc)
    _, challenge = pkce()
    r = authorize(s, cid, "https://a.example/cb", challenge)
    assert r.status_code == 400, r.text
    assert GENERIC in r.text and why not in r.text
    assert refusal_logged(s, cid, why)


def test_oversized_document_is_refused(env):
    s, docs = env
    cid = docs.url("/big.json")
    docs.put("/big.json", {"client_id": cid, "redirect_uris": ["https://a.example/cb"],
                           "padding": "x" * 8000})
    _, challenge = pkce()
    r = authorize(s, cid, "https://a.example/cb", challenge)
    assert r.status_code == 400 and GENERIC in r.text
    assert refusal_logged(s, cid, "over 5120 bytes")


def test_unreachable_or_missing_document(env):
    s, docs = env
    _, challenge = pkce()
    r = authorize(s, docs.url("/missing.json"), "https://a.example/cb", challenge)
    assert r.status_code == 400 and GENERIC in r.text and "404" not in r.text
    assert refusal_logged(s, docs.url("/missing.json"), "HTTP 404")


def test_private_addresses_are_refused_without_the_allow_list(env):
    s, docs = env
    plain = Shark(extra=["--outbound-ca-file", docs.cert])
    plain.start()
    try:
        cid = docs.put("/private.json", {"client_id": docs.url("/private.json"),
                                         "redirect_uris": ["https://a.example/cb"]})
        _, challenge = pkce()
        r = requests.get(plain.url("/oauth/authorize?" + urllib.parse.urlencode({
            "response_type": "code", "client_id": cid, "redirect_uri": "https://a.example/cb",
            "code_challenge": challenge, "code_challenge_method": "S256"})),
            allow_redirects=False, timeout=20)
        assert r.status_code == 400 and GENERIC in r.text and "loopback" not in r.text
        assert refusal_logged(plain, cid, "loopback")
        assert docs.hits.get("/private.json", 0) == 0
    finally:
        plain.stop()
