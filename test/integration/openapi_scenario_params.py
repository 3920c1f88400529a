"""The contract test's calls with the query parameters the other scenarios
leave out (filters, paging, hints), so that every documented query parameter
is sent at least once and the answer to it is checked against the document
(test_every_query_parameter_is_sent)."""
import base64
import uuid

import requests

import flows

T = 20

# A position before every row (a well-formed cursor, as the server writes
# them), for listings whose first page is their last.
FAR = base64.urlsafe_b64encode(b"2999-01-01T00:00:00.000000Z zzz").decode().rstrip("=")


def ok(r, *status):
    assert r.status_code in status, (r.request.method, r.request.url, r.status_code, r.text)
    return r


def run(s):
    key = s.auth()

    def get(path, params, *status):
        return ok(requests.get(s.url(path), params=params, headers=key, timeout=T,
                               allow_redirects=False), *status or (200,))

    person = flows.sign_up(s)
    get("/api/v1/apps", {"limit": 5, "offset": 0})
    get("/api/v1/agents", {"created_by": person.id, "limit": 5, "offset": 0})
    window = {"since": "2020-01-01T00:00:00Z", "until": "2099-01-01T00:00:00Z"}
    for path in ("/api/v1/audit-logs", "/api/v1/audit-logs/export"):
        get(path, dict(window, event="user.created", actor_id=person.id, target_id=person.id))
        get(path, dict(window, until="not a time"), 400)
    get("/api/v1/admin/dcr/initial-access-tokens", {"limit": 5, "offset": 0})
    get("/api/v1/revocations", {"since": "2020-01-01T00:00:00Z", "limit": 10})
    get("/api/v1/users", {"email": person.email, "limit": 1})
    get("/api/v1/users/%s/agents" % person.id, {"filter": "created", "limit": 5, "offset": 0})
    get("/api/v1/vault/connections", {"user_id": person.id, "provider_id": "google_gmail",
                                      "limit": 5, "offset": 0})
    get("/api/v1/vault/connections", {"needs_reauth": "true", "limit": 5})
    get("/api/v1/vault/connections", {"needs_reauth": "false", "provider_id": "google_gmail"})
    get("/api/v1/vault/connections", {"needs_reauth": "maybe"}, 400)
    hook = ok(requests.post(s.url("/api/v1/admin/webhooks"), headers=key, timeout=T, json={
        "url": "http://127.0.0.1:9/hooks", "events": ["vault.connected"]}), 201).json()
    get("/api/v1/admin/webhooks", {"limit": 5, "offset": 0})
    get("/api/v1/admin/webhooks/%s/deliveries" % hook["id"], {"limit": 5, "offset": 0})
    ok(requests.delete(s.url("/api/v1/admin/webhooks/" + hook["id"]), headers=key, timeout=T), 204)

    # the browser-facing ones
    client = flows.register_client(s, scope="openid", resources=["https://api.example.com"])
    _, challenge = flows.pkce()
    ok(person.browser.get(flows.authorize_url(s, client, "openid", uuid.uuid4().hex, None,
                                              challenge, resource="https://api.example.com"),
                          allow_redirects=False, timeout=T), 200)
    ok(requests.get(s.url("/device"), params={"user_code": "BCDF-GHJK"}, allow_redirects=False,
                    timeout=T), 303)
    ok(requests.get(s.url("/oauth/logout"), params={"client_id": client.client_id},
                    allow_redirects=False, timeout=T), 200)
    ok(person.browser.get(s.url("/api/v1/vault/callback"), params={
        "error": "access_denied", "state": "never-issued"}, timeout=T), 400)

    # the listing contract on every list route: total=true, the next page by
    # cursor, legacy offset, and the refusals
    def listing(path, extra=None, browser=None):
        def call(params, *status):
            if browser is None:
                return get(path, dict(extra or {}, **params), *status)
            return ok(browser.get(s.url(path), params=dict(extra or {}, **params), timeout=T),
                      *status or (200,))
        first = call({"limit": 1, "total": "true"}).json()
        assert "total" in first and first["limit"] == 1, first
        cursor = first["next_cursor"] or FAR
        call({"limit": 1, "cursor": cursor, "total": "false"})
        call({"limit": 1, "offset": 1})
        call({"cursor": cursor, "offset": 1}, 400)
        call({"cursor": "not-a-cursor"}, 400)
        call({"total": "yes"}, 400)

    agent = get("/api/v1/agents", {"limit": 1}).json()["data"][0]
    hook = ok(requests.post(s.url("/api/v1/admin/webhooks"), headers=key, timeout=T, json={
        "url": "http://127.0.0.1:9/hooks", "events": ["vault.connected"]}), 201).json()
    for path in ("/api/v1/apps", "/api/v1/agents", "/api/v1/agents/%s/tokens" % agent["id"],
                 "/api/v1/users", "/api/v1/users/%s/agents" % person.id,
                 "/api/v1/users/%s/consents" % person.id, "/api/v1/admin/webhooks",
                 "/api/v1/admin/webhooks/%s/deliveries" % hook["id"],
                 "/api/v1/admin/dcr/initial-access-tokens", "/api/v1/vault/providers",
                 "/api/v1/vault/connections"):
        listing(path)
    listing("/api/v1/revocations", {"after_jti": None})
    listing("/api/v1/auth/sessions", browser=person.browser)
    ok(requests.delete(s.url("/api/v1/admin/webhooks/" + hook["id"]), headers=key, timeout=T), 204)
