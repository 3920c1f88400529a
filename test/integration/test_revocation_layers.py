"""Layer 3 (POST /api/v1/users/{id}/revoke-agents), Layer 4
(POST /api/v1/admin/oauth/revoke-by-pattern) and the revocation feed
(GET /api/v1/revocations), checked through the token endpoint, introspection
and the audit log."""
import base64
import datetime
import json
import uuid

import pytest
import requests

import flows
from conftest import assert_api_error, assert_oauth_error


def api(s, method, path, **kw):
    return s.request(method, path, admin=True, **kw)


def tag():
    return uuid.uuid4().hex[:10]


def new_app(s):
    r = api(s, "POST", "/api/v1/apps", json={"name": "layers", "scopes": ["mcp:read"]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def new_agent(s, app_id, created_by=None, client_id=None):
    body = {"app_id": app_id, "name": "a", "scopes": ["mcp:read"]}
    if created_by:
        body["created_by"] = created_by
    if client_id:
        body["client_id"] = client_id
    r = api(s, "POST", "/api/v1/agents", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def token_request(s, agent):
    return requests.post(s.url("/oauth/token"), data={"grant_type": "client_credentials"},
                         auth=(agent["client_id"], agent["client_secret"]), timeout=15)


def token(s, agent):
    r = token_request(s, agent)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def jti(tok):
    payload = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]


def active(s, tok):
    r = requests.post(s.url("/oauth/introspect"), data={"token": tok}, headers=s.auth(),
                      timeout=15)
    assert r.status_code == 200, r.text
    return r.json()["active"]


def can_get_token(s, agent):
    r = token_request(s, agent)
    if r.status_code == 200:
        return True
    assert r.status_code == 401, r.text
    assert_oauth_error(r.json(), "invalid_client")
    return False


def status(s, agent):
    return api(s, "GET", "/api/v1/agents/" + agent["id"]).json()["status"]


def audit(s, **params):
    r = api(s, "GET", "/api/v1/audit-logs", params=params)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


@pytest.fixture(scope="module")
def app_id(shark):
    return new_app(shark)


@pytest.fixture
def world(shark, app_id):
    """alice created a1 and a2, bob created b1 and b2 (agents, admin API). alice and
    bob each signed in and consented to the app c1 (registered by DCR) through the
    hosted pages: c1 holds an access and a refresh token for each of them."""
    alice, bob = flows.sign_up(shark), flows.sign_up(shark)
    w = {"alice": alice.id, "bob": bob.id}
    w["a1"] = new_agent(shark, app_id, created_by=w["alice"])
    w["a2"] = new_agent(shark, app_id, created_by=w["alice"])
    w["b1"] = new_agent(shark, app_id, created_by=w["bob"])
    w["b2"] = new_agent(shark, app_id, created_by=w["bob"])
    c1 = flows.register_client(shark, scope="mcp:read")
    w["c1"] = c1.client_id
    w["c1_for_alice"] = flows.code_flow(shark, person=alice, client=c1, scope="mcp:read")
    w["c1_for_bob"] = flows.code_flow(shark, person=bob, client=c1, scope="mcp:read")
    w["consent"] = w["c1_for_alice"].consent_id
    w["tok"] = {k: token(shark, w[k]) for k in ("a1", "a2", "b1", "b2")}
    return w


def refresh_refused(s, grant):
    r = flows.refresh(s, grant.client, grant.refresh_token)
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_grant")


# -- Layer 3 -------------------------------------------------------------------

def test_layer3_all(shark, world):
    w = world
    r = api(shark, "POST", "/api/v1/users/%s/revoke-agents" % w["alice"],
            json={"reason": "customer cancelled subscription"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"revoked_agent_ids", "revoked_consent_count", "audit_event_id"}
    assert body["revoked_agent_ids"] == sorted([w["a1"]["id"], w["a2"]["id"], w["c1"]])
    assert body["revoked_consent_count"] == 1
    # alice's agents: old tokens dead, no new ones, disabled
    for k in ("a1", "a2"):
        assert active(shark, w["tok"][k]) is False
        assert can_get_token(shark, w[k]) is False
        assert status(shark, w[k]) == "disabled"
    # bob's agents keep working; c1 loses alice's consent and token, keeps bob's
    for k in ("b1", "b2"):
        assert active(shark, w["tok"][k]) is True
        assert can_get_token(shark, w[k]) is True
        assert status(shark, w[k]) == "active"
    assert active(shark, w["c1_for_alice"].access_token) is False
    assert active(shark, w["c1_for_bob"].access_token) is True
    assert api(shark, "GET", "/api/v1/users/%s/consents" % w["alice"], params={"total": "true"}).json()["total"] == 0
    assert api(shark, "GET", "/api/v1/users/%s/consents" % w["bob"], params={"total": "true"}).json()["total"] == 1
    # the audit event, found by the user's id
    ev = [e for e in audit(shark, actor_id=w["alice"]) if e["event"] == "user.agents_revoked"]
    assert len(ev) == 1 and ev[0]["id"] == body["audit_event_id"]
    m = ev[0]["metadata"]
    assert m["revoked_count"] == 3 and m["revoked_agent_ids"] == body["revoked_agent_ids"]
    assert m["revoked_consent_count"] == 1 and m["reason"] == "customer cancelled subscription"
    assert m["revoked_token_count"] == 3
    assert ev[0]["actor_id"] == w["alice"] and ev[0]["target_id"] == w["alice"]


def test_layer3_scoped(shark, world):
    w = world
    r = api(shark, "POST", "/api/v1/users/%s/revoke-agents" % w["alice"],
            json={"agent_ids": [w["a1"]["id"], w["a1"]["id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["revoked_agent_ids"] == [w["a1"]["id"]]
    assert r.json()["revoked_consent_count"] == 0
    assert active(shark, w["tok"]["a1"]) is False and can_get_token(shark, w["a1"]) is False
    for k in ("a2", "b1", "b2"):
        assert active(shark, w["tok"][k]) is True and can_get_token(shark, w[k]) is True
    assert active(shark, w["c1_for_alice"].access_token) is True
    # a consented-to client: the consent and alice's token go, c1 stays for bob
    r = api(shark, "POST", "/api/v1/users/%s/revoke-agents" % w["alice"],
            json={"agent_ids": [w["c1"]], "reason": None})
    assert r.status_code == 200, r.text
    assert r.json()["revoked_agent_ids"] == [w["c1"]]
    assert r.json()["revoked_consent_count"] == 1
    assert active(shark, w["c1_for_alice"].access_token) is False
    assert active(shark, w["c1_for_bob"].access_token) is True
    assert active(shark, w["tok"]["b1"]) is True and status(shark, w["b1"]) == "active"
    assert active(shark, w["tok"]["a2"]) is True


@pytest.mark.parametrize("scoped", [False, True])
def test_layer3_kills_the_refresh_token(shark, world, scoped):
    w = world
    body = {"agent_ids": [w["c1"]]} if scoped else {}
    r = api(shark, "POST", "/api/v1/users/%s/revoke-agents" % w["alice"], json=body)
    assert r.status_code == 200, r.text
    refresh_refused(shark, w["c1_for_alice"])
    r = flows.refresh(shark, w["c1_for_bob"].client, w["c1_for_bob"].refresh_token)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("foreign", ["b2", "unknown", "sqlish"])
def test_layer3_refuses_foreign_ids(shark, world, foreign):
    w = world
    bad = {"b2": w["b2"]["id"], "unknown": "shark_agent_nope",
           "sqlish": "x'); UPDATE oauth_clients SET status='disabled'; --"}[foreign]
    before = audit(shark, actor_id=w["alice"])
    r = api(shark, "POST", "/api/v1/users/%s/revoke-agents" % w["alice"],
            json={"agent_ids": [w["a1"]["id"], bad]})
    assert r.status_code == 400
    assert_api_error(r.json(), "invalid_request")
    assert bad in r.json()["error"]["message"].replace('\\"', '"')
    for k in ("a1", "a2", "b1", "b2"):
        assert active(shark, w["tok"][k]) is True
        assert status(shark, w[k]) == "active"
    assert active(shark, w["c1_for_alice"].access_token) is True
    assert audit(shark, actor_id=w["alice"]) == before


@pytest.mark.parametrize("body", [
    {"agent_ids": "a"}, {"agent_ids": [1]}, {"agent_ids": [""]}, {"agent_ids": []},
    {"agent_ids": {"a": 1}}, {"reason": 5}, {"reason": ["x"]}, {"reason": "r" * 1001},
])
def test_layer3_bad_body(shark, world, body):
    r = api(shark, "POST", "/api/v1/users/%s/revoke-agents" % world["alice"], json=body)
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")
    assert status(shark, world["a1"]) == "active" and active(shark, world["tok"]["a1"])


@pytest.mark.parametrize("raw", [b"{", b"[]", b"null", b'"x"'])
def test_layer3_malformed_json(shark, world, raw):
    r = api(shark, "POST", "/api/v1/users/%s/revoke-agents" % world["alice"], data=raw,
            headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert status(shark, world["a1"]) == "active"


def test_layer3_no_body_and_unknown_user(shark, world):
    r = api(shark, "POST", "/api/v1/users/usr_nope/revoke-agents", json={})
    assert r.status_code == 404
    assert_api_error(r.json(), "not_found")
    r = api(shark, "POST", "/api/v1/users/%s/revoke-agents" % world["bob"])
    assert r.status_code == 200, r.text
    assert r.json()["revoked_agent_ids"] == sorted([world["b1"]["id"], world["b2"]["id"],
                                                    world["c1"]])
    assert active(shark, world["tok"]["a1"]) is True


def test_layer3_requires_admin(shark, world):
    r = shark.request("POST", "/api/v1/users/%s/revoke-agents" % world["alice"], json={})
    assert r.status_code == 401
    assert status(shark, world["a1"]) == "active"


# -- Layer 4 -------------------------------------------------------------------

def fleet(s, app_id, suffixes):
    t = tag()
    agents = {sfx: new_agent(s, app_id, client_id="shark_agent_%s_%s" % (t, sfx))
              for sfx in suffixes}
    toks = {sfx: token(s, a) for sfx, a in agents.items()}
    return t, agents, toks


def by_pattern(s, pattern, reason="emergency rollback"):
    return api(s, "POST", "/api/v1/admin/oauth/revoke-by-pattern",
               json={"client_id_pattern": pattern, "reason": reason})


def check_only(s, toks, expected):
    for sfx, tok in toks.items():
        assert active(s, tok) is (sfx not in expected), sfx


def still_active(s, agents):
    """Layer 4 revokes tokens only: every agent can still get new ones."""
    for a in agents.values():
        assert can_get_token(s, a) is True


def test_layer4_version_prefix(shark, app_id):
    t, agents, toks = fleet(shark, app_id, ["v3.2_a", "v3.2_b", "v3.2_", "v3.20_c", "v3x2_d",
                                            "v3.1_e"])
    toks["v3.2_a2"] = token(shark, agents["v3.2_a"])
    pattern = "shark_agent_%s_v3.2_*" % t
    r = by_pattern(shark, pattern)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["revoked_count"] == 4 and body["pattern_matched"] == pattern
    assert body["audit_event_id"].startswith("audit_")
    check_only(shark, toks, {"v3.2_a", "v3.2_a2", "v3.2_b", "v3.2_"})
    ev = [e for e in audit(shark, event="oauth.tokens_revoked_by_pattern")
          if e["id"] == body["audit_event_id"]]
    assert len(ev) == 1
    m = ev[0]["metadata"]
    assert m["pattern"] == pattern and m["reason"] == "emergency rollback"
    assert m["revoked_count"] == 4
    assert sorted(m["client_ids"]) == sorted(agents[s]["client_id"]
                                             for s in ("v3.2_a", "v3.2_b", "v3.2_"))
    # again: nothing left to revoke, still recorded
    r = by_pattern(shark, pattern)
    assert r.json()["revoked_count"] == 0
    assert r.json()["audit_event_id"] != body["audit_event_id"]
    still_active(shark, agents)


def test_layer4_question_marks_and_sets(shark, app_id):
    t, agents, toks = fleet(shark, app_id, ["n1", "n22", "nx", "n", "m1", "a_b", "axb", "z9"])
    p = "shark_agent_%s_n?" % t
    assert by_pattern(shark, p).json()["revoked_count"] == 2  # n1, nx
    check_only(shark, toks, {"n1", "nx"})
    # GLOB has no LIKE metas: _ is a literal underscore
    assert by_pattern(shark, "shark_agent_%s_a_b" % t).json()["revoked_count"] == 1
    check_only(shark, toks, {"n1", "nx", "a_b"})
    # sets: [^a-m][0-9] matches n1 (already revoked) and z9, not m1, n22 or nx
    assert by_pattern(shark, "shark_agent_%s_[^a-m][0-9]" % t).json()["revoked_count"] == 1
    check_only(shark, toks, {"n1", "nx", "a_b", "z9"})
    # GLOB is case-sensitive
    assert by_pattern(shark, "SHARK_AGENT_%s_*" % t).json()["revoked_count"] == 0
    still_active(shark, agents)


def test_layer4_star_digit_alone(shark_factory):
    """`*[0-9]` on a server of its own, so the leading * sees every client."""
    s = shark_factory().start()
    app = new_app(s)
    t, agents, toks = fleet(s, app, ["x1", "y22", "z", "w9q"])
    r = by_pattern(s, "*[0-9]")
    assert r.status_code == 200, r.text
    assert r.json()["revoked_count"] == 2
    check_only(s, toks, {"x1", "y22"})
    r = by_pattern(s, "*")
    assert r.json()["revoked_count"] == 2
    check_only(s, toks, set(toks))
    still_active(s, agents)


@pytest.mark.parametrize("body", [
    {"client_id_pattern": "", "reason": "r"},
    {"client_id_pattern": "shark_agent_*"},
    {"client_id_pattern": "shark_agent_*", "reason": ""},
    {"client_id_pattern": "shark_agent_*", "reason": None},
    {"reason": "r"},
    {"client_id_pattern": None, "reason": "r"},
    {"client_id_pattern": 5, "reason": "r"},
    {"client_id_pattern": ["shark_agent_*"], "reason": "r"},
    {"client_id_pattern": "shark_agent_*", "reason": 1},
    {"client_id_pattern": "shark_agent_[0-9", "reason": "r"},
    {"client_id_pattern": "[", "reason": "r"},
    {"client_id_pattern": "x" * 1001, "reason": "r"},
])
def test_layer4_bad_input(shark, app_id, body):
    _, agents, toks = fleet(shark, app_id, ["k1"])
    r = api(shark, "POST", "/api/v1/admin/oauth/revoke-by-pattern", json=body)
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")
    assert active(shark, toks["k1"]) is True


def test_layer4_malformed_and_unauthorized(shark, app_id):
    _, agents, toks = fleet(shark, app_id, ["q1"])
    for raw in (b"", b"{", b"[]", b"null"):
        r = api(shark, "POST", "/api/v1/admin/oauth/revoke-by-pattern", data=raw,
                headers={"Content-Type": "application/json"})
        assert r.status_code == 400
    r = shark.request("POST", "/api/v1/admin/oauth/revoke-by-pattern",
                      json={"client_id_pattern": "*", "reason": "r"})
    assert r.status_code == 401
    assert active(shark, toks["q1"]) is True


def test_layer4_sql_metacharacters_inert(shark, app_id):
    _, agents, toks = fleet(shark, app_id, ["s1"])
    for p in ("%", "' OR '1'='1", "shark_agent_%", "*'; UPDATE oauth_tokens SET revoked_at=now(); --"):
        r = by_pattern(shark, p, reason="'); DELETE FROM audit_events; --")
        assert r.status_code == 200, r.text
        assert r.json()["revoked_count"] == 0 and r.json()["pattern_matched"] == p
    assert active(shark, toks["s1"]) is True
    ev = audit(shark, event="oauth.tokens_revoked_by_pattern", limit=1)
    assert ev[0]["metadata"]["reason"] == "'); DELETE FROM audit_events; --"


# -- revocation feed -------------------------------------------------------------

def test_feed(shark, app_id):
    since = now_iso()
    t, agents, toks = fleet(shark, app_id, ["f1", "f2", "f3"])
    toks["f1b"] = token(shark, agents["f1"])
    assert by_pattern(shark, "shark_agent_%s_f*" % t).json()["revoked_count"] == 4
    want = {jti(tk) for tk in toks.values()}
    r = api(shark, "GET", "/api/v1/revocations", params={"since": since})
    assert r.status_code == 200, r.text
    body = r.json()
    got = {d["jti"] for d in body["data"]}
    assert want <= got
    row = [d for d in body["data"] if d["jti"] == jti(toks["f2"])][0]
    assert row["client_id"] == agents["f2"]["client_id"]
    assert row["revoked_at"] and row["expires_at"] > row["revoked_at"]
    assert body["next_since"] == body["data"][-1]["revoked_at"]
    times = [d["revoked_at"] for d in body["data"]]
    assert times == sorted(times)
    # one at a time: every jti once, across a group revoked at the same instant
    seen, params = [], {"since": since, "limit": 1}
    for _ in range(50):
        page = api(shark, "GET", "/api/v1/revocations", params=params).json()
        if not page["data"]:
            assert page["next_since"] is None
            break
        assert len(page["data"]) == 1
        seen.append(page["data"][0]["jti"])
        params = {"since": page["next_since"], "after_jti": page["next_after_jti"], "limit": 1}
    assert len(seen) == len(set(seen)) and want <= set(seen)
    # the default window is the last day
    assert want <= {d["jti"] for d in api(shark, "GET", "/api/v1/revocations").json()["data"]}
    later = api(shark, "GET", "/api/v1/revocations", params={"since": body["next_since"]}).json()
    assert not want & {d["jti"] for d in later["data"]}


@pytest.mark.parametrize("params", [{"since": "yesterday"}, {"since": "2026-13-45T00:00:00Z"},
                                    {"since": "nope"}, {"limit": 0}, {"limit": 1001},
                                    {"limit": "x"}, {"after_jti": "tok_x"}])
def test_feed_bad_params(shark, params):
    r = api(shark, "GET", "/api/v1/revocations", params=params)
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")


def test_feed_requires_admin(shark):
    assert shark.get("/api/v1/revocations").status_code == 401
