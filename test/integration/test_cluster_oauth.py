"""Two shark processes behind one issuer, sharing one PostgreSQL: what must hold
across nodes is decided in the database (DPoP replay, revocation)."""
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from test_agents import EcKey

ISSUER = "http://shark.cluster.test"


def two_nodes(pg_cluster, shark_factory, dbname, issuer=ISSUER):
    pg_cluster.psql("CREATE DATABASE %s" % dbname)
    ci = pg_cluster.conninfo(dbname)
    env = {"SHARK_MASTER_KEY": os.urandom(32).hex()}
    a = shark_factory(db=ci, env=env, extra=["--issuer", issuer])
    b = shark_factory(db=ci, env=env, extra=["--issuer", issuer])
    a.spawn()
    b.spawn()
    for s in (a, b):
        s.wait_healthy(60)
        s.wait_ready(30)
    # Only the node that won the first boot wrote the admin key file; give
    # both of them the key so either can be driven with it.
    have = [s for s in (a, b) if os.path.exists(s.key_file)]
    assert len(have) == 1
    for s in (a, b):
        if s is not have[0]:
            shutil.copyfile(have[0].key_file, s.key_file)
            os.chmod(s.key_file, 0o600)
    return a, b


def register(node):
    r = requests.post(node.url("/oauth/register"), timeout=10, headers=node.auth(), json={
        "client_name": "cluster", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic", "scope": "mcp:read"})
    assert r.status_code == 201, r.text
    j = r.json()
    return j["client_id"], j["client_secret"]


def token(node, cid, secret, proof=None):
    h = {"DPoP": proof} if proof else {}
    return requests.post(node.url("/oauth/token"), auth=(cid, secret), headers=h, timeout=10,
                         data={"grant_type": "client_credentials"})


def test_a_dpop_proof_is_accepted_once_across_nodes(pg_cluster, shark_factory):
    a, b = two_nodes(pg_cluster, shark_factory, "replay")
    cid, secret = register(a)
    key = EcKey()
    for _ in range(5):
        proof = key.proof(ISSUER + "/oauth/token")
        results = [None, None]

        def send(i, node):
            results[i] = token(node, cid, secret, proof)

        threads = [threading.Thread(target=send, args=(i, n)) for i, n in enumerate((a, b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 400], [r.text for r in results]
        refused = [r for r in results if r.status_code == 400][0]
        assert refused.json()["error"] == "invalid_dpop_proof"
        ok = [r for r in results if r.status_code == 200][0].json()
        assert ok["token_type"] == "DPoP"


def test_a_revocation_on_one_node_is_seen_by_the_other_at_once(pg_cluster, shark_factory):
    a, b = two_nodes(pg_cluster, shark_factory, "revoke")
    cid, secret = register(a)
    tok = token(a, cid, secret).json()["access_token"]

    def active(node):
        r = requests.post(node.url("/oauth/introspect"), auth=(cid, secret), timeout=10,
                          data={"token": tok})
        assert r.status_code == 200, r.text
        return r.json()["active"]

    assert active(a) and active(b)
    r = requests.post(a.url("/oauth/revoke"), auth=(cid, secret), data={"token": tok}, timeout=10)
    assert r.status_code == 200
    # The revoking node knows before it answers; the other by notification.
    assert active(a) is False
    assert eventually_inactive(b, cid, secret, [tok]) == []


def introspect(node, cid, secret, tok):
    r = requests.post(node.url("/oauth/introspect"), auth=(cid, secret), timeout=10,
                      data={"token": tok})
    assert r.status_code == 200, r.text
    return r.json()["active"]


def still_active(node, cid, secret, toks):
    with ThreadPoolExecutor(8) as ex:
        flags = list(ex.map(lambda t: introspect(node, cid, secret, t), toks))
    return [t for t, f in zip(toks, flags) if f]


def eventually_inactive(node, cid, secret, toks, within=1.0):
    """Tokens still active on node `within` seconds from now (none, hopefully)."""
    deadline = time.time() + within
    left = list(toks)
    while True:
        left = still_active(node, cid, secret, left)
        if not left or time.time() > deadline:
            return left
        time.sleep(0.05)


def many_tokens(node, cid, secret, n):
    def one(_):
        r = token(node, cid, secret)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]
    with ThreadPoolExecutor(16) as ex:
        return list(ex.map(one, range(n)))


# 300 jtis need several notifications (8000-byte payloads); 1,100 exceed the
# trigger's per-statement limit and send "reload" (migration 0014).
@pytest.mark.parametrize("n", [300, 1100])
def test_a_bulk_revocation_is_seen_by_both_nodes(pg_cluster, shark_factory, n):
    a, b = two_nodes(pg_cluster, shark_factory, "bulk%d" % n)
    cid, secret = register(a)
    toks = many_tokens(a, cid, secret, n)
    # Both nodes have loaded their revoked sets and cached the client.
    assert still_active(a, cid, secret, toks[:5]) == toks[:5]
    assert still_active(b, cid, secret, toks[:5]) == toks[:5]
    r = a.request("POST", "/api/v1/admin/oauth/revoke-by-pattern", admin=True,
                  json={"client_id_pattern": cid, "reason": "bulk"})
    assert r.status_code == 200, r.text
    assert r.json()["revoked_count"] == n
    assert still_active(a, cid, secret, toks) == []
    assert eventually_inactive(b, cid, secret, toks) == []
    # The client itself is untouched: a new token works on both nodes.
    fresh = many_tokens(b, cid, secret, 1)
    assert still_active(a, cid, secret, fresh) == fresh


def test_revoke_all_of_an_agent_across_nodes(pg_cluster, shark_factory):
    a, b = two_nodes(pg_cluster, shark_factory, "revall")
    r = a.request("POST", "/api/v1/apps", admin=True, json={"name": "fleet", "scopes": ["mcp:read"]})
    assert r.status_code == 201, r.text
    r = a.request("POST", "/api/v1/agents", admin=True,
                  json={"name": "bulk", "app_id": r.json()["id"], "scopes": ["mcp:read"]})
    assert r.status_code == 201, r.text
    agent = r.json()
    cid, secret = agent["client_id"], agent["client_secret"]
    toks = many_tokens(b, cid, secret, 300)
    assert still_active(a, cid, secret, toks[:3]) == toks[:3]
    r = b.request("POST", "/api/v1/agents/%s/tokens/revoke-all" % agent["id"], admin=True)
    assert r.status_code == 200, r.text
    assert still_active(b, cid, secret, toks) == []
    assert eventually_inactive(a, cid, secret, toks) == []
