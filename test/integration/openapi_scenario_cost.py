"""The contract test's calls for the bulk revocation surface at scale (issue 18,
paths-revocation.yaml): the dry runs of every revoke route and of a vault
disconnect (answers checked against the document, and against nothing having
changed), and the agent-token listing paged by cursor."""
import uuid

import requests

import flows

T = 20


def ok(r, *status):
    assert r.status_code in status, (r.request.method, r.request.url, r.status_code, r.text)
    return r


def run(s):
    key = s.auth()

    def api(method, path, body=None, **kw):
        return requests.request(method, s.url(path), json=body, headers=key, timeout=T, **kw)

    person = flows.sign_up(s)
    app = ok(api("POST", "/api/v1/apps", {"name": "cost %s" % uuid.uuid4().hex[:6],
                                         "scopes": ["tickets:read"]}), 201).json()
    prefix = "shark_agent_cost%s" % uuid.uuid4().hex[:6]
    agent = ok(api("POST", "/api/v1/agents", {
        "app_id": app["id"], "name": "dry runner", "scopes": ["tickets:read"],
        "created_by": person.id, "client_id": prefix + "_a"}), 201).json()
    for _ in range(3):
        ok(requests.post(s.url("/oauth/token"), auth=(agent["client_id"], agent["client_secret"]),
                         data={"grant_type": "client_credentials", "scope": "tickets:read"},
                         timeout=T), 200)
    tokens = "/api/v1/agents/%s/tokens" % agent["id"]

    # the listing, a page at a time
    first = ok(api("GET", tokens, params={"limit": 2, "total": "true"}), 200).json()
    assert len(first["data"]) == 2 and first["next_cursor"] and first["total"] == 3, first
    rest = ok(api("GET", tokens, params={"limit": 2, "cursor": first["next_cursor"]}), 200).json()
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None, rest
    ok(api("GET", tokens, params={"cursor": "not a cursor"}), 400)

    # dry runs count and change nothing
    r = ok(api("POST", tokens + "/revoke-all", params={"dry_run": "true"}), 200).json()
    assert r["dry_run"] is True and r["revoked_count"] == 3, r
    ok(api("POST", tokens + "/revoke-all", params={"dry_run": "yes"}), 400)
    r = ok(api("POST", "/api/v1/agents/%s/rotate-dpop-key" % agent["id"],
               {"new_public_key_jwk": flows.DpopKey().jwk}, params={"dry_run": "true"}),
           200).json()
    assert r["dry_run"] is True and "audit_event_id" not in r, r
    ok(api("POST", "/api/v1/agents/%s/rotate-dpop-key" % agent["id"],
           {"new_public_key_jwk": flows.DpopKey().jwk}, params={"dry_run": "1"}), 400)
    r = ok(api("POST", "/api/v1/users/%s/revoke-agents" % person.id, {"reason": "audit"},
               params={"dry_run": "true"}), 200).json()
    assert r["dry_run"] is True and r["revoked_agent_ids"] == [agent["id"]], r
    ok(api("POST", "/api/v1/users/%s/revoke-agents" % person.id, params={"dry_run": "TRUE"}), 400)
    r = ok(api("POST", "/api/v1/admin/oauth/revoke-by-pattern",
               {"client_id_pattern": prefix + "_*", "reason": "drill"},
               params={"dry_run": "true"}), 200).json()
    assert r["dry_run"] is True and r["matched_client_count"] == 1, r
    ok(api("POST", "/api/v1/admin/oauth/revoke-by-pattern",
           {"client_id_pattern": prefix + "_*", "reason": "drill"}, params={"dry_run": ""}), 400)
    assert ok(api("GET", tokens, params={"total": "true"}), 200).json()["total"] == 3
    assert ok(api("GET", "/api/v1/agents/" + agent["id"]), 200).json()["status"] == "active"

    # a vault disconnect's dry run (no provider is called: nothing happens)
    pid = "cost_%s" % uuid.uuid4().hex[:8]
    ok(api("POST", "/api/v1/vault/providers", {
        "id": pid, "name": "Dry", "authorize_url": "https://dry.example.test/authorize",
        "token_url": "https://dry.example.test/token"}), 201)
    conn = ok(api("POST", "/api/v1/vault/connections", {
        "user_id": person.id, "provider_id": pid, "access_token": "at-dry"}), 201).json()
    r = ok(api("DELETE", "/api/v1/vault/connections/" + conn["id"],
               params={"dry_run": "true"}), 200).json()
    assert r["dry_run"] is True and r["revoked_agent_ids"] == [], r
    ok(api("DELETE", "/api/v1/vault/connections/" + conn["id"], params={"dry_run": "no"}), 400)
    ok(api("GET", "/api/v1/vault/connections/" + conn["id"]), 200)
