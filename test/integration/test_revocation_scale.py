"""Revocation that costs one row (issue 18): bulk layers write a watermark
instead of stamping every token, every node checks tokens against the
watermarks in memory, dry runs count without changing anything, the revoked
set reloads without refusing checks, and the agent-token listing pages by
cursor. Small data: the large figures live in the bench. (Watermarks
reaching tokens other agents derived: test_revocation_matrix.py.)"""
import base64
import subprocess
import threading
import time

import pytest
import requests

from conftest import assert_api_error
from test_agents import EcKey, api, audit, events_named, introspect, make_agent, make_app, \
    make_user, token_ok, unverified_claims
from test_cluster_oauth import two_nodes
from test_vault import api as vapi, introspect as vault_introspect, provider, vault_fetch, \
    vshark, world  # noqa: F401 (fixtures)


def jti(tok):
    return unverified_claims(tok)["jti"]


def live_rows(shark, client_id, conninfo=None):
    """Token rows of the client without revoked_at: a watermark leaves them so."""
    return int(shark.psql("SELECT count(*) FROM oauth_tokens WHERE client_id = '%s' "
                          "AND revoked_at IS NULL" % client_id, conninfo).strip())


def marks(shark, kind, subject, conninfo=None):
    return int(shark.psql("SELECT count(*) FROM revocation_watermarks WHERE kind = '%s' "
                          "AND subject_id = '%s'" % (kind, subject), conninfo).strip())


def events(shark, target, name):
    return events_named(audit(shark, target_id=target), name)


# -- watermarks --------------------------------------------------------------------------------

def test_revoke_all_writes_one_watermark_and_rewrites_no_token(shark):
    app = make_app(shark)
    agent, other = make_agent(shark, app["id"]), make_agent(shark, app["id"])
    toks = [token_ok(shark, agent["id"], agent["client_secret"])["access_token"]
            for _ in range(5)]
    other_tok = token_ok(shark, other["id"], other["client_secret"])["access_token"]
    r = api(shark, "POST", "/api/v1/agents/%s/tokens/revoke-all" % agent["id"])
    assert r.status_code == 200, r.text
    assert r.json() == {"revoked_count": 5, "agent_id": agent["id"]}
    assert live_rows(shark, agent["id"]) == 5 and marks(shark, "client", agent["id"]) == 1
    assert all(introspect(shark, t) == {"active": False} for t in toks)
    assert introspect(shark, other_tok)["active"] is True
    # the listing and the count agree with the watermark
    listed = api(shark, "GET", "/api/v1/agents/%s/tokens" % agent["id"],
                 params={"total": "true"}).json()
    assert listed["total"] == 0 and listed["data"] == []
    # a token issued after the watermark lives, in the same second or later
    fresh = [token_ok(shark, agent["id"], agent["client_secret"])["access_token"]
             for _ in range(3)]
    assert all(introspect(shark, t)["active"] for t in fresh)
    assert api(shark, "GET", "/api/v1/agents/%s/tokens" % agent["id"],
               params={"total": "true"}).json()["total"] == 3
    # a second revoke-all moves the same row forward and counts only the new tokens
    again = api(shark, "POST", "/api/v1/agents/%s/tokens/revoke-all" % agent["id"]).json()
    assert again["revoked_count"] == 3 and marks(shark, "client", agent["id"]) == 1
    assert not any(introspect(shark, t)["active"] for t in fresh)
    # the revocation feed lists the covered tokens at the watermark's time
    feed = api(shark, "GET", "/api/v1/revocations", params={"limit": 1000}).json()["data"]
    assert {jti(t) for t in toks + fresh} <= {d["jti"] for d in feed}
    assert jti(other_tok) not in {d["jti"] for d in feed}


