"""The per-loop cache of verified access tokens (protocol/access.c) and the
time-ordered ids (migration 0015). A cached token must still be refused once
it is revoked, once it expires, and whenever a byte of it differs."""
import base64
import json
import time

import pytest
import requests

from conftest import Shark
from test_cluster_oauth import register

ISSUER = "http://shark.vcache.test"


@pytest.fixture(scope="module")
def node():
    # Two loops: successive requests may land on either loop's cache.
    s = Shark(extra=["--issuer", ISSUER, "--threads", "2", "--token-ttl", "30"])
    s.start()
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def client(node):
    return register(node)


def token(node, client, scope="mcp:read"):
    r = requests.post(node.url("/oauth/token"), auth=client, timeout=10,
                      data={"grant_type": "client_credentials", "scope": scope})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def introspect(node, client, tok):
    r = requests.post(node.url("/oauth/introspect"), auth=client, timeout=10, data={"token": tok})
    assert r.status_code == 200, r.text
    return r.json()


def b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def claims(tok):
    p = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def test_revocation_of_a_cached_token_is_seen_at_once(node, client):
    tok = token(node, client)
    for _ in range(6):  # both loops have it cached
        assert introspect(node, client, tok)["active"] is True
    r = requests.post(node.url("/oauth/revoke"), auth=client, timeout=10, data={"token": tok})
    assert r.status_code == 200, r.text
    for _ in range(6):
        assert introspect(node, client, tok) == {"active": False}


def test_a_token_differing_from_a_cached_one_is_checked_on_its_own(node, client):
    tok = token(node, client)
    assert introspect(node, client, tok)["active"] is True
    h, _, s = tok.split(".")
    c = claims(tok)
    c["scope"] = "mcp:read mcp:write"  # widened, same signature
    assert introspect(node, client, f"{h}.{b64(c)}.{s}") == {"active": False}
    # A different signature over the same header and claims.
    sig = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    bad = base64.urlsafe_b64encode(sig[:-1] + bytes([sig[-1] ^ 1])).rstrip(b"=").decode()
    assert introspect(node, client, f"{h}.{tok.split('.')[1]}.{bad}") == {"active": False}
    assert introspect(node, client, tok + "x") == {"active": False}
    assert introspect(node, client, tok)["active"] is True


def test_jti_and_audit_ids_follow_issue_order(node, client):
    toks = []
    for _ in range(4):
        toks.append(token(node, client))
        time.sleep(0.003)
    jtis = [claims(t)["jti"] for t in toks]
    assert jtis == sorted(jtis), jtis
    assert len(set(jtis)) == 4
    rows = node.psql("SELECT id FROM audit_events WHERE target_id IN ("
                     + ",".join(f"'{j}'" for j in jtis) + ") ORDER BY created_at")
    ids = rows.split()
    assert len(ids) == 4 and ids == sorted(ids), ids
    # a token event's id is its jti's, so it sorts as the jti does (store/batch.c)
    assert len(set(ids)) == 4 and all(i.startswith("audit_") for i in ids)


def test_a_cached_token_expires(node, client):
    tok = token(node, client)
    assert introspect(node, client, tok)["active"] is True
    exp = claims(tok)["exp"]
    time.sleep(max(0, exp - time.time()) + 1.5)
    for _ in range(4):
        assert introspect(node, client, tok) == {"active": False}
