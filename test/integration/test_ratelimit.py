"""Per-client token bucket (429) and X-Forwarded-For handling."""
import json
import time

import pytest
import requests

from conftest import Shark


def burst(s, n, headers=None):
    return [requests.get(s.url("/healthz"), headers=headers or {}, timeout=10) for _ in range(n)]


@pytest.fixture(scope="module")
def limited():
    s = Shark(rate_limit="2:2")
    s.start()
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def proxied():
    s = Shark(rate_limit="2:2", extra=["--trusted-proxy", "127.0.0.1/32"])
    s.start()
    yield s
    s.cleanup()


def wait_log(s, request_id, timeout=10):
    """The access-log records of one request, once written (bounded poll)."""
    deadline = time.time() + timeout
    while True:
        recs = [x for x in s.log_records() if x.get("client_request_id") == request_id]
        if recs or time.time() > deadline:
            return recs
        time.sleep(0.02)


def settle():
    time.sleep(1.2)  # bucket refills to its burst of 2 in 1 s


def test_429_after_burst(limited):
    settle()
    rs = burst(limited, 4)
    assert [r.status_code for r in rs[:2]] == [200, 200]
    r = rs[2]
    assert r.status_code == 429
    ra = r.headers.get("Retry-After")
    assert ra is not None and ra.isdigit() and int(ra) >= 1
    body = r.json()
    assert body["error"] == "rate_limited"
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"] == r.headers["X-Request-Id"]
    assert r.headers.get("X-Request-Id")


def test_bucket_refills(limited):
    settle()
    burst(limited, 3)
    time.sleep(1.1)
    assert burst(limited, 1)[0].status_code == 200


def test_429_on_api_and_oauth_paths_too(limited):
    settle()
    burst(limited, 2)
    for p in ["/api/v1/audit-logs", "/oauth/token"]:
        r = requests.get(limited.url(p), timeout=10)
        assert r.status_code == 429
        assert r.json()["error"] == "rate_limited"


def test_xff_ignored_from_untrusted_peer(limited):
    settle()
    codes = [requests.get(limited.url("/healthz"), timeout=10,
                          headers={"X-Forwarded-For": "198.51.100.%d" % i}).status_code
             for i in range(4)]
    assert codes[:2] == [200, 200]
    assert 429 in codes[2:]


def test_xff_honoured_from_trusted_proxy(proxied):
    settle()
    # Each distinct forwarded client gets its own bucket.
    for i in range(6):
        r = requests.get(proxied.url("/healthz"), timeout=10,
                         headers={"X-Forwarded-For": "198.51.100.%d" % (10 + i)})
        assert r.status_code == 200, i
    # The same forwarded client is limited.
    h = {"X-Forwarded-For": "203.0.113.7"}
    codes = [requests.get(proxied.url("/healthz"), headers=h, timeout=10).status_code
             for _ in range(4)]
    assert codes[:2] == [200, 200]
    assert codes[2] == 429
    # ...while another is not.
    assert requests.get(proxied.url("/healthz"), timeout=10,
                        headers={"X-Forwarded-For": "203.0.113.8"}).status_code == 200


def test_xff_chain_uses_rightmost_untrusted(proxied):
    settle()
    # A client can prepend anything; the proxy appends the real address last.
    base = "203.0.113.50"
    codes = [requests.get(proxied.url("/healthz"), timeout=10,
                          headers={"X-Forwarded-For": "10.9.9.%d, %s" % (i, base)}).status_code
             for i in range(4)]
    assert codes[:2] == [200, 200]
    assert 429 in codes[2:], codes


def test_access_log_client_ip_from_trusted_xff(proxied):
    settle()
    r = requests.get(proxied.url("/healthz"), timeout=10,
                     headers={"X-Forwarded-For": "192.0.2.77", "X-Request-Id": "xff-log-1"})
    assert r.status_code == 200
    recs = wait_log(proxied, "xff-log-1")
    assert len(recs) == 1
    assert recs[0]["client_ip"] == "192.0.2.77"


def test_access_log_client_ip_untrusted_xff(limited):
    settle()
    r = requests.get(limited.url("/healthz"), timeout=10,
                     headers={"X-Forwarded-For": "192.0.2.78", "X-Request-Id": "xff-log-2"})
    assert r.status_code == 200
    recs = wait_log(limited, "xff-log-2")
    assert len(recs) == 1
    assert recs[0]["client_ip"] == "127.0.0.1"


def test_rate_limit_zero_disables(shark):
    codes = {shark.get("/healthz").status_code for _ in range(150)}
    assert codes == {200}


def test_garbage_xff_from_trusted_proxy_falls_back_to_peer(proxied):
    settle()
    bad = ["not-an-ip", "", "999.1.1.1", "1.2.3.4, , ,", "::::::"]
    codes = [requests.get(proxied.url("/healthz"), timeout=10,
                          headers={"X-Forwarded-For": v, "X-Request-Id": "gx-%d" % i}).status_code
             for i, v in enumerate(bad)]
    # all of them are the peer: one bucket of 2
    assert codes[:2] == [200, 200] and 429 in codes[2:], codes
    for i in range(len(bad)):
        recs = [x for x in wait_log(proxied, "gx-%d" % i)]
        assert [x["client_ip"] for x in recs] == ["127.0.0.1"], (bad[i], recs)
    time.sleep(1.2)
    assert requests.get(proxied.url("/healthz"), timeout=10).status_code == 200