def test_watermarks_hold_on_both_nodes(pg_cluster, shark_factory):
    a, b = two_nodes(pg_cluster, shark_factory, "marks")
    app = make_app(a)
    agent = make_agent(a, app["id"])
    toks = [token_ok(a, agent["id"], agent["client_secret"])["access_token"] for _ in range(4)]
    assert all(introspect(b, t)["active"] for t in toks)
    r = api(a, "POST", "/api/v1/agents/%s/tokens/revoke-all" % agent["id"])
    assert r.status_code == 200 and r.json()["revoked_count"] == 4
    assert not any(introspect(a, t)["active"] for t in toks)
    deadline = time.time() + 10
    while any(introspect(b, t)["active"] for t in toks):
        assert time.time() < deadline, "node b never saw the watermark"
        time.sleep(0.05)
    # tokens issued afterwards live on both nodes
    fresh = token_ok(b, agent["id"], agent["client_secret"])["access_token"]
    assert introspect(a, fresh)["active"] and introspect(b, fresh)["active"]
    # after a forced reload (a gap), node b still knows the watermark
    a.psql("NOTIFY shark_revoked, 'reload'", conninfo=pg_cluster.conninfo("marks"))
    for _ in range(20):
        assert not any(introspect(b, t)["active"] for t in toks)
        assert introspect(b, fresh)["active"]



def eventually(check, what, within=10):
    deadline = time.time() + within
    while not check():
        assert time.time() < deadline, what
        time.sleep(0.05)


def test_dpop_rotation_writes_one_key_mark_on_both_nodes(pg_cluster, shark_factory):
    """rotate-dpop-key writes one key mark ("bound to any key but K, issued up
    to T"), rewrites no token, and both nodes refuse what it covers by cnf.jkt;
    a second rotation keeps what the first revoked."""
    a, b = two_nodes(pg_cluster, shark_factory, "keys")
    ci = pg_cluster.conninfo("keys")
    app = make_app(a)
    agent = make_agent(a, app["id"])
    cid, secret = agent["id"], agent["client_secret"]
    ka, kb, k2, k3 = EcKey(), EcKey(), EcKey(), EcKey()
    bearer = token_ok(a, cid, secret)["access_token"]
    old = [token_ok(a, cid, secret, key=k)["access_token"] for k in (ka, kb, k3)]
    assert all(introspect(b, t)["active"] for t in old + [bearer])
    rotate = "/api/v1/agents/%s/rotate-dpop-key" % cid
    r = api(a, "POST", rotate, json={"new_public_key_jwk": k2.jwk, "reason": "one"})
    assert r.status_code == 200, r.text
    assert r.json()["revoked_token_count"] == 3
    assert live_rows(a, cid, ci) == 4 and marks(a, "key", cid, ci) == 1
    for s in (a, b):
        eventually(lambda: not any(introspect(s, t)["active"] for t in old), "old keys live")
        assert introspect(s, bearer)["active"]  # not bound: no key to rotate away from
    t2 = token_ok(b, cid, secret, key=k2)["access_token"]
    assert introspect(a, t2)["active"] and introspect(b, t2)["active"]
    # rotating on to k3 revokes k2's token and must not revive the k3 token
    # the first rotation revoked
    r = api(b, "POST", rotate, json={"new_public_key_jwk": k3.jwk})
    assert r.status_code == 200 and r.json()["revoked_token_count"] == 1, r.text
    assert marks(a, "key", cid, ci) == 1 and live_rows(a, cid, ci) == 5
    for s in (a, b):
        eventually(lambda: not introspect(s, t2)["active"], "k2's token live")
        assert not any(introspect(s, t)["active"] for t in old)
    t3 = token_ok(a, cid, secret, key=k3)["access_token"]
    r = api(a, "POST", rotate + "?dry_run=true", json={"new_public_key_jwk": k3.jwk})
    assert r.json()["revoked_token_count"] == 0
    listed = api(a, "GET", "/api/v1/agents/%s/tokens" % cid).json()
    assert {d["token_id"] for d in listed["data"]} == {jti(bearer), jti(t3)}
    feed = {d["jti"] for d in api(a, "GET", "/api/v1/revocations").json()["data"]}
    assert {jti(t) for t in old + [t2]} <= feed and jti(t3) not in feed
    # what a database check says (a reload) agrees with what memory said
    a.psql("NOTIFY shark_revoked, 'reload'", conninfo=ci)
    for s in (a, b):
        for _ in range(10):
            assert not any(introspect(s, t)["active"] for t in old + [t2])
            assert introspect(s, t3)["active"] and introspect(s, bearer)["active"]
    # the same key set again moves the mark forward: t3 stays, as it is k3's
    r = api(a, "POST", rotate, json={"new_public_key_jwk": k3.jwk})
    assert r.json()["revoked_token_count"] == 0 and introspect(b, t3)["active"]


def metric(shark, name):
    for line in shark.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(name + " not on /metrics")


