"""A token whose subject is its client stores no subject (migration 0043,
issue 18 item 4: ~35 B a client-credentials token), and every answer reads it
back as the client: introspection, the delegation chain, exchanges of it, the
audit log, the agent's token listing. A node of the version before reads the
column raw, so while any live node lacks the feature bit (a shark_nodes row
without it, or a connection of a node that predates shark_nodes) tokens keep
their subject."""
import subprocess
import time

import pytest
import requests

import flows
from test_agents import api, audit, events_named, introspect, make_app
from test_exchange_rules import Agent


@pytest.fixture(scope="module")
def app(shark):
    return make_app(shark)["id"]


def jti(token):
    return flows.jwt_claims(token)["jti"]


def stored_subject(shark, token):
    """The row's subject column, None for SQL NULL."""
    out = shark.psql("SELECT coalesce(subject, '<null>') FROM oauth_tokens WHERE jti = '%s'"
                     % jti(token)).strip()
    assert out, "no row for the token"
    return None if out == "<null>" else out


def eventually_stored(shark, agent, want_null, within=20, **form):
    """Issues tokens until one is stored with (or without) its subject: the
    node learns what the fleet announces at its next heartbeat (every 5 s)."""
    deadline = time.time() + within
    while True:
        t = agent.ok(agent.token(**form))["access_token"]
        if (stored_subject(shark, t) is None) == want_null:
            return t
        assert time.time() < deadline, "subject %s never" % ("elided" if want_null else "kept")
        time.sleep(0.2)


def fake_node(shark, node, features):
    shark.psql("INSERT INTO shark_nodes (node_id, features, clock_offset_ms, clock_error_ms, "
               "seen_at) VALUES ('%s', %d, 0, 1, now() + interval '1 hour')" % (node, features))


def chain(shark, token):
    r = requests.get(shark.url("/api/v1/tokens/%s/chain" % jti(token)), headers=shark.auth(),
                     timeout=15)
    assert r.status_code == 200, r.text
    return r.json()


def answers(shark, a, b, token):
    """What the API says of a client-credentials token of `a` handed to b
    and of b's exchange of it, with what differs between any two tokens
    taken out."""
    per_token = ("jti", "exp", "iat", "nbf", "expires_at", "issued_at", "created_at", "id",
                 "token_id", "parent_jti", "target_id", "request_id", "events")

    def strip(obj):
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k not in per_token}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    child = b.ok(b.exchange(token))["access_token"]
    issued = [e for e in events_named(audit(shark, target_id=jti(token)), "oauth.token_issued")]
    exchanged = events_named(audit(shark, target_id=jti(child)), "oauth.token_exchanged")
    listed = api(shark, "GET", "/api/v1/agents/%s/tokens" % a.client_id, params={"limit": 1000})
    assert listed.status_code == 200, listed.text
    mine = [t for t in listed.json()["data"] if t["token_id"] == jti(token)]
    assert len(issued) == 1 and len(exchanged) == 1 and len(mine) == 1
    return strip({"introspection": introspect(shark, token), "chain": chain(shark, token),
                  "child": introspect(shark, child), "child_chain": chain(shark, child),
                  "issued": issued[0], "exchanged": exchanged[0], "listed": mine[0]})


def test_client_credentials_tokens_store_no_subject_and_answer_the_same(shark, app):
    a, b = Agent(shark, app), Agent(shark, app)
    elided = eventually_stored(shark, a, want_null=True, audience=b.client_id)
    got = answers(shark, a, b, elided)
    assert got["introspection"]["sub"] == a.client_id
    assert got["chain"]["principal"] == {"subject": a.client_id, "user_id": None}
    assert [h["subject"] for h in got["chain"]["hops"]] == [a.client_id]
    assert got["child"]["sub"] == a.client_id
    assert [h["subject"] for h in got["child_chain"]["hops"]] == [a.client_id, a.client_id]
    assert got["child_chain"]["principal"]["subject"] == a.client_id
    # b's child acts for a: its subject is not its client, so it is stored
    child_row = shark.psql("SELECT subject, client_id FROM oauth_tokens WHERE parent_jti = '%s'"
                           % jti(elided)).strip()
    assert child_row == "%s|%s" % (a.client_id, b.client_id)
    # the same token written with its subject (a live node without the bit) answers the same
    fake_node(shark, "old-" + a.client_id, 3)
    try:
        kept = eventually_stored(shark, a, want_null=False, audience=b.client_id)
        assert stored_subject(shark, kept) == a.client_id
        again = answers(shark, a, b, kept)
        for k in got:
            assert again[k] == got[k], (k, again[k], got[k])
    finally:
        shark.psql("DELETE FROM shark_nodes WHERE node_id = 'old-%s'" % a.client_id)
    eventually_stored(shark, a, want_null=True)


def test_a_live_node_without_the_bit_keeps_subjects_until_it_is_gone(shark, app):
    a = Agent(shark, app)
    eventually_stored(shark, a, want_null=True)
    fake_node(shark, "prev-" + a.client_id, 3)
    try:
        eventually_stored(shark, a, want_null=False)
        toks = [a.ok(a.token())["access_token"] for _ in range(5)]
        assert [stored_subject(shark, t) for t in toks] == [a.client_id] * 5
    finally:
        shark.psql("DELETE FROM shark_nodes WHERE node_id = 'prev-%s'" % a.client_id)
    # a node gone (not seen for 30 s) no longer counts, nor does one with the bit
    fake_node(shark, "gone-" + a.client_id, 3)
    fake_node(shark, "peer-" + a.client_id, 7)
    shark.psql("UPDATE shark_nodes SET seen_at = now() - interval '1 minute' "
               "WHERE node_id = 'gone-%s'" % a.client_id)
    try:
        eventually_stored(shark, a, want_null=True)
    finally:
        shark.psql("DELETE FROM shark_nodes WHERE node_id IN ('gone-%s', 'peer-%s')"
                   % (a.client_id, a.client_id))


def test_a_node_of_the_version_before_shark_nodes_keeps_subjects(shark, app):
    """Its connections carry libpq's empty application_name."""
    a = Agent(shark, app)
    eventually_stored(shark, a, want_null=True)
    ci = "host=%s dbname=shark user=shark application_name=''" % shark.pg_socket_dir
    old = subprocess.Popen(["psql", ci, "-X", "-q", "-c", "SELECT pg_sleep(60)"],
                           env=shark.pg_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        t = eventually_stored(shark, a, want_null=False)
        assert stored_subject(shark, t) == a.client_id
    finally:
        old.kill()
        old.wait()
        # its backend would sleep on without a client
        shark.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE application_name = '' AND backend_type = 'client backend'")
    eventually_stored(shark, a, want_null=True)


def test_tokens_acting_for_a_person_keep_their_subject(shark, app):
    eventually_stored(shark, Agent(shark, app), want_null=True)
    g = flows.code_flow(shark, scope="openid mcp:read")
    assert stored_subject(shark, g.access_token) == g.person.id
    assert introspect(shark, g.access_token)["sub"] == g.person.id
    assert chain(shark, g.access_token)["principal"] == {"subject": g.person.id,
                                                         "user_id": g.person.id}
