"""The contract test's traffic: one realistic session against a real server
that calls every documented operation at least once with a good request and,
where cheap, once with a bad one (test_openapi.py validates what came back).

It builds the data the way a user would: the first-boot key, apps, agents
with DPoP keys, people who sign up and go through the hosted login, consent
and device pages, DCR clients, webhooks delivering to a loopback receiver,
vault providers backed by a loopback fake provider, connections, tokens,
exchanges, revocations. Every request goes over HTTP; the recorder in
test_openapi.py sees each one as it is sent.

An area that adds routes (and documents them in api/openapi/paths-<area>.yaml)
adds their calls here, or in its own openapi_scenario_<area>.py: a module with
run(server) that is picked up by name and run after this one, on the same
server, with the same recorder."""
import glob
import importlib
import os
import re
import time
import urllib.parse
import uuid

import requests

import flows
from test_vault import EcKey, FakeProvider
from test_webhooks import Receiver

HERE = os.path.dirname(os.path.abspath(__file__))
SHARK_ARGS = ["--webhook-allowed-hosts", "127.0.0.1", "--webhook-retry-schedule", "1,1,1",
              "--webhook-timeout", "2", "--vault-refresh-skew", "60"]
T = 20


def uniq(p):
    return "%s_%s" % (p, uuid.uuid4().hex[:8])


def run(s, doc):
    """Drives every operation of doc; returns nothing (the recorder keeps the traffic)."""
    fake = FakeProvider().start()
    rx = Receiver().start()
    try:
        _run(s, fake, rx)
        for name in sorted(glob.glob(os.path.join(HERE, "openapi_scenario_*.py"))):
            importlib.import_module(os.path.basename(name)[:-3]).run(s)
        probe(s, doc)
    finally:
        fake.stop()
        rx.stop()


def probe(s, doc):
    """The errors every admin-key operation shares, asked of each one the
    document lists: no admin key (401), and, where it takes JSON, a body of another type
    (415). Path parameters get made-up values: both checks come first."""
    key = s.auth()
    for path, item in doc["paths"].items():
        url = s.url(re.sub(r"\{[^}]+\}", "nothing_here", path))
        for method, op in item.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            if op.get("security", doc.get("security")) != [{"adminKey": []}]:
                continue  # the key is the only way in
            r = requests.request(method, url, timeout=T)
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                r = requests.request(method, url, data="name=x", timeout=T, headers=dict(
                    key, **{"Content-Type": "application/x-www-form-urlencoded"}))
                assert r.status_code == 415, (method, path, r.status_code, r.text)