def fake_node(shark, node, features, offset_ms=0):
    """A live row of shark_nodes for a node that is not there: what a node
    of another version, or with another clock, would announce."""
    shark.psql("INSERT INTO shark_nodes (node_id, features, clock_offset_ms, clock_error_ms, "
               "seen_at) VALUES ('%s', %d, %d, 1, now() + interval '1 hour')"
               % (node, features, offset_ms))


@pytest.mark.parametrize("skew", [20, -20])
def test_clock_skew_never_turns_the_order_of_token_and_mark(shark, skew):
    """The database's clock `skew` seconds ahead of (or behind) a node's,
    forged: that node's tokens carry its own clock in iat, the database
    records issued_at and the mark on its own. With the node's offset
    announced, tokens near the mark are decided by the database: none issued
    after the revocation is refused, none issued before is accepted."""
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    cid = agent["id"]
    fake_node(shark, "skewed-" + cid, 3, skew * 1000)
    eventually(lambda: metric(shark, "shark_revocation_skew_seconds") >= abs(skew),
               "the heartbeat never read the skewed node", within=20)
    before = [token_ok(shark, cid, agent["client_secret"])["access_token"] for _ in range(3)]
    r = api(shark, "POST", "/api/v1/agents/%s/tokens/revoke-all" % cid)
    assert r.status_code == 200 and r.json()["revoked_count"] == 3, r.text
    after = [token_ok(shark, cid, agent["client_secret"])["access_token"] for _ in range(3)]
    # what the database's clock said: every time it took is `skew` off
    shark.psql("UPDATE oauth_tokens SET issued_at = issued_at + %d * interval '1 second' "
               "WHERE client_id = '%s'" % (skew, cid))
    shark.psql("UPDATE revocation_watermarks SET revoked_before = revoked_before "
               "+ %d * interval '1 second' WHERE kind = 'client' AND subject_id = '%s'"
               % (skew, cid))
    for _ in range(5):
        assert not any(introspect(shark, t)["active"] for t in before)
        assert all(introspect(shark, t)["active"] for t in after)


def test_skew_window_is_at_least_a_second(shark):
    assert metric(shark, "shark_revocation_skew_seconds") >= 1
    # this node's row (the forged ones of other tests are seen in the future)
    rows = shark.psql("SELECT features FROM shark_nodes WHERE seen_at > now() - interval "
                      "'30 seconds' AND seen_at <= now()").split()
    assert rows and set(rows) == {"7"}


def test_a_node_without_key_marks_gets_tokens_stamped(shark):
    """While a live node announces no key marks, rotate-dpop-key also stamps
    revoked_at on what its mark covers (that node reads only that); once the
    node is gone, the mark alone."""
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    cid, secret = agent["id"], agent["client_secret"]
    k1, k2, k3 = EcKey(), EcKey(), EcKey()
    toks = [token_ok(shark, cid, secret, key=k1)["access_token"] for _ in range(3)]
    bearer = token_ok(shark, cid, secret)["access_token"]
    fake_node(shark, "old-" + cid, 1)
    r = api(shark, "POST", "/api/v1/agents/%s/rotate-dpop-key" % cid,
            json={"new_public_key_jwk": k2.jwk})
    assert r.status_code == 200 and r.json()["revoked_token_count"] == 3, r.text
    assert live_rows(shark, cid) == 1 and marks(shark, "key", cid) == 1
    assert not any(introspect(shark, t)["active"] for t in toks)
    assert introspect(shark, bearer)["active"]
    # the old node gone (not seen for a while): marks only
    shark.psql("UPDATE shark_nodes SET seen_at = now() - interval '1 minute' "
               "WHERE node_id = 'old-%s'" % cid)
    t2 = token_ok(shark, cid, secret, key=k2)["access_token"]
    r = api(shark, "POST", "/api/v1/agents/%s/rotate-dpop-key" % cid,
            json={"new_public_key_jwk": k3.jwk})
    assert r.json()["revoked_token_count"] == 1
    assert live_rows(shark, cid) == 2 and not introspect(shark, t2)["active"]


