"""A token event is found by its jti (GET /api/v1/audit-logs?target_id=tok_...)
through a BRIN index on the jti's time-ordered prefix (migration 0040), which reads
every page range it has not summarized. The upkeep summarizes the ranges behind the
insert point every few seconds (migration 0044, issue 18 item 6), so that lookup reads
seconds of appended pages instead of everything since autovacuum last came by.
Autovacuum is off on this server's cluster: only the upkeep can summarize here."""
import json
import time

import pytest

from conftest import Shark
from test_agents import api, make_agent, make_app, token_ok, unverified_claims

TOKEN_EVENTS = "('oauth.token_issued', 'oauth.token_exchanged', 'oauth.token_refreshed')"
PAGES_PER_RANGE = 32  # migration 0040


@pytest.fixture(scope="module")
def srv():
    s = Shark()
    s.start()
    s.psql("ALTER SYSTEM SET autovacuum = off")
    s.psql("SELECT pg_reload_conf()")
    yield s
    s.cleanup()


def unsummarized_pages(s):
    """The heap pages any jti lookup reads: those of the ranges the index has not
    summarized (the prefix asked for is above every jti, so no summarized range can
    hold it)."""
    out = s.psql("SET enable_seqscan = off; EXPLAIN (ANALYZE, FORMAT JSON) SELECT 1 "
                 "FROM audit_events WHERE left(target_id, 15) COLLATE \"C\" = "
                 "'tok_zzzzzzzzzzz' AND event IN " + TOKEN_EVENTS)
    pages = 0
    todo = [json.loads(out[out.index("["):])[0]["Plan"]]
    while todo:
        node = todo.pop()
        assert node["Node Type"] != "Seq Scan", node
        pages += node.get("Lossy Heap Blocks", 0)
        todo += node.get("Plans", [])
    return pages


def by_target(s, target):
    r = api(s, "GET", "/api/v1/audit-logs", params={"target_id": target})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_upkeep_summarizes_jti_index_and_lookups_find_tokens(srv):
    agent = make_agent(srv, make_app(srv)["id"])
    jti = unverified_claims(token_ok(srv, agent["client_id"], agent["client_secret"])
                            ["access_token"])["jti"]
    # fresh: its range is not summarized yet
    assert [(e["event"], e["actor_id"]) for e in by_target(srv, jti)] == [
        ("oauth.token_issued", agent["client_id"])]
    # ~13 ranges of token events after it, jtis in time order as the server writes them
    srv.psql("INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata) "
             "SELECT 'audit_jti' || g, 'oauth.token_issued', 'shark_agent_bulk', 'agent', "
             "'tok_0' || lpad(g::text, 10, '0') || 'AbCdEfGhIjK', '{}' "
             "FROM generate_series(1, 25000) g")
    appended = int(srv.psql(
        "SELECT count(DISTINCT (ctid::text::point)[0]) FROM audit_events "
        "WHERE actor_id = 'shark_agent_bulk'"))
    assert appended > 12 * PAGES_PER_RANGE
    # the upkeep leaves the range being filled and the one before it; the current
    # range of the other partitions (a page each) may be there too
    deadline = time.time() + 30
    while unsummarized_pages(srv) > 3 * PAGES_PER_RANGE + 8 and time.time() < deadline:
        time.sleep(0.5)
    assert unsummarized_pages(srv) <= 3 * PAGES_PER_RANGE + 8
    # summarized ranges still hold what they summarize
    assert [e["event"] for e in by_target(srv, jti)] == ["oauth.token_issued"]
    for g in (1, 12500, 25000):
        target = "tok_0%010dAbCdEfGhIjK" % g
        assert [(e["target_id"], e["actor_id"]) for e in by_target(srv, target)] == [
            (target, "shark_agent_bulk")]
    assert by_target(srv, "tok_0%010dAbCdEfGhIjK" % 25001) == []
