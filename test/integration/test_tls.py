"""--tls-cert/--tls-key: the server speaks HTTPS through OpenSSL, session
cookies get Secure, and the issuer defaults to https."""
import socket

import pytest
import requests
import urllib3

from conftest import Shark, start_tls_shark

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


@pytest.fixture(scope="module")
def tls_shark():
    s = start_tls_shark()
    yield s
    s.stop()


def test_https_healthz_verified_against_the_certificate(tls_shark):
    r = requests.get(tls_shark.base + "/healthz", verify=tls_shark.cert, timeout=5)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_issuer_is_https(tls_shark):
    meta = requests.get(tls_shark.base + "/.well-known/oauth-authorization-server",
                        verify=tls_shark.cert, timeout=5).json()
    assert meta["issuer"] == tls_shark.base
    assert meta["token_endpoint"] == tls_shark.base + "/oauth/token"


def test_keep_alive_and_large_body_over_tls(tls_shark):
    with requests.Session() as sess:
        for _ in range(5):
            assert sess.get(tls_shark.base + "/healthz", verify=tls_shark.cert,
                            timeout=5).status_code == 200
        r = sess.post(tls_shark.base + "/oauth/register", verify=tls_shark.cert, timeout=10,
                      json={"client_name": "x" * 100, "padding": "y" * 200000,
                            "redirect_uris": ["https://app.example.com/cb"], "scope": "openid"})
        assert r.status_code == 201, r.text


def test_session_cookie_is_secure_over_tls(tls_shark):
    r = requests.post(tls_shark.base + "/api/v1/auth/signup", verify=tls_shark.cert, timeout=20,
                      json={"email": "tls@example.com", "password": "correct horse battery"})
    assert r.status_code == 201, r.text
    cookie = r.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_plain_http_on_the_tls_port_is_refused(tls_shark):
    with socket.create_connection(("127.0.0.1", tls_shark.port), timeout=5) as c:
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        c.settimeout(5)
        data = b""
        try:
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    assert b"HTTP/1.1 200" not in data


def test_missing_key_file_is_a_clear_start_error():
    s = Shark(extra=["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"])
    s.spawn()
    rc = s.proc.wait(timeout=60)
    assert rc != 0
    assert "TLS" in s.stderr()