def test_a_node_without_marks_gets_revoke_all_stamped(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    cid = agent["id"]
    toks = [token_ok(shark, cid, agent["client_secret"])["access_token"] for _ in range(4)]
    fake_node(shark, "older-" + cid, 0)
    r = api(shark, "POST", "/api/v1/agents/%s/tokens/revoke-all" % cid)
    assert r.status_code == 200 and r.json()["revoked_count"] == 4, r.text
    assert live_rows(shark, cid) == 0 and marks(shark, "client", cid) == 1
    assert not any(introspect(shark, t)["active"] for t in toks)
    shark.psql("DELETE FROM shark_nodes WHERE node_id = 'older-%s'" % cid)


def test_a_node_of_the_version_before_is_told_by_its_connections(shark):
    """A node that predates shark_nodes announces nothing: its connections
    carry libpq's empty application_name, and a key rotation meanwhile
    stamps tokens as that node's version did."""
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    cid, secret = agent["id"], agent["client_secret"]
    toks = [token_ok(shark, cid, secret, key=EcKey())["access_token"] for _ in range(2)]
    ci = "host=%s dbname=shark user=shark application_name=''" % shark.pg_socket_dir
    old = subprocess.Popen(["psql", ci, "-X", "-q", "-c", "SELECT pg_sleep(60)"],
                           env=shark.pg_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        eventually(lambda: shark.psql("SELECT shark_marks_unsafe(2)").strip() == "t",
                   "the old connection never showed")
        assert shark.psql("SELECT shark_marks_unsafe(1)").strip() == "f"
        r = api(shark, "POST", "/api/v1/agents/%s/rotate-dpop-key" % cid,
                json={"new_public_key_jwk": EcKey().jwk})
        assert r.json()["revoked_token_count"] == 2
        assert live_rows(shark, cid) == 0
    finally:
        old.kill()
        old.wait()

def test_user_delete_writes_a_watermark(shark):
    uid = make_user(shark)
    r = api(shark, "DELETE", "/api/v1/users/" + uid)
    assert r.status_code == 204
    assert marks(shark, "user", uid) == 1



def covered_reference(shark, client_id):
    """What revoked_count counted before migration 0035, token by token."""
    return int(shark.psql(
        "SELECT count(*) FROM oauth_tokens t WHERE t.client_id = '%s' AND t.revoked_at IS NULL "
        "AND t.expires_at > now() AND NOT EXISTS (SELECT 1 FROM revocation_watermarks w "
        "WHERE w.kind = 'client' AND w.subject_id = t.client_id "
        "AND w.revoked_before >= t.issued_at)" % client_id).strip())


def test_revoked_count_comes_from_counts_per_second_and_stays_exact(shark):
    """revoke-all counts from token_counts (one row per second of issue,
    expiry, key and connection, written with the batch, not per token), exact
    across per-jti revocations and a previous mark falling among the tokens."""
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    cid = agent["id"]
    path = "/api/v1/agents/%s/tokens/revoke-all" % cid
    dry = lambda: api(shark, "POST", path + "?dry_run=true").json()["revoked_count"]  # noqa: E731
    toks = [token_ok(shark, cid, agent["client_secret"])["access_token"] for _ in range(4)]
    # a previous mark at the very instant the fourth token was written, placed
    # while its second is not yet folded into a tally (0042: a mark taken by
    # the server is always later than every folded second)
    shark.psql("INSERT INTO revocation_watermarks (kind, subject_id, revoked_before) "
               "SELECT 'client', client_id, issued_at FROM oauth_tokens WHERE jti = '%s'"
               % jti(toks[3]))
    assert dry() == 0 == covered_reference(shark, cid)
    toks += [token_ok(shark, cid, agent["client_secret"])["access_token"] for _ in range(4)]
    rows = int(shark.psql("SELECT count(*) FROM token_counts WHERE client_id = '%s'"
                          % cid).strip())
    counted = int(shark.psql("SELECT sum(n) FROM token_counts WHERE client_id = '%s'"
                             % cid).strip())
    assert counted == 8 and 1 <= rows <= 8
    # the tokens after the mark count, whether in its second (token by token) or later
    assert dry() == 4 == covered_reference(shark, cid)
    # revoked by its jti: out of the count
    r = requests.post(shark.url("/oauth/revoke"), data={"token": toks[4]},
                      auth=(cid, agent["client_secret"]))
    assert r.status_code == 200
    shark.psql("UPDATE oauth_tokens SET revoked_at = now() WHERE jti = '%s'" % jti(toks[7]))
    assert dry() == 2 == covered_reference(shark, cid)
    r = api(shark, "POST", path)
    assert r.json() == {"revoked_count": 2, "agent_id": cid}
    assert dry() == 0 == covered_reference(shark, cid)
    assert not any(introspect(shark, t)["active"] for t in toks)
    # and what comes next is counted from zero
    token_ok(shark, cid, agent["client_secret"])
    assert dry() == 1 == covered_reference(shark, cid)


def live_reference(client_id, keep=None):
    """Live own tokens of the client no mark covers (bound to another key than
    `keep` when given), token by token: what shark_clients_live must answer."""
    return ("(SELECT count(*) FROM oauth_tokens t WHERE t.client_id = '%s' AND t.user_id IS NULL "
            "AND t.revoked_at IS NULL AND t.expires_at > now() "
            "AND NOT shark_token_marked(t.client_id, t.user_id, t.jkt, t.issued_at)%s)"
            % (client_id, "" if keep is None else
               " AND t.jkt IS NOT NULL AND t.jkt <> '%s'" % keep))


def counts_and_reference(shark, client_id, keep=None):
    """Both at one instant (one statement): tokens expire as the test runs."""
    out = shark.psql("SELECT shark_clients_live(ARRAY['%s'], %s), %s"
                     % (client_id, "NULL" if keep is None else "'%s'" % keep,
                        live_reference(client_id, keep))).strip()
    return tuple(int(x) for x in out.split("|"))


def add_tokens(shark, client_id, tag, k, jkt=None, expire_from=600):
    """k tokens of the client as the issuing statement writes them (rows and
    their count rows), a millisecond apart, expiring to the second from
    `expire_from` seconds ahead, four to a second."""
    shark.psql(
        "WITH g AS (SELECT g FROM generate_series(1, %d) g), "
        "t AS (INSERT INTO oauth_tokens (jti, client_id, subject, scope, jkt, expires_at, issued_at) "
        "SELECT 'tok_%s_' || g, '%s', '%s', 'mcp:read', %s, date_trunc('second', now()) "
        "+ (%d + g / 4) * interval '1 second', now() - interval '1 ms' * (%d - g) FROM g "
        "RETURNING client_id, issued_at, expires_at, jkt) "
        "INSERT INTO token_counts (client_id, issued_sec, expires_at, jkt, stripe, n) "
        "SELECT client_id, shark_second(issued_at), expires_at, coalesce(jkt, ''), 0, count(*) "
        "FROM t GROUP BY 1, 2, 3, 4 ON CONFLICT (client_id, issued_sec, expires_at, jkt, stripe) "
        "DO UPDATE SET n = token_counts.n + excluded.n"
        % (k, tag, client_id, client_id, "NULL" if jkt is None else "'%s'" % jkt, expire_from,
           k))


def wait_folded(shark, client_id, what):
    """Until the upkeep has folded every count row of the client written so far
    (settled: 2-10 s after its second)."""
    time.sleep(11)
    eventually(lambda: folded(shark, client_id), what, within=30)


def folded(shark, client_id):
    out = shark.psql("SELECT count(*) FILTER (WHERE per_sec IS NULL AND issued_sec < now() "
                     "- interval '11 seconds' AND NOT issued_sec = ANY (shark_count_edges("
                     "client_id))), count(*) FILTER (WHERE stripe = -1) FROM token_counts "
                     "WHERE client_id = '%s' AND expires_at > now()"
                     % client_id).strip().split("|")
    return out[0] == "0" and int(out[1]) > 0


def test_counts_fold_into_tallies_and_stay_exact(shark):
    """The upkeep folds settled count rows into tallies (0042): per client,
    key, segment between marks and 64 s of expiry, by second of expiry. Counts
    stay exact while tokens expire inside a tally, after a per-jti revocation
    of a folded token, across a mark (tokens after it fold into a segment of
    their own) and for key marks."""
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    cid = agent["id"]
    toks = [token_ok(shark, cid, agent["client_secret"])["access_token"] for _ in range(3)]
    add_tokens(shark, cid, "soon", 40, expire_from=16)  # expiring 16-26 s from now
    assert counts_and_reference(shark, cid) == (43, 43)
    wait_folded(shark, cid, "count rows folded")
    assert int(shark.psql("SELECT count(*) FROM token_counts WHERE client_id = '%s' AND stripe = -1 "
                          "AND cardinality(per_sec) = 64" % cid).strip()) >= 1
    # while the SQL tokens expire second by second inside their tally
    seen = set()
    for _ in range(8):
        got, ref = counts_and_reference(shark, cid)
        assert got == ref
        seen.add(ref)
        time.sleep(1)
    assert len(seen) >= 4 and min(seen) >= 3
    # a folded token revoked by its jti leaves the count, before and after the next fold
    r = requests.post(shark.url("/oauth/revoke"), data={"token": toks[0]},
                      auth=(cid, agent["client_secret"]))
    assert r.status_code == 200
    got, ref = counts_and_reference(shark, cid)
    assert got == ref and ref <= 2 + 40
    # its second is settled: the trigger took it off the tally, no fine row left behind
    assert shark.psql("SELECT count(*) FROM token_counts WHERE client_id = '%s' AND n < 0"
                      % cid).strip() == "0"
    wait_folded(shark, cid, "the negative row folded")
    eventually(lambda: counts_and_reference(shark, cid) == (2, 2), "the SQL tokens expired",
               within=30)
    # a mark: what came before is out, what comes after folds on its own side
    path = "/api/v1/agents/%s/tokens/revoke-all" % cid
    r = api(shark, "POST", path)
    assert r.status_code == 200 and r.json()["revoked_count"] == 2
    time.sleep(1.1)  # the next second: not the mark's, which stays unfolded
    add_tokens(shark, cid, "after", 12)
    assert counts_and_reference(shark, cid) == (12, 12)
    wait_folded(shark, cid, "rows after the mark folded")
    assert shark.psql("SELECT count(*) FROM token_counts c JOIN revocation_watermarks w "
                      "ON w.kind = 'client' AND w.subject_id = c.client_id WHERE c.stripe = -1 "
                      "AND c.client_id = '%s' AND c.issued_sec = shark_second(w.revoked_before) "
                      "+ interval '1 second'" % cid).strip() == "1"
    assert counts_and_reference(shark, cid) == (12, 12)
    assert api(shark, "POST", path + "?dry_run=true").json()["revoked_count"] == 12
    # key marks: bound tokens fold by key; a rotation counts those of other keys
    add_tokens(shark, cid, "bound_a", 10, jkt="jkt_a")
    add_tokens(shark, cid, "bound_b", 5, jkt="jkt_b")
    wait_folded(shark, cid, "bound rows folded")
    assert counts_and_reference(shark, cid, keep="jkt_b") == (10, 10)
    assert shark.psql("SELECT shark_revoke_key('%s', 'jkt_b', false)" % cid).strip() == "10"
    assert counts_and_reference(shark, cid, keep="jkt_b") == (0, 0)
    assert counts_and_reference(shark, cid) == (17, 17)
    add_tokens(shark, cid, "bound_a2", 6, jkt="jkt_a")
    wait_folded(shark, cid, "rows after the key mark folded")
    assert counts_and_reference(shark, cid, keep="jkt_b") == (6, 6)
    assert counts_and_reference(shark, cid) == (23, 23)


# -- dry runs ----------------------------------------------------------------------------------

def test_dry_run_revoke_all_counts_and_changes_nothing(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    toks = [token_ok(shark, agent["id"], agent["client_secret"])["access_token"]
            for _ in range(3)]
    path = "/api/v1/agents/%s/tokens/revoke-all" % agent["id"]
    r = api(shark, "POST", path + "?dry_run=true")
    assert r.status_code == 200, r.text
    assert r.json() == {"revoked_count": 3, "agent_id": agent["id"], "dry_run": True}
    assert all(introspect(shark, t)["active"] for t in toks)
    assert marks(shark, "client", agent["id"]) == 0
    assert events(shark, agent["id"], "agent.tokens_revoked_all") == []
    # dry_run=false is the real thing, and the counts agree
    r = api(shark, "POST", path + "?dry_run=false")
    assert r.json() == {"revoked_count": 3, "agent_id": agent["id"]}
    assert api(shark, "POST", path + "?dry_run=true").json()["revoked_count"] == 0


@pytest.mark.parametrize("value", ["yes", "1", "", "TRUE"])
def test_dry_run_takes_only_true_or_false(shark, value):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    tok = token_ok(shark, agent["id"], agent["client_secret"])["access_token"]
    for method, path, body in (
            ("POST", "/api/v1/agents/%s/tokens/revoke-all" % agent["id"], None),
            ("POST", "/api/v1/admin/oauth/revoke-by-pattern",
             {"client_id_pattern": agent["id"], "reason": "r"}),
            ("POST", "/api/v1/users/usr_nope/revoke-agents", {})):
        r = api(shark, method, path + "?dry_run=" + value, json=body)
        assert r.status_code == 400, (path, r.text)
        assert_api_error(r.json(), "invalid_request")
    assert introspect(shark, tok)["active"]


def test_dry_run_by_pattern(shark):
    app = make_app(shark)
    agents = [make_agent(shark, app["id"]) for _ in range(3)]
    toks = [token_ok(shark, ag["id"], ag["client_secret"])["access_token"] for ag in agents]
    pattern = agents[0]["id"]
    body = {"client_id_pattern": pattern, "reason": "drill"}
    r = api(shark, "POST", "/api/v1/admin/oauth/revoke-by-pattern?dry_run=true", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {"revoked_count": 1, "pattern_matched": pattern, "dry_run": True,
                        "matched_client_count": 1}
    assert all(introspect(shark, t)["active"] for t in toks)
    assert marks(shark, "client", pattern) == 0
    r = api(shark, "POST", "/api/v1/admin/oauth/revoke-by-pattern", json=body)
    assert r.json()["revoked_count"] == 1 and r.json()["audit_event_id"].startswith("audit_")
    assert introspect(shark, toks[0]) == {"active": False}
    assert introspect(shark, toks[1])["active"]


def test_dry_run_rotate_dpop_key(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    key = EcKey()
    bound = token_ok(shark, agent["id"], agent["client_secret"], key=key)["access_token"]
    new = EcKey()
    path = "/api/v1/agents/%s/rotate-dpop-key" % agent["id"]
    r = api(shark, "POST", path + "?dry_run=true", json={"new_public_key_jwk": new.jwk})
    assert r.status_code == 200, r.text
    assert r.json()["revoked_token_count"] == 1 and r.json()["dry_run"] is True
    assert "audit_event_id" not in r.json()
    assert introspect(shark, bound)["active"]
    got = api(shark, "GET", "/api/v1/agents/" + agent["id"]).json()
    assert got.get("dpop_jkt") != new.jkt


# -- the revoked set ---------------------------------------------------------------------------

def test_checks_go_on_through_reloads(shark):
    """Forced reloads (a gap: 'reload' on the channel) while tokens are checked:
    no check fails or sees a revoked token as active, and none waits."""
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    toks = [token_ok(shark, agent["id"], agent["client_secret"])["access_token"]
            for _ in range(6)]
    for t in toks[:3]:
        r = requests.post(shark.url("/oauth/revoke"), data={"token": t}, timeout=15,
                          auth=(agent["id"], agent["client_secret"]))
        assert r.status_code == 200
    errors, stop = [], threading.Event()

    def check():
        s = requests.Session()
        while not stop.is_set():
            for i, t in enumerate(toks):
                r = s.post(shark.url("/oauth/introspect"), data={"token": t}, timeout=30,
                           auth=(agent["id"], agent["client_secret"]))
                if r.status_code != 200 or r.json()["active"] != (i >= 3):
                    errors.append((i, r.status_code, r.text))

    threads = [threading.Thread(target=check) for _ in range(3)]
    for th in threads:
        th.start()
    try:
        for _ in range(10):
            shark.psql("NOTIFY shark_revoked, 'reload'")
            time.sleep(0.1)
    finally:
        stop.set()
        for th in threads:
            th.join()
    assert errors == []


# -- listings ----------------------------------------------------------------------------------

def test_agent_tokens_page_by_cursor_stably_under_inserts(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    first = {jti(token_ok(shark, agent["id"], agent["client_secret"])["access_token"])
             for _ in range(7)}
    path = "/api/v1/agents/%s/tokens" % agent["id"]
    seen, params = [], {"limit": 2}
    for _ in range(20):
        page = api(shark, "GET", path, params=params).json()
        assert len(page["data"]) <= 2
        seen += [t["token_id"] for t in page["data"]]
        # tokens issued while paging are newer than the cursor: never on a later page
        token_ok(shark, agent["id"], agent["client_secret"])
        if page["next_cursor"] is None:
            break
        params = {"limit": 2, "cursor": page["next_cursor"]}
    assert len(seen) == len(set(seen))
    assert first <= set(seen)
    listed = api(shark, "GET", path, params={"limit": 1000}).json()["data"]
    assert [t["expires_at"] for t in listed] == sorted((t["expires_at"] for t in listed),
                                                       reverse=True)


def test_agent_tokens_limit_defaults_to_100(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    sess = requests.Session()
    for _ in range(101):
        r = sess.post(shark.url("/oauth/token"), data={"grant_type": "client_credentials"},
                      auth=(agent["id"], agent["client_secret"]), timeout=15)
        assert r.status_code == 200
    path = "/api/v1/agents/%s/tokens" % agent["id"]
    page = api(shark, "GET", path).json()
    assert len(page["data"]) == 100 and "total" not in page and page["next_cursor"]
    assert api(shark, "GET", path, params={"total": "true"}).json()["total"] == 101
    rest = api(shark, "GET", path, params={"cursor": page["next_cursor"]}).json()
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"limit": "x"},
                                    {"cursor": "not-a-cursor"},
                                    {"cursor": base64.urlsafe_b64encode(b"x y").decode()},
                                    {"cursor": base64.urlsafe_b64encode(
                                        b"2026-99-99T00:00:00Z tok_x").decode().rstrip("=")},
                                    {"cursor": base64.urlsafe_b64encode(
                                        b"2026-01-01T00:00:00Z tok_'; DROP TABLE x;--").decode()}])
def test_agent_tokens_bad_paging(shark, params):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    r = api(shark, "GET", "/api/v1/agents/%s/tokens" % agent["id"], params=params)
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")


def test_dry_run_vault_disconnect(vshark, provider):
    w = world(vshark, provider)
    assert vault_fetch(vshark, w["pid"], w["token"], w["key"]).status_code == 200
    path = "/api/v1/vault/connections/" + w["conn"]["id"]
    r = vapi(vshark, "DELETE", path + "?dry_run=true")
    assert r.status_code == 200, r.text
    assert r.json() == {"connection_id": w["conn"]["id"], "dry_run": True,
                        "revoked_agent_ids": [w["agent"]["client_id"]], "revoked_token_count": 1}
    r = vapi(vshark, "DELETE", path + "?dry_run=true&cascade_to_agents=false")
    assert r.json()["revoked_agent_ids"] == [] and r.json()["revoked_token_count"] == 0
    assert vault_introspect(vshark, w["token"])["active"] is True
    assert vapi(vshark, "GET", path).status_code == 200  # still connected
    assert vapi(vshark, "DELETE", path + "?dry_run=maybe").status_code == 400
    assert vapi(vshark, "DELETE", "/api/v1/vault/connections/conn_nope?dry_run=true"
                ).status_code == 404
    # the real disconnect revokes what the dry run counted, by one watermark
    r = vapi(vshark, "DELETE", path)
    assert r.json()["revoked_token_count"] == 1
    assert vault_introspect(vshark, w["token"])["active"] is False
    assert marks(vshark, "client", w["agent"]["client_id"]) == 1


def metric(shark, name):
    for line in shark.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError("no metric " + name)


def test_a_bulk_gap_reloads_in_the_background_at_32_bytes_an_entry(shark):
    """5,000 jtis revoked in one statement make the trigger send "reload"; the
    set is rebuilt off the loops and swapped in (checks meanwhile ask the
    database), and then holds every entry in at most 32 bytes."""
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    tok = token_ok(shark, agent["id"], agent["client_secret"])["access_token"]
    tag = agent["id"][-8:]
    shark.psql("INSERT INTO oauth_tokens (jti, client_id, subject, scope, expires_at) "
               "SELECT 'tok_bulk%s_' || g, '%s', '%s', '', now() + interval '30 minutes' "
               "FROM generate_series(1, 5000) g" % (tag, agent["id"], agent["id"]))
    before = metric(shark, "shark_revoked_entries")
    shark.psql("UPDATE oauth_tokens SET revoked_at = now() WHERE jti LIKE 'tok_bulk%s_%%'" % tag)
    deadline = time.time() + 60
    while metric(shark, "shark_revoked_entries") < before + 5000:
        assert introspect(shark, tok)["active"]  # a check never waits for the reload
        assert time.time() < deadline, "the revoked set was never reloaded"
        time.sleep(0.1)
    entries, size = metric(shark, "shark_revoked_entries"), metric(shark, "shark_revoked_bytes")
    assert size <= 32 * entries + 64, (entries, size)
    assert introspect(shark, tok)["active"]
