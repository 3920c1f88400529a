"""Token exchange (RFC 8693) as an attacker would try it, and the rules that
stop them (issue 13 §1): who may exchange a token, what the new token may be
(scope, lifetime, key binding), and that it dies with its parent.

Every case talks to a real `shark` over HTTP; agents are made with the admin
API, DPoP proofs with flows.DpopKey."""
import time

import pytest
import requests

import flows
from conftest import assert_oauth_error
from test_agents import api, make_agent, make_app

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
AT = "urn:ietf:params:oauth:token-type:access_token"
CC = "client_credentials"


class Agent:
    def __init__(self, shark, app_id, scopes=("mcp:read", "mcp:write")):
        a = make_agent(shark, app_id, scopes=scopes, grant_types=[CC, EXCHANGE])
        self.client_id, self.secret = a["client_id"], a["client_secret"]
        self.shark = shark

    def token(self, key=None, **form):
        return self.post(dict(form, grant_type=CC), key)

    def exchange(self, subject, key=None, **form):
        return self.post(dict(form, grant_type=EXCHANGE, subject_token=subject,
                              subject_token_type=AT), key)

    def post(self, form, key=None):
        headers = {"DPoP": key.proof(self.shark.url("/oauth/token"), "POST")} if key else {}
        return requests.post(self.shark.url("/oauth/token"), data=form,
                             auth=(self.client_id, self.secret), headers=headers, timeout=15)

    def ok(self, r):
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def app(shark):
    return make_app(shark, scopes=("mcp:read", "mcp:write", "files:read"))["id"]


def denials(shark, client_id):
    r = api(shark, "GET", "/api/v1/audit-logs",
            params={"event": "oauth.token_exchange_denied", "actor_id": client_id, "limit": 100})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def exchanged_by(shark, client_id):
    return int(shark.psql("SELECT count(*) FROM oauth_tokens WHERE client_id = '%s' "
                          "AND parent_jti IS NOT NULL" % client_id))


def refused(shark, caller, r, why):
    """invalid_grant, its audit event, and no exchanged token written for the caller."""
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_grant")
    assert why in r.json()["error_description"], r.text
    assert any(why in e["metadata"]["reason"] for e in denials(shark, caller.client_id))
    assert exchanged_by(shark, caller.client_id) == 0


def test_a_public_client_cannot_exchange(shark, app):
    victim = Agent(shark, app)
    key = flows.DpopKey()
    bound = victim.ok(victim.token(key))["access_token"]
    reg = requests.post(shark.url("/oauth/register"), headers=shark.auth(), json={
        "client_name": "public exchanger", "token_endpoint_auth_method": "none",
        "grant_types": [EXCHANGE, "authorization_code"], "redirect_uris": [flows.REDIRECT]},
        timeout=15)
    assert reg.status_code == 201, reg.text
    cid = reg.json()["client_id"]
    r = requests.post(shark.url("/oauth/token"), data={
        "grant_type": EXCHANGE, "client_id": cid, "subject_token": bound,
        "subject_token_type": AT}, timeout=15)
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "unauthorized_client")
    assert exchanged_by(shark, cid) == 0


def test_a_token_that_does_not_name_the_caller_is_refused(shark, app):
    victim, thief = Agent(shark, app), Agent(shark, app)
    t = victim.ok(victim.token())["access_token"]
    refused(shark, thief, thief.exchange(t), "not issued to this client")
    # Naming another client does not help either.
    other = Agent(shark, app)
    t = victim.ok(victim.token(audience=other.client_id))["access_token"]
    refused(shark, thief, thief.exchange(t), "not issued to this client")


def test_own_bound_token_needs_a_proof_by_its_key(shark, app):
    a = Agent(shark, app)
    key = flows.DpopKey()
    t = a.ok(a.token(key))["access_token"]
    refused(shark, a, a.exchange(t), "a DPoP proof is required")
    refused(shark, a, a.exchange(t, flows.DpopKey()), "signed by its key")
    out = a.ok(a.exchange(t, key))
    assert out["token_type"] == "DPoP"
    assert flows.jwt_claims(out["access_token"])["cnf"]["jkt"] == key.jkt


def test_handoff_by_audience_keeps_the_binding_on_the_callers_key(shark, app):
    a, b = Agent(shark, app), Agent(shark, app)
    key_a, key_b = flows.DpopKey(), flows.DpopKey()
    handed = a.ok(a.token(key_a, audience=b.client_id))["access_token"]
    assert flows.jwt_claims(handed)["aud"] == b.client_id
    # Binding is never lost: without a proof nothing is issued.
    refused(shark, b, b.exchange(handed), "a DPoP proof is required")
    out = b.ok(b.exchange(handed, key_b))
    c = flows.jwt_claims(out["access_token"])
    assert out["token_type"] == "DPoP"
    assert c["cnf"]["jkt"] == key_b.jkt
    assert c["sub"] == a.client_id and c["client_id"] == b.client_id
    assert c["act"]["sub"] == b.client_id
    parent = flows.jwt_claims(handed)["jti"]
    assert shark.psql("SELECT parent_jti FROM oauth_tokens WHERE jti = '%s'" % c["jti"]).strip() == parent


