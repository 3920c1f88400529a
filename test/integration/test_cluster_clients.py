"""Client records are cached per loop (protocol/client.c). A change made through
node A must take effect on node B, which shares the database and has the old
record cached on its loops, within a second (a notification, milliseconds in
practice), and on A itself at once (the other tests cover that)."""
import time

import requests

from test_agents import EcKey, api, get_token, make_agent, make_app
from test_cluster_oauth import two_nodes

LIMIT_S = 1.0


def warm(node, client_id, secret, key=None):
    """Several requests on fresh connections, so every loop of the node caches
    the record."""
    for _ in range(8):
        r = get_token(node, client_id, secret, key=key)
        assert r.status_code == 200, r.text


def refused_within(fn, codes, limit=LIMIT_S):
    t0 = time.monotonic()
    while True:
        r = fn()
        if r.status_code in codes:
            return r
        assert r.status_code == 200, r.text
        assert time.monotonic() - t0 < limit, "still accepted %.2f s after the change" % limit
        time.sleep(0.01)


def test_agent_changes_on_one_node_reach_the_other(pg_cluster, shark_factory):
    a, b = two_nodes(pg_cluster, shark_factory, "clientcache")
    app = make_app(a)

    # Secret rotation without grace: the old secret stops working on B.
    agent = make_agent(a, app["id"])
    old = agent["client_secret"]
    warm(b, agent["id"], old)
    r = api(a, "POST", "/api/v1/agents/%s/rotate-secret" % agent["id"])
    assert r.status_code == 200, r.text
    new = r.json()["client_secret"]
    r = refused_within(lambda: get_token(b, agent["id"], old), {401})
    assert r.json()["error"] == "invalid_client"
    assert get_token(b, agent["id"], new).status_code == 200

    # Disable, then enable again.
    warm(b, agent["id"], new)
    r = api(a, "PATCH", "/api/v1/agents/" + agent["id"], {"status": "disabled"})
    assert r.status_code == 200, r.text
    refused_within(lambda: get_token(b, agent["id"], new), {401})
    r = api(a, "PATCH", "/api/v1/agents/" + agent["id"], {"status": "active"})
    assert r.status_code == 200, r.text
    t0 = time.monotonic()
    while get_token(b, agent["id"], new).status_code != 200:
        assert time.monotonic() - t0 < LIMIT_S, "re-enabled agent still refused on B"
        time.sleep(0.01)

    # DPoP key rotation: proofs of the old key are refused on B.
    k1, k2 = EcKey(), EcKey()
    bound = make_agent(a, app["id"], dpop_jkt=k1.jkt)
    warm(b, bound["id"], bound["client_secret"], key=k1)
    r = api(a, "POST", "/api/v1/agents/%s/rotate-dpop-key" % bound["id"],
            {"new_public_key_jwk": k2.jwk, "reason": "cluster test"})
    assert r.status_code == 200, r.text
    refused_within(lambda: get_token(b, bound["id"], bound["client_secret"], key=k1), {400})
    assert get_token(b, bound["id"], bound["client_secret"], key=k2).status_code == 200

    # Deleting the app cascades to its agents.
    warm(b, agent["id"], new)
    r = api(a, "DELETE", "/api/v1/apps/%s?cascade=true" % app["id"])
    assert r.status_code == 204 and r.content == b"", r.text
    refused_within(lambda: get_token(b, agent["id"], new), {401})


def test_a_deleted_dynamic_client_is_refused_on_the_other_node(pg_cluster, shark_factory):
    a, b = two_nodes(pg_cluster, shark_factory, "dcrcache")
    r = requests.post(a.url("/oauth/register"), timeout=10, headers=a.auth(), json={
        "client_name": "cached", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic"})
    assert r.status_code == 201, r.text
    reg = r.json()
    cid, secret = reg["client_id"], reg["client_secret"]
    warm(b, cid, secret)
    r = requests.delete(reg["registration_client_uri"].replace(
        "http://shark.cluster.test", a.url("")), timeout=10,
        headers={"Authorization": "Bearer " + reg["registration_access_token"]})
    assert r.status_code == 204, r.text
    refused_within(lambda: get_token(b, cid, secret), {401})


def test_a_removed_admin_key_is_refused_on_every_node(pg_cluster, shark_factory):
    """Admin keys that checked out are remembered per loop (store/system.c):
    removing one in the database must end it on both nodes within a second,
    for the admin API and for introspection with the admin key."""
    a, b = two_nodes(pg_cluster, shark_factory, "adminkeycache")
    for node in (a, b):
        for _ in range(8):  # every loop remembers the key
            r = api(node, "GET", "/api/v1/agents?limit=1")
            assert r.status_code == 200, r.text
            r = node.request("POST", "/oauth/introspect", admin=True, data={"token": "x"})
            assert r.status_code == 200, r.text
    pg_cluster.psql("UPDATE admin_keys SET revoked_at = now()", dbname="adminkeycache")
    for node in (a, b):
        r = refused_within(lambda: api(node, "GET", "/api/v1/agents?limit=1"), {401})
        assert r.json()["error"]["code"] == "unauthorized"
        for _ in range(8):
            assert api(node, "GET", "/api/v1/agents?limit=1").status_code == 401
            r = node.request("POST", "/oauth/introspect", admin=True, data={"token": "x"})
            assert r.status_code == 401, r.text
