"""Token writes batched per loop (store/batch.c): concurrent token requests share
one statement, yet each keeps the semantics of its own. One loop and one
database connection make the requests queue behind each other, so batches of
several records form."""
import threading

import pytest
import requests

from conftest import Shark
from test_agents import EcKey

ISSUER = "http://shark.batch.test"
TOKEN_URL = ISSUER + "/oauth/token"


@pytest.fixture(scope="module")
def node():
    s = Shark(extra=["--issuer", ISSUER, "--threads", "1", "--db-pool", "1"])
    s.start()
    yield s
    s.cleanup()


def register(node):
    r = requests.post(node.url("/oauth/register"), timeout=10, headers=node.auth(), json={
        "client_name": "batch", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic", "scope": "mcp:read",
        # the audiences the tests below ask for
        "resources": ['https://api.example/a"b\\c,{d}%20NULL',
                      "https://api.example/caf\u00e9/\U0001f600"]})
    assert r.status_code == 201, r.text
    j = r.json()
    return j["client_id"], j["client_secret"]


def concurrently(fns):
    results = [None] * len(fns)
    start = threading.Barrier(len(fns))

    def run(i):
        start.wait()
        results[i] = fns[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_a_replayed_proof_inside_a_batch_fails_only_its_own_requests(node):
    cid, secret = register(node)
    key = EcKey()
    for _ in range(3):
        replayed = key.proof(TOKEN_URL)
        proofs = [replayed] * 8 + [key.proof(TOKEN_URL) for _ in range(24)]
        plain = 8

        def call(proof):
            h = {"DPoP": proof} if proof else {}
            return lambda: requests.post(node.url("/oauth/token"), auth=(cid, secret), headers=h,
                                         data={"grant_type": "client_credentials"}, timeout=30)

        results = concurrently([call(p) for p in proofs] + [call(None)] * plain)
        same, fresh, bearer = results[:8], results[8:32], results[32:]
        assert sorted(r.status_code for r in same) == [200] + [400] * 7, [r.text for r in same]
        assert sorted(r.json().get("error", "") for r in same) == [""] + ["invalid_dpop_proof"] * 7
        assert all(r.status_code == 200 for r in fresh + bearer), \
            [r.text for r in fresh + bearer if r.status_code != 200]
        issued = [r.json()["access_token"] for r in results if r.status_code == 200]
        assert len(issued) == 1 + 24 + plain
        # Every token issued got its record (introspection reads it) and its audit event.
        for tok in issued:
            r = requests.post(node.url("/oauth/introspect"), auth=(cid, secret),
                              data={"token": tok}, timeout=10)
            assert r.status_code == 200 and r.json()["active"] is True, r.text
            jti = r.json()["jti"]
            ev = node.get("/api/v1/audit-logs", admin=True,
                          params={"target_id": jti, "event": "oauth.token_issued"})
            assert ev.status_code == 200, ev.text
            assert len(ev.json()["data"]) == 1, ev.text


def test_a_proof_replayed_in_a_later_batch_is_refused(node):
    cid, secret = register(node)
    key = EcKey()
    proof = key.proof(TOKEN_URL)

    def call():
        return requests.post(node.url("/oauth/token"), auth=(cid, secret),
                             headers={"DPoP": proof},
                             data={"grant_type": "client_credentials"}, timeout=10)

    assert call().status_code == 200
    r = call()
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text


def test_awkward_text_survives_the_array_encoding(node):
    """Audience and scope values with quotes, backslashes, commas and braces go
    through the text[] literals intact."""
    cid, secret = register(node)
    aud = 'https://api.example/a"b\\c,{d}%20NULL'
    r = requests.post(node.url("/oauth/token"), auth=(cid, secret), timeout=10,
                      data={"grant_type": "client_credentials", "resource": aud})
    assert r.status_code == 200, r.text
    tok = r.json()["access_token"]
    r = requests.post(node.url("/oauth/introspect"), auth=(cid, secret), data={"token": tok},
                      timeout=10)
    assert r.status_code == 200 and r.json()["active"] is True, r.text
    assert r.json()["aud"] == aud


def test_bytes_that_are_not_utf8_fail_alone(node):
    """Form values must decode to UTF-8: such a request is a 400 of its own and
    does not reach (and fail) the statement other clients' tokens share."""
    cid, secret = register(node)

    def good():
        return requests.post(node.url("/oauth/token"), auth=(cid, secret), timeout=30,
                             data={"grant_type": "client_credentials"})

    def bad(body):
        return lambda: requests.post(
            node.url("/oauth/token"), auth=(cid, secret), data=body, timeout=30,
            headers={"Content-Type": "application/x-www-form-urlencoded"})

    bodies = ["grant_type=client_credentials&audience=%ff%fe",
              "grant_type=client_credentials&resource=https://a.example/%c0%80",
              b"grant_type=client_credentials&audience=x\xed\xa0\x80",
              "grant_type=client_credentials&scope=mcp%3Aread%f0%9f%98"]
    for _ in range(3):
        results = concurrently([good] * 24 + [bad(b) for b in bodies])
        goods, bads = results[:24], results[24:]
        assert all(r.status_code == 200 for r in goods), \
            [r.text for r in goods if r.status_code != 200]
        for r in bads:
            assert r.status_code == 400, r.text
            assert r.json() == {"error": "invalid_request",
                                "error_description": "malformed form body"}
    # A basic client id that decodes to bad bytes is a malformed credential.
    r = requests.post(node.url("/oauth/token"), auth=("%ff", secret), timeout=10,
                      data={"grant_type": "client_credentials"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    # Valid multi-byte text still goes through intact.
    aud = "https://api.example/caf\u00e9/\U0001f600"
    r = requests.post(node.url("/oauth/token"), auth=(cid, secret), timeout=10,
                      data={"grant_type": "client_credentials", "resource": aud})
    assert r.status_code == 200, r.text
    r = requests.post(node.url("/oauth/introspect"), auth=(cid, secret), timeout=10,
                      data={"token": r.json()["access_token"]})
    assert r.json()["aud"] == aud, r.text
