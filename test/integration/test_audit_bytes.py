"""A token event's audit row stores only what its row does not already say
(migrations 0039 and 0040, issue 18 item 4), and every reader answers it in
full: the audit listing, its CSV export and the webhook payload."""
import csv
import io
import json

import pytest

import flows
from conftest import Shark
from test_agents import api, make_app
from test_exchange_rules import EXCHANGE, Agent
from test_webhooks import FAST


@pytest.fixture(scope="module")
def srv():
    s = Shark(extra=FAST)
    s.start()
    yield s
    s.cleanup()


def q(s, sql):
    return s.psql(sql).strip()


CASES = [
    # (event, actor, metadata as the server builds it)
    ("oauth.token_issued", "shark_agent_a",
     {"client_id": "shark_agent_a", "grant_type": "client_credentials", "scope": "mcp:read"}),
    ("oauth.token_issued", "shark_agent_a",
     {"client_id": "shark_agent_a", "grant_type": "authorization_code", "scope": "",
      "jkt": "abc", "audience": "https://api.example"}),
    ("oauth.token_issued", "shark_agent_a",
     {"client_id": "shark_agent_a", "grant_type": "urn:ietf:params:oauth:grant-type:device_code"}),
    ("oauth.token_exchanged", "shark_agent_b",
     {"client_id": "shark_agent_b", "grant_type": EXCHANGE, "scope": "mcp:read",
      "actor_id": "shark_agent_b", "subject_id": "shark_agent_a", "chain_depth": 2}),
    ("oauth.token_refreshed", "app_x",
     {"client_id": "app_x", "grant_type": "refresh_token", "scope": "openid"}),
    # nothing to take out: another client, another event, no actor
    ("oauth.token_issued", "shark_agent_a",
     {"client_id": "shark_agent_other", "grant_type": "client_credentials"}),
    ("agent.created", "app_x", {"client_id": "app_x", "grant_type": "refresh_token"}),
    ("oauth.token_issued", None, {"grant_type": "client_credentials"}),
]


@pytest.mark.parametrize("event,actor,meta", CASES)
def test_compact_metadata_round_trips(srv, event, actor, meta):
    lit = "'%s'::jsonb" % json.dumps(meta).replace("'", "''")
    who = "NULL" if actor is None else "'%s'" % actor
    stored = json.loads(q(srv, "SELECT shark_audit_compact('%s', %s, %s)" % (event, who, lit)))
    back = json.loads(q(srv, "SELECT shark_audit_metadata('%s', %s, shark_audit_compact("
                             "'%s', %s, %s))" % (event, who, event, who, lit)))
    assert back == meta
    if event.startswith("oauth.token_") and actor and meta.get("client_id") == actor:
        assert "client_id" not in stored and "actor_id" not in stored
        assert ("grant_type" in stored) == (meta["grant_type"] not in (
            "client_credentials", EXCHANGE, "refresh_token"))
    else:
        assert stored == meta


def test_token_events_answer_their_full_metadata(srv):
    app = make_app(srv)["id"]
    r = api(srv, "POST", "/api/v1/admin/webhooks",
            {"url": "http://127.0.0.1:9/hook", "events": ["oauth.*"]})
    assert r.status_code == 201, r.text
    try:
        subject = caller = Agent(srv, app)
        key = flows.DpopKey()
        tok = subject.ok(subject.token(key, scope="mcp:read"))["access_token"]
        caller.ok(caller.exchange(tok, key))
        # (a token event without client_id is a compact one: the server has always
        # written client_id into those)
        issued = api(srv, "GET", "/api/v1/audit-logs", params={
            "actor_id": subject.client_id, "event": "oauth.token_issued"}).json()["data"]
        assert len(issued) == 1
        assert issued[0]["metadata"] == {"client_id": subject.client_id, "scope": "mcp:read",
                                         "grant_type": "client_credentials", "jkt": key.jkt}
        exchanged = api(srv, "GET", "/api/v1/audit-logs", params={
            "actor_id": caller.client_id, "event": "oauth.token_exchanged"}).json()["data"]
        assert len(exchanged) == 1
        m = exchanged[0]["metadata"]
        assert m["client_id"] == m["actor_id"] == caller.client_id
        assert m["grant_type"] == EXCHANGE and m["subject_id"] == subject.client_id
        assert m["chain_depth"] == 1
        # stored without what the row says; the id is the jti's
        for ev in issued + exchanged:
            assert ev["id"] == "audit_" + ev["target_id"][len("tok_"):]
            by_target = api(srv, "GET", "/api/v1/audit-logs",
                            params={"target_id": ev["target_id"]}).json()["data"]
            assert by_target == [ev]
            stored = json.loads(q(srv, "SELECT metadata FROM audit_events WHERE id = '%s'"
                                       % ev["id"]))
            assert "client_id" not in stored and "grant_type" not in stored
            # the export and the webhook payload answer the same metadata
            rows = list(csv.DictReader(io.StringIO(api(
                srv, "GET", "/api/v1/audit-logs/export",
                params={"target_id": ev["target_id"]}).text)))
            assert [json.loads(row["metadata"]) for row in rows] == [ev["metadata"]]
            payload = json.loads(q(srv, "SELECT payload FROM webhook_deliveries "
                                        "WHERE event_id = '%s'" % ev["id"]))
            assert payload["data"]["metadata"] == ev["metadata"]
    finally:
        api(srv, "DELETE", "/api/v1/admin/webhooks/" + r.json()["id"])