def _run(s, fake, rx):
    def api(method, path, body=None, key=None, **kw):
        kw.setdefault("timeout", T)
        headers = kw.pop("headers", {})
        if key is not False:
            headers.setdefault("Authorization", "Bearer " + (key or s.admin_key))
        return requests.request(method, s.url(path), json=body, headers=headers, **kw)

    def ok(r, *status):
        assert r.status_code in status, (r.request.method, r.request.url, r.status_code, r.text)
        return r

    # -- first boot: the key is readable until its first use ----------------------
    ok(requests.get(s.url("/api/v1/admin/firstboot/key"), timeout=T), 200)

    # -- operational --------------------------------------------------------------
    ok(requests.get(s.url("/healthz"), timeout=T), 200)
    ok(requests.get(s.url("/readyz"), timeout=T), 200)
    ok(requests.get(s.url("/metrics"), timeout=T), 200)
    ok(requests.get(s.url("/api/openapi.yaml"), timeout=T), 200)
    ok(requests.get(s.url("/api/docs/openapi.yaml"), timeout=T), 200)
    ok(api("GET", "/api/v1/system/health"), 200)
    ok(api("GET", "/api/v1/system/health", key="sk_live_" + "x" * 43), 401)
    ok(requests.get(s.url("/api/v1/admin/firstboot/key"), timeout=T), 404)

    # -- discovery ----------------------------------------------------------------
    ok(requests.get(s.url("/.well-known/oauth-authorization-server"), timeout=T), 200)
    ok(requests.get(s.url("/.well-known/openid-configuration"), timeout=T), 200)
    ok(requests.get(s.url("/.well-known/jwks.json"), timeout=T), 200)

    # -- apps ---------------------------------------------------------------------
    app = ok(api("POST", "/api/v1/apps", {
        "name": uniq("Support Copilot"), "description": "answers tickets",
        "scopes": ["tickets:read", "tickets:write", "vault:read", "mcp:read"],
        "redirect_uris": ["https://support.example.com/cb"],
        "resources": ["https://api.example.com"]}), 201).json()
    ok(api("POST", "/api/v1/apps", {"description": "no name"}), 400)
    ok(api("POST", "/api/v1/apps", data="{", headers={"Content-Type": "application/json"}), 400)
    ok(api("GET", "/api/v1/apps", params={"limit": 10}), 200)
    ok(api("GET", "/api/v1/apps", params={"limit": 0}), 400)
    ok(api("GET", "/api/v1/apps/" + app["id"]), 200)
    ok(api("GET", "/api/v1/apps/app_nope"), 404)
    ok(api("PATCH", "/api/v1/apps/" + app["id"], {"description": "answers support tickets"}), 200)
    ok(api("PATCH", "/api/v1/apps/" + app["id"], {"name": ""}), 400)
    spare = ok(api("POST", "/api/v1/apps", {"name": uniq("spare"), "scopes": ["a:b"]}), 201).json()

    # -- people -------------------------------------------------------------------
    person = flows.sign_up(s)
    ok(requests.post(s.url("/api/v1/auth/signup"), json={"email": "not-an-email"}, timeout=T),
       400)
    ok(person.browser.get(s.url("/api/v1/auth/me"), timeout=T), 200)
    ok(requests.get(s.url("/api/v1/auth/me"), timeout=T), 401)
    ok(person.browser.get(s.url("/api/v1/auth/sessions"), timeout=T), 200)
    ok(requests.get(s.url("/api/v1/auth/sessions"), timeout=T), 401)
    b2 = requests.Session()
    ok(b2.post(s.url("/api/v1/auth/login"),
               json={"email": person.email, "password": person.password}, timeout=T), 200)
    ok(requests.post(s.url("/api/v1/auth/login"),
                     json={"email": person.email, "password": "wrong password"}, timeout=T), 401)
    sessions = person.browser.get(s.url("/api/v1/auth/sessions"), timeout=T).json()["data"]
    other = [x["id"] for x in sessions if x["id"] != person.session_id]
    assert other, sessions
    csrf = {"X-CSRF-Token": person.csrf}
    ok(person.browser.delete(s.url("/api/v1/auth/sessions/" + other[0]), headers=csrf,
                             timeout=T), 204)
    ok(person.browser.delete(s.url("/api/v1/auth/sessions/" + other[0]), headers=csrf,
                             timeout=T), 404)
    ok(person.browser.delete(s.url("/api/v1/auth/sessions/" + person.session_id), timeout=T),
       403)
    leaving = flows.sign_up(s)
    ok(leaving.browser.post(s.url("/api/v1/auth/logout"),
                            headers={"X-CSRF-Token": leaving.csrf}, timeout=T), 204)
    ok(leaving.browser.post(s.url("/api/v1/auth/logout"), timeout=T), 401)

    # -- users (admin) ------------------------------------------------------------
    user = ok(api("POST", "/api/v1/users", {"email": "%s@example.com" % uniq("ada"),
                                            "name": "Ada Lovelace", "email_verified": True}),
              201).json()
    ok(api("POST", "/api/v1/users", {"email": user["email"]}), 409)
    ok(api("GET", "/api/v1/users", params={"limit": 5}), 200)
    ok(api("GET", "/api/v1/users", params={"offset": -1}), 400)
    ok(api("GET", "/api/v1/users/" + user["id"]), 200)
    ok(api("GET", "/api/v1/users/usr_nope"), 404)
    ok(api("PATCH", "/api/v1/users/" + user["id"], {"name": "Ada King"}), 200)
    ok(api("PATCH", "/api/v1/users/" + user["id"], {}), 400)

    # -- agents -------------------------------------------------------------------
    key = EcKey()
    agent = ok(api("POST", "/api/v1/agents", {
        "app_id": app["id"], "name": "triage bot", "description": "sorts the queue",
        "scopes": ["tickets:read", "vault:read"], "created_by": person.id,
        "client_id": "shark_agent_%s" % uuid.uuid4().hex[:10]}), 201).json()
    helper = ok(api("POST", "/api/v1/agents", {"app_id": app["id"], "name": "helper",
                                               "scopes": ["tickets:read"]}), 201).json()
    ok(api("POST", "/api/v1/agents", {"app_id": app["id"]}), 400)
    ok(api("POST", "/api/v1/agents", {"app_id": "app_nope", "name": "x"}), 404)
    ok(api("GET", "/api/v1/agents", params={"app_id": app["id"], "status": "active"}), 200)
    ok(api("GET", "/api/v1/agents", params={"status": "sleeping"}), 400)
    ok(api("GET", "/api/v1/agents/" + agent["id"]), 200)
    ok(api("GET", "/api/v1/agents/shark_agent_nope"), 404)
    ok(api("PATCH", "/api/v1/agents/" + agent["id"], {"description": "sorts and tags"}), 200)
    ok(api("PATCH", "/api/v1/agents/" + agent["id"], {"status": "asleep"}), 400)

    def cc_token(a, k=None, scope="tickets:read"):
        headers = {"DPoP": k.proof(flows.issuer(s) + "/oauth/token", "POST")} if k else {}
        return ok(requests.post(s.url("/oauth/token"), data={"grant_type": "client_credentials",
                                                            "scope": scope},
                                auth=(a["client_id"], a["client_secret"]), headers=headers,
                                timeout=T), 200).json()

    tok = cc_token(agent, key, "tickets:read vault:read")
    cc_token(helper)
    ok(requests.post(s.url("/oauth/token"), data={"grant_type": "client_credentials"},
                     auth=(agent["client_id"], "wrong"), timeout=T), 401)
    ok(requests.post(s.url("/oauth/token"), data={"grant_type": "password"}, timeout=T), 400)
    ok(api("GET", "/api/v1/agents/%s/tokens" % agent["id"]), 200)
    ok(api("GET", "/api/v1/agents/shark_agent_nope/tokens"), 404)

    # -- token exchange: the agent hands its token on, narrowed -------------------
    sub = ok(requests.post(s.url("/oauth/token"), data={
        "grant_type": flows.EXCHANGE_GRANT, "subject_token": tok["access_token"],
        "subject_token_type": flows.ACCESS_TOKEN_TYPE, "scope": "tickets:read"},
        auth=(agent["client_id"], agent["client_secret"]),
        headers={"DPoP": key.proof(flows.issuer(s) + "/oauth/token", "POST")}, timeout=T),
        200).json()

    # -- introspection and revocation (RFC 7662, RFC 7009) ------------------------
    ok(requests.post(s.url("/oauth/introspect"), data={"token": tok["access_token"]},
                     headers=s.auth(), timeout=T), 200)
    ok(requests.post(s.url("/oauth/introspect"), data={"token": "garbage"},
                     auth=(agent["client_id"], agent["client_secret"]), timeout=T), 200)
    ok(requests.post(s.url("/oauth/introspect"), data={"token": "x"}, timeout=T), 401)
    ok(requests.post(s.url("/oauth/revoke"), data={"token": sub["access_token"]},
                     auth=(agent["client_id"], agent["client_secret"]), timeout=T), 200)
    ok(requests.post(s.url("/oauth/revoke"), data={}, auth=(agent["client_id"],
                                                           agent["client_secret"]), timeout=T),
       400)

    # -- DCR clients and the browser flows ----------------------------------------
    iat = ok(api("POST", "/api/v1/admin/dcr/initial-access-tokens", {
        "description": "partner onboarding", "scopes": ["openid", "mcp:read"],
        "grant_types": ["authorization_code", "refresh_token"], "expires_in": 3600}),
        201).json()
    ok(api("POST", "/api/v1/admin/dcr/initial-access-tokens", {"grant_types": []}), 400)
    ok(api("GET", "/api/v1/admin/dcr/initial-access-tokens"), 200)
    ok(api("GET", "/api/v1/admin/dcr/initial-access-tokens", params={"limit": "many"}), 400)
    client = flows.register_client(s, scope="openid email mcp:read")
    ok(requests.post(s.url("/oauth/register"), json={"redirect_uris": "not a list"},
                     headers=s.auth(), timeout=T), 400)
    rat = {"Authorization": "Bearer " + client.registration["registration_access_token"]}
    reg_path = "/oauth/register/" + client.client_id
    ok(requests.get(s.url(reg_path), headers=rat, timeout=T), 200)
    ok(requests.get(s.url(reg_path), headers={"Authorization": "Bearer nope"}, timeout=T), 401)
    put = {k: v for k, v in client.registration.items()
           if k not in ("registration_access_token", "registration_client_uri",
                        "client_secret_expires_at", "client_id_issued_at", "client_secret")}
    put["client_id"] = client.client_id
    put["client_name"] = "renamed client"
    ok(requests.put(s.url(reg_path), json=put, headers=rat, timeout=T), 200)
    ok(requests.put(s.url(reg_path), data="[]", headers=dict(rat, **{
        "Content-Type": "application/json"}), timeout=T), 400)
    throwaway = flows.register_client(s, scope="openid")
    ok(requests.delete(s.url("/oauth/register/" + throwaway.client_id), headers={
        "Authorization": "Bearer " + throwaway.registration["registration_access_token"]},
        timeout=T), 204)
    ok(requests.delete(s.url("/oauth/register/" + throwaway.client_id), headers={
        "Authorization": "Bearer " + throwaway.registration["registration_access_token"]},
        timeout=T), 401)

    # authorization code + PKCE through the hosted login and consent pages
    ok(requests.get(s.url("/oauth/authorize"), params={"client_id": "nope"},
                    allow_redirects=False, timeout=T), 400)
    ok(requests.get(s.url("/login"), timeout=T), 200)
    ok(requests.get(s.url("/login"), headers={"Host": "evil.example"}, timeout=T), 421)
    ok(requests.post(s.url("/login"), data={"email": "x"}, allow_redirects=False, timeout=T),
       400, 403)
    ok(requests.get(s.url("/oauth/authorize/resume"), allow_redirects=False, timeout=T), 400)
    ok(requests.post(s.url("/oauth/authorize/decision"), data={}, allow_redirects=False,
                     timeout=T), 400, 403)
    dkey = flows.DpopKey()
    grant = flows.code_flow(s, person=person, client=client, scope="openid email mcp:read",
                            key=dkey)
    ok(flows.refresh(s, client, grant.refresh_token, dkey), 200)
    ok(requests.get(s.url("/oauth/userinfo"), headers={
        "Authorization": "DPoP " + grant.access_token,
        "DPoP": dkey.proof(flows.issuer(s) + "/oauth/userinfo", "GET", grant.access_token)},
        timeout=T), 200, 401)
    plain = flows.code_flow(s, scope="openid email")
    ok(requests.get(s.url("/oauth/userinfo"),
                    headers={"Authorization": "Bearer " + plain.access_token}, timeout=T), 200)
    ok(requests.post(s.url("/oauth/userinfo"),
                     headers={"Authorization": "Bearer " + plain.access_token}, timeout=T), 200)
    ok(requests.get(s.url("/oauth/userinfo"), timeout=T), 401)
    ok(requests.post(s.url("/oauth/userinfo"), headers={"Authorization": "Bearer x.y.z"},
                     timeout=T), 401)

    # pushed authorization request (RFC 9126)
    verifier, challenge = flows.pkce()
    ok(requests.post(s.url("/oauth/par"), auth=client.auth, data={
        "response_type": "code", "client_id": client.client_id,
        "redirect_uri": client.redirect_uri, "scope": "openid", "state": uuid.uuid4().hex,
        "code_challenge": challenge, "code_challenge_method": "S256"}, timeout=T), 201)
    ok(requests.post(s.url("/oauth/par"), auth=client.auth, data={"response_type": "token"},
                     timeout=T), 400)

    # device authorization (RFC 8628)
    dev = flows.register_device_client(s)
    ok(requests.post(s.url("/oauth/device_authorization"), data={"scope": "bogus:scope"},
                     auth=dev.auth, timeout=T), 400)
    flows.device_flow(s, person=flows.sign_up(s), client=dev)
    ok(requests.get(s.url("/device"), allow_redirects=False, timeout=T), 303)
    ok(requests.get(s.url("/device"), headers={"Host": "evil.example"}, timeout=T), 421)
    ok(requests.post(s.url("/device"), data={"user_code": "ABCD-EFGH"}, allow_redirects=False,
                     timeout=T), 303, 400, 401, 403)
    ok(requests.post(s.url("/device/decision"), data={}, allow_redirects=False, timeout=T),
       303, 400, 401, 403)

    # -- the person's agents and consents -----------------------------------------
    ok(api("GET", "/api/v1/users/%s/agents" % person.id, params={"filter": "all"}), 200)
    ok(api("GET", "/api/v1/users/%s/agents" % person.id, params={"filter": "some"}), 400)
    ok(api("GET", "/api/v1/users/%s/consents" % person.id), 200)
    ok(api("GET", "/api/v1/users/usr_nope/consents"), 404)
    ok(api("DELETE", "/api/v1/users/%s/consents/%s" % (person.id, grant.consent_id)), 204)
    ok(api("DELETE", "/api/v1/users/%s/consents/%s" % (person.id, grant.consent_id)), 404)

    # -- vault --------------------------------------------------------------------
    ok(api("GET", "/api/v1/vault/providers"), 200)
    ok(api("GET", "/api/v1/vault/providers", key=False), 401)
    pid = uniq("acme")
    ok(api("POST", "/api/v1/vault/providers", {
        "id": pid, "name": "Acme CRM", "authorize_url": fake.base("/authorize"),
        "token_url": fake.base("/token"), "revoke_url": fake.base("/revoke"),
        "scopes": ["read", "write"], "auth_style": "basic", "client_id": "cid",
        "client_secret": "csecret"}), 201)
    ok(api("POST", "/api/v1/vault/providers", {"id": "Bad Slug", "name": "x"}), 400)
    ok(api("GET", "/api/v1/vault/providers/" + pid), 200)
    ok(api("GET", "/api/v1/vault/providers/nope_nope"), 404)
    ok(api("PATCH", "/api/v1/vault/providers/" + pid, {"name": "Acme CRM (EU)"}), 200)
    ok(api("PATCH", "/api/v1/vault/providers/google_drive", {"token_url": "https://x.example/t"}),
       400)
    gone = uniq("gone")
    ok(api("POST", "/api/v1/vault/providers", {
        "id": gone, "name": "Gone", "authorize_url": fake.base("/authorize"),
        "token_url": fake.base("/token")}), 201)
    ok(api("DELETE", "/api/v1/vault/providers/" + gone), 204)
    ok(api("DELETE", "/api/v1/vault/providers/google_drive"), 400)

    rt = fake.new_token("rt")
    fake.add_refresh(rt)
    conn = ok(api("POST", "/api/v1/vault/connections", {
        "user_id": person.id, "provider_id": pid, "access_token": fake.new_token("at"),
        "refresh_token": rt, "expires_at": int(time.time()) + 3600, "scopes": ["read"]}),
        201).json()
    ok(api("POST", "/api/v1/vault/connections", {"user_id": person.id}), 400)
    ok(api("GET", "/api/v1/vault/connections", params={"user_id": person.id}), 200)
    ok(api("GET", "/api/v1/vault/connections", params={"limit": 100000}), 400)
    ok(api("GET", "/api/v1/vault/connections/" + conn["id"]), 200)
    ok(api("GET", "/api/v1/vault/connections/conn_nope"), 404)

    vpath = "/api/v1/vault/%s/token" % pid
    ok(requests.get(s.url(vpath), headers={
        "Authorization": "DPoP " + tok["access_token"],
        "DPoP": key.proof(flows.issuer(s) + vpath, "GET", tok["access_token"])}, timeout=T), 200)
    ok(requests.get(s.url(vpath), headers={"Authorization": "Bearer " + tok["access_token"]},
                    timeout=T), 401)

    # the connect flow: the person's browser, the provider's redirect back
    r = ok(person.browser.get(s.url("/api/v1/vault/connect/" + pid), allow_redirects=False,
                              timeout=T), 302)
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))
    ok(requests.get(s.url("/api/v1/vault/connect/" + pid), allow_redirects=False, timeout=T), 401)
    code = fake.approve(q["code_challenge"])
    ok(person.browser.get(s.url("/api/v1/vault/callback"), params={"code": code,
                                                                   "state": q["state"]},
                          timeout=T), 200)
    ok(person.browser.get(s.url("/api/v1/vault/callback"), params={"code": code,
                                                                   "state": "forged"},
                          timeout=T), 400)

    ok(api("DELETE", "/api/v1/vault/connections/" + conn["id"],
           params={"cascade_to_agents": "maybe"}), 400)
    ok(api("DELETE", "/api/v1/vault/connections/" + conn["id"],
           params={"cascade_to_agents": "false"}), 200, 204)

    # -- webhooks -----------------------------------------------------------------
    hook = ok(api("POST", "/api/v1/admin/webhooks", {
        "url": rx.url("/hooks/shark"), "events": ["oauth.*", "agent.created"],
        "description": "SIEM forwarder"}), 201).json()
    ok(api("POST", "/api/v1/admin/webhooks", {"url": "ftp://x", "events": ["*"]}), 400)
    ok(api("GET", "/api/v1/admin/webhooks"), 200)
    ok(api("GET", "/api/v1/admin/webhooks", key="sk_live_" + "y" * 43), 401)
    ok(api("GET", "/api/v1/admin/webhooks/" + hook["id"]), 200)
    ok(api("GET", "/api/v1/admin/webhooks/wh_nope"), 404)
    ok(api("PATCH", "/api/v1/admin/webhooks/" + hook["id"], {"description": "SIEM"}), 200)
    ok(api("PATCH", "/api/v1/admin/webhooks/" + hook["id"], {"enabled": "yes"}), 400)
    ok(api("POST", "/api/v1/admin/webhooks/%s/test" % hook["id"]), 202)
    ok(api("POST", "/api/v1/admin/webhooks/wh_nope/test"), 404)
    ok(api("POST", "/api/v1/admin/webhooks/%s/rotate-secret" % hook["id"]), 200)
    ok(api("POST", "/api/v1/admin/webhooks/wh_nope/rotate-secret"), 404)
    deadline = time.time() + 30
    dels = []
    while time.time() < deadline:
        dels = ok(api("GET", "/api/v1/admin/webhooks/%s/deliveries" % hook["id"]), 200).json()
        dels = dels.get("data", dels.get("items", []))
        if any(d.get("status") in ("delivered", "failed") for d in dels):
            break
        time.sleep(0.2)
    ok(api("GET", "/api/v1/admin/webhooks/%s/deliveries" % hook["id"],
           params={"status": "lost"}), 400)
    settled = [d for d in dels if d.get("status") in ("delivered", "failed")]
    assert settled, dels
    ok(api("POST", "/api/v1/admin/webhooks/deliveries/%s/redeliver" % settled[0]["id"]), 202)
    ok(api("POST", "/api/v1/admin/webhooks/deliveries/whd_nope/redeliver"), 404)

    # -- audit and revocations ----------------------------------------------------
    page = ok(api("GET", "/api/v1/audit-logs", params={"limit": 5}), 200).json()
    if page.get("next_cursor"):
        ok(api("GET", "/api/v1/audit-logs", params={"limit": 5, "cursor": page["next_cursor"]}),
           200)
    ok(api("GET", "/api/v1/audit-logs", params={"since": "yesterday"}), 400)
    ok(api("GET", "/api/v1/revocations", params={"since": "2020-01-01T00:00:00Z"}), 200)
    ok(api("GET", "/api/v1/revocations", params={"after_jti": "x"}), 400)

    # -- agent controls and the revoke routes ---------------------------------------
    ok(api("POST", "/api/v1/agents/%s/rotate-secret" % helper["id"],
           {"grace_period_seconds": 60}), 200)
    ok(api("POST", "/api/v1/agents/%s/rotate-secret" % helper["id"],
           {"grace_period_seconds": -1}), 400)
    ok(api("POST", "/api/v1/agents/%s/rotate-dpop-key" % agent["id"],
           {"new_public_key_jwk": EcKey().jwk, "reason": "laptop lost"}), 200)
    ok(api("POST", "/api/v1/agents/%s/rotate-dpop-key" % agent["id"],
           {"new_public_key_jwk": {"kty": "oct", "k": "c2VjcmV0"}}), 400)
    ok(api("POST", "/api/v1/agents/%s/tokens/revoke-all" % helper["id"]), 200)
    ok(api("POST", "/api/v1/agents/shark_agent_nope/tokens/revoke-all"), 404)
    ok(api("POST", "/api/v1/admin/oauth/revoke-by-pattern", {
        "client_id_pattern": "shark_agent_nomatch_*", "reason": "fleet retired"}), 200)
    ok(api("POST", "/api/v1/admin/oauth/revoke-by-pattern", {"client_id_pattern": "x*"}), 400)
    ok(api("POST", "/api/v1/users/%s/revoke-agents" % person.id, {"reason": "left the company"}),
       200)
    ok(api("POST", "/api/v1/users/%s/revoke-agents" % person.id, {"agent_ids": "all"}), 400)
    ok(api("POST", "/api/v1/admin/keys/rotate", {"use": "tokens"}), 201)
    ok(api("POST", "/api/v1/admin/keys/rotate", {"use": "id_token", "alg": "ES256"}), 400)

    # -- Layer 5: a disconnect that cascades to the agent that used the connection --
    owner = flows.sign_up(s)
    vkey = EcKey()
    vagent = ok(api("POST", "/api/v1/agents", {"app_id": app["id"], "name": "inbox reader",
                                               "scopes": ["vault:read"],
                                               "created_by": owner.id}), 201).json()
    vtok = cc_token(vagent, vkey, "vault:read")["access_token"]
    rt = fake.new_token("rt")
    fake.add_refresh(rt)
    vconn = ok(api("POST", "/api/v1/vault/connections", {
        "user_id": owner.id, "provider_id": pid, "access_token": fake.new_token("at"),
        "refresh_token": rt, "expires_at": "2099-01-01T00:00:00Z"}), 201).json()
    ok(requests.get(s.url(vpath), headers={
        "Authorization": "DPoP " + vtok,
        "DPoP": vkey.proof(flows.issuer(s) + vpath, "GET", vtok)}, timeout=T), 200)
    gone = ok(api("DELETE", "/api/v1/vault/connections/" + vconn["id"]), 200).json()
    assert gone["revoked_agent_ids"] == [vagent["id"]], gone
    ok(api("DELETE", "/api/v1/vault/connections/" + vconn["id"]), 404)

    # -- deletes last --------------------------------------------------------------
    ok(api("DELETE", "/api/v1/admin/dcr/initial-access-tokens/" + iat["id"]), 204)
    ok(api("DELETE", "/api/v1/admin/dcr/initial-access-tokens/dcrt_nope"), 404)
    ok(api("DELETE", "/api/v1/admin/webhooks/" + hook["id"]), 204)
    ok(api("DELETE", "/api/v1/admin/webhooks/" + hook["id"]), 404)
    ok(api("DELETE", "/api/v1/agents/" + helper["id"]), 204)
    ok(api("DELETE", "/api/v1/agents/" + helper["id"]), 404)
    ok(api("DELETE", "/api/v1/apps/" + app["id"]), 409)
    ok(api("DELETE", "/api/v1/apps/" + app["id"], params={"cascade": "true"}), 204)
    ok(api("DELETE", "/api/v1/apps/" + spare["id"], params={"cascade": "perhaps"}), 400)
    ok(api("DELETE", "/api/v1/users/" + user["id"]), 204)
    ok(api("DELETE", "/api/v1/users/" + user["id"]), 404)