def test_scope_stays_within_subject_and_caller_whether_asked_or_not(shark, app):
    a = Agent(shark, app, scopes=("mcp:read", "mcp:write", "files:read"))
    b = Agent(shark, app, scopes=("mcp:read", "files:read"))
    handed = a.ok(a.token(scope="mcp:read mcp:write", audience=b.client_id))["access_token"]
    out = b.ok(b.exchange(handed))
    assert out["scope"] == "mcp:read"
    assert flows.jwt_claims(out["access_token"])["scope"] == "mcp:read"
    for wider in ("mcp:write", "files:read", "mcp:read mcp:write"):
        r = b.exchange(handed, scope=wider)
        assert r.status_code == 400, r.text
        assert_oauth_error(r.json(), "invalid_scope")
    # Nothing in common: nothing to issue.
    only_write = a.ok(a.token(scope="mcp:write", audience=b.client_id))["access_token"]
    r = b.exchange(only_write)
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_scope")


def test_the_new_token_never_outlives_the_subject(shark, app):
    a, b = Agent(shark, app), Agent(shark, app)
    handed = a.ok(a.token(audience=b.client_id))["access_token"]
    time.sleep(2)  # a fresh lifetime would now end 2 s after the subject's
    out = b.ok(b.exchange(handed))
    assert flows.jwt_claims(out["access_token"])["exp"] == flows.jwt_claims(handed)["exp"]
    assert out["expires_in"] <= flows.jwt_claims(handed)["exp"] - int(time.time()) + 1


def test_actor_token_must_be_the_callers_own_and_proven(shark, app):
    a, b, c = Agent(shark, app), Agent(shark, app), Agent(shark, app)
    handed = a.ok(a.token(audience=b.client_id))["access_token"]
    foreign = c.ok(c.token())["access_token"]
    r = b.exchange(handed, actor_token=foreign, actor_token_type=AT)
    refused(shark, b, r, "not the client's own token")
    key_b = flows.DpopKey()
    own_bound = b.ok(b.token(key_b))["access_token"]
    r = b.exchange(handed, flows.DpopKey(), actor_token=own_bound, actor_token_type=AT)
    assert r.status_code == 400, r.text
    assert "actor_token is DPoP-bound" in r.json()["error_description"]
    out = b.ok(b.exchange(handed, key_b, actor_token=own_bound, actor_token_type=AT))
    assert flows.jwt_claims(out["access_token"])["act"]["sub"] == b.client_id


def revoke(shark, client, token):
    r = requests.post(shark.url("/oauth/revoke"), data={"token": token},
                      auth=(client.client_id, client.secret), timeout=15)
    assert r.status_code == 200, r.text


def test_revoking_a_token_revokes_every_token_derived_from_it(shark, app):
    a, b, c = Agent(shark, app), Agent(shark, app), Agent(shark, app)
    root = a.ok(a.token(audience=b.client_id))["access_token"]
    child = b.ok(b.exchange(root, audience=c.client_id))["access_token"]
    grandchild = c.ok(c.exchange(child))["access_token"]
    sibling = a.ok(a.token())["access_token"]
    assert all(flows.active(shark, t) for t in (root, child, grandchild, sibling))
    revoke(shark, a, root)
    assert [flows.active(shark, t) for t in (root, child, grandchild)] == [False] * 3
    assert flows.active(shark, sibling) is True
    # A revoked parent can no longer be exchanged, nor can its children.
    r = c.exchange(child)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


def test_agent_revoke_all_reaches_tokens_other_agents_derived(shark, app):
    a, b = Agent(shark, app), Agent(shark, app)
    handed = a.ok(a.token(audience=b.client_id))["access_token"]
    derived = b.ok(b.exchange(handed))["access_token"]
    own_b = b.ok(b.token())["access_token"]
    r = api(shark, "POST", "/api/v1/agents/%s/tokens/revoke-all" % a.client_id)
    assert r.status_code == 200, r.text
    assert flows.active(shark, derived) is False
    assert flows.active(shark, own_b) is True


def test_discovery_lists_exchange_and_the_token_types(shark):
    m = shark.get("/.well-known/oauth-authorization-server").json()
    assert EXCHANGE in m["grant_types_supported"]
    assert AT in m["token_types_supported"]
