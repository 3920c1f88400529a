"""Registration that cannot mint privilege (issue 13 §2): anonymous dynamic
registration gets only the interactive grants and --dcr-scopes; client
credentials and token exchange need the admin key or an initial access token
the admin API issues (single use or counted, expiring, hashed at rest);
metadata-document clients are held to the same scopes; and resource /
audience values must be ones the client may address."""
import base64
import hashlib
import json
import threading
import uuid

import pytest
import requests

from conftest import Shark, assert_api_error, assert_oauth_error
from test_cimd import DocServer, pkce

CC = "client_credentials"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
WEB = {"redirect_uris": ["https://app.example.com/cb"]}
M2M = {"grant_types": [CC]}
IAT_PATH = "/api/v1/admin/dcr/initial-access-tokens"


@pytest.fixture(scope="module")
def srv():
    s = Shark()
    s.start()
    yield s
    s.cleanup()


def sha256_hex(s):
    return hashlib.sha256(s.encode()).hexdigest()


def claims(jwt):
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def register(s, body, token=None):
    h = {"Content-Type": "application/json"}
    if token is not None:
        h["Authorization"] = "Bearer " + token
    return s.request("POST", "/oauth/register", json=body, headers=h)


def registered(s, body, token=None):
    r = register(s, body, token)
    assert r.status_code == 201, r.text
    return r.json()


def put(s, client, body):
    return s.request("PUT", "/oauth/register/" + client["client_id"],
                     json=dict(body, client_id=client["client_id"]),
                     headers={"Authorization": "Bearer " + client["registration_access_token"]})


def clients(s):
    return int(s.psql("SELECT count(*) FROM oauth_clients").strip())


def api(s, method, path, body=None):
    return s.request(method, path, admin=True, json=body)


def new_iat(s, **body):
    r = api(s, "POST", IAT_PATH, body)
    assert r.status_code == 201, r.text
    return r.json()


def uses(s, iat):
    return int(s.psql("SELECT uses FROM dcr_initial_tokens WHERE id = '%s'" % iat["id"]).strip())


def audit(s, event, target):
    r = s.get("/api/v1/audit-logs", admin=True, params={"event": event, "target_id": target})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def cc_token(s, client_id, secret, **form):
    return s.request("POST", "/oauth/token", auth=(client_id, secret),
                     data=dict(form, grant_type=CC))


def assert_invalid_token(r):
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert_oauth_error(r.json(), "invalid_token")


# ---- anonymous registration -------------------------------------------------------

@pytest.mark.parametrize("grants", [[CC], [EXCHANGE], ["authorization_code", CC],
                                    ["authorization_code", "refresh_token", EXCHANGE]])
def test_anonymous_registration_of_privileged_grants_is_refused(srv, grants):
    before = clients(srv)
    body = dict(WEB, grant_types=grants)
    if "authorization_code" in grants:
        body["response_types"] = ["code"]
    r = register(srv, body)
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_client_metadata")
    assert "admin key or an initial access token" in r.json()["error_description"]
    assert clients(srv) == before


def test_anonymous_scope_outside_the_allowlist_is_refused(srv):
    before = clients(srv)
    for scope in ("admin:all", "openid admin:all", "openid profile email offline_access mcp:read"):
        r = register(srv, dict(WEB, scope=scope))
        assert r.status_code == 400, (scope, r.text)
        assert_oauth_error(r.json(), "invalid_scope")
    assert clients(srv) == before


def test_anonymous_interactive_clients_still_register(srv):
    c = registered(srv, dict(WEB, scope="openid profile email offline_access",
                             grant_types=["authorization_code", "refresh_token", DEVICE]))
    assert c["scope"] == "openid profile email offline_access"
    row = srv.psql("SELECT registered_by FROM oauth_clients WHERE client_id = '%s'"
                   % c["client_id"]).strip()
    assert row == "open"
    registered(srv, {"grant_types": [DEVICE], "token_endpoint_auth_method": "none"})


def test_anonymous_clients_cannot_register_resources(srv):
    r = register(srv, dict(WEB, resources=["https://api.example.com/"]))
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_client_metadata")


def test_anonymous_update_cannot_widen(srv):
    c = registered(srv, dict(WEB, scope="openid"))
    for change, error in (({"grant_types": [CC]}, "invalid_client_metadata"),
                          ({"scope": "openid admin:all"}, "invalid_scope"),
                          ({"resources": ["https://api.example.com/"]}, "invalid_client_metadata")):
        r = put(srv, c, dict(WEB, **change))
        assert r.status_code == 400, (change, r.text)
        assert_oauth_error(r.json(), error)
    row = srv.psql("SELECT grant_types, scopes FROM oauth_clients WHERE client_id = '%s'"
                   % c["client_id"]).strip()
    assert row == "{authorization_code}|{openid}"


def test_dcr_scopes_flag_and_env():
    for s in (Shark(extra=["--dcr-scopes", "openid mcp:read"]),
              Shark(env={"SHARK_DCR_SCOPES": "openid mcp:read"})):
        s.start()
        try:
            assert registered(s, dict(WEB, scope="mcp:read"))["scope"] == "mcp:read"
            r = register(s, dict(WEB, scope="profile"))
            assert r.status_code == 400, r.text
            assert_oauth_error(r.json(), "invalid_scope")
        finally:
            s.cleanup()


def test_dcr_scopes_must_be_scope_tokens():
    s = Shark(extra=["--dcr-scopes", "openid  bad"])
    s.spawn()
    assert s.proc.wait(timeout=30) != 0
    assert "--dcr-scopes" in s.stderr()
    s.cleanup()


# ---- the admin key ------------------------------------------------------------------

def test_admin_key_registers_a_client_credentials_client(srv):
    c = registered(srv, dict(M2M, scope="mcp:read mcp:write",
                             resources=["https://api.example.com/"]), token=srv.admin_key)
    assert c["grant_types"] == [CC] and c["resources"] == ["https://api.example.com/"]
    assert srv.psql("SELECT registered_by FROM oauth_clients WHERE client_id = '%s'"
                    % c["client_id"]).strip() == "admin"
    r = cc_token(srv, c["client_id"], c["client_secret"], scope="mcp:read",
                 resource="https://api.example.com/")
    assert r.status_code == 200, r.text
    assert claims(r.json()["access_token"])["aud"] == "https://api.example.com/"
    r = cc_token(srv, c["client_id"], c["client_secret"], resource="https://other.example.com/")
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_target")
    # Its RFC 7592 updates are not held to the anonymous rules.
    r = put(srv, c, dict(M2M, scope="anything:at-all", grant_types=[CC, EXCHANGE]))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("cred", ["sk_live_" + "A" * 43, "sk_live_", "x" * 40,
                                  "iat_" + "B" * 43])
def test_wrong_credentials_are_refused_not_taken_as_anonymous(srv, cred):
    before = clients(srv)
    assert_invalid_token(register(srv, WEB, token=cred))
    assert clients(srv) == before


# ---- initial access tokens -----------------------------------------------------------

def test_initial_access_token_issue_list_and_hashing(srv):
    r = api(srv, "POST", IAT_PATH, {"scopes": ["mcp:read"], "grant_types": [CC],
                                    "description": "ci runner"})
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["token"].startswith("iat_") and len(t["token"]) == 4 + 43
    assert t["id"].startswith("dcrt_")
    assert t["scopes"] == ["mcp:read"] and t["grant_types"] == [CC] and t["resources"] == []
    assert t["max_uses"] == 1 and t["uses"] == 0 and t["revoked_at"] is None
    assert t["description"] == "ci runner" and t["expires_at"] and t["created_at"]
    listed = api(srv, "GET", IAT_PATH, None)
    assert listed.status_code == 200, listed.text
    mine = [x for x in listed.json()["data"] if x["id"] == t["id"]]
    assert len(mine) == 1 and "token" not in mine[0]
    assert t["token"] not in listed.text and t["token"][4:] not in listed.text
    row = srv.psql("SELECT token_hash, expires_at - created_at BETWEEN interval '86399 s' AND "
                   "interval '86401 s' FROM dcr_initial_tokens WHERE id = '%s'" % t["id"]).strip()
    assert row == "%s|t" % sha256_hex(t["token"])
    leaked = srv.psql("SELECT count(*) FROM dcr_initial_tokens x WHERE x::text LIKE '%%%s%%'"
                      % t["token"][4:]).strip()
    assert leaked == "0"
    ev = audit(srv, "admin.dcr_token_created", t["id"])
    assert len(ev) == 1 and ev[0]["metadata"]["grant_types"] == [CC]
    assert t["token"] not in json.dumps(ev)


def test_initial_access_token_defaults(srv):
    t = new_iat(srv)
    assert t["scopes"] == [] and t["resources"] == [] and t["max_uses"] == 1
    assert set(t["grant_types"]) == {"authorization_code", "refresh_token", CC, EXCHANGE, DEVICE}


@pytest.mark.parametrize("body", [
    {"scopes": "mcp:read"}, {"scopes": ["a b"]}, {"scopes": [1]},
    {"grant_types": ["password"]}, {"grant_types": []}, {"grant_types": CC},
    {"resources": ["not a uri"]}, {"resources": ["https://a.example/#f"]}, {"resources": ["/x"]},
    {"max_uses": 0}, {"max_uses": "1"}, {"max_uses": 1.5}, {"expires_in": 59},
    {"expires_in": 10 ** 9}, {"description": 5},
])
def test_initial_access_token_validation(srv, body):
    before = srv.psql("SELECT count(*) FROM dcr_initial_tokens").strip()
    r = api(srv, "POST", IAT_PATH, body)
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")
    assert srv.psql("SELECT count(*) FROM dcr_initial_tokens").strip() == before


def test_initial_access_token_routes_need_the_admin_key(srv):
    t = new_iat(srv)
    for method, path in (("POST", IAT_PATH), ("GET", IAT_PATH),
                         ("DELETE", IAT_PATH + "/" + t["id"])):
        r = srv.request(method, path, json={} if method == "POST" else None,
                        headers={"Authorization": "Bearer " + t["token"]})
        assert r.status_code == 401, (method, r.text)
        assert_api_error(r.json(), "unauthorized")
    assert srv.psql("SELECT uses, revoked_at IS NULL FROM dcr_initial_tokens WHERE id = '%s'"
                    % t["id"]).strip() == "0|t"


def test_initial_access_token_registers_within_its_allowances(srv):
    t = new_iat(srv, scopes=["mcp:read", "mcp:write"], grant_types=[CC],
                resources=["https://api.example.com/"])
    before = clients(srv)
    for body, error in ((dict(M2M, scope="mcp:read admin:all"), "invalid_scope"),
                        ({"grant_types": [CC, EXCHANGE]}, "invalid_client_metadata"),
                        (WEB, "invalid_client_metadata"),  # authorization_code not allowed
                        (dict(M2M, resources=["https://evil.example/"]),
                         "invalid_client_metadata")):
        r = register(srv, body, token=t["token"])
        assert r.status_code == 400, (body, r.text)
        assert_oauth_error(r.json(), error)
    # Refusals spend nothing.
    assert uses(srv, t) == 0 and clients(srv) == before
    c = registered(srv, dict(M2M, scope="mcp:read", resources=["https://api.example.com/"]),
                   token=t["token"])
    assert uses(srv, t) == 1
    assert srv.psql("SELECT registered_by FROM oauth_clients WHERE client_id = '%s'"
                    % c["client_id"]).strip() == t["id"]
    r = cc_token(srv, c["client_id"], c["client_secret"], resource="https://api.example.com/")
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "mcp:read"
    ev = audit(srv, "admin.dcr_token_used", t["id"])
    assert len(ev) == 1 and ev[0]["metadata"]["client_id"] == c["client_id"]
    # Single use: spent.
    assert_invalid_token(register(srv, dict(M2M, scope="mcp:read"), token=t["token"]))
    assert clients(srv) == before + 1
    # Updates stay within the token's allowances.
    r = put(srv, c, dict(M2M, scope="mcp:write"))
    assert r.status_code == 200, r.text
    r = put(srv, c, dict(M2M, scope="admin:all"))
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_scope")


def test_single_use_token_under_concurrent_registrations(srv):
    t = new_iat(srv, grant_types=[CC])
    before = clients(srv)
    n = 8
    results = [None] * n
    start = threading.Barrier(n)

    def run(i):
        start.wait()
        results[i] = register(srv, dict(M2M, client_name="race-%d" % i), token=t["token"])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [401] * (n - 1), [r.text for r in results]
    assert uses(srv, t) == 1 and clients(srv) == before + 1
    assert len(audit(srv, "admin.dcr_token_used", t["id"])) == 1


def test_counted_token(srv):
    t = new_iat(srv, grant_types=[CC], max_uses=3)
    for _ in range(3):
        registered(srv, M2M, token=t["token"])
    assert_invalid_token(register(srv, M2M, token=t["token"]))
    assert uses(srv, t) == 3


def test_expired_token_is_refused(srv):
    t = new_iat(srv, grant_types=[CC], max_uses=5, expires_in=60)
    registered(srv, M2M, token=t["token"])
    srv.psql("UPDATE dcr_initial_tokens SET expires_at = now() - interval '1 second' "
             "WHERE id = '%s'" % t["id"])
    before = clients(srv)
    assert_invalid_token(register(srv, M2M, token=t["token"]))
    assert clients(srv) == before and uses(srv, t) == 1


def test_wrong_or_unknown_token_is_refused(srv):
    t = new_iat(srv, grant_types=[CC], max_uses=5)
    before = clients(srv)
    for cred in ("iat_unknown", t["token"] + "x", t["token"][:-1], t["token"][4:],
                 "iat_" + t["id"], t["id"]):
        assert_invalid_token(register(srv, M2M, token=cred))
    r = srv.request("POST", "/oauth/register", json=M2M,
                    headers={"Authorization": "Basic " + t["token"]})
    assert_invalid_token(r)
    assert clients(srv) == before and uses(srv, t) == 0


def test_revoked_token_is_refused(srv):
    t = new_iat(srv, grant_types=[CC], max_uses=5)
    c = registered(srv, M2M, token=t["token"])
    r = api(srv, "DELETE", IAT_PATH + "/" + t["id"])
    assert r.status_code == 204, r.text
    assert_invalid_token(register(srv, M2M, token=t["token"]))
    # Clients it registered stay.
    assert cc_token(srv, c["client_id"], c["client_secret"]).status_code == 200
    listed = [x for x in api(srv, "GET", IAT_PATH + "?limit=1000").json()["data"]
              if x["id"] == t["id"]]
    assert listed[0]["revoked_at"] is not None and listed[0]["uses"] == 1
    assert len(audit(srv, "admin.dcr_token_revoked", t["id"])) == 1
    # Again: found, nothing more recorded; unknown: 404.
    assert api(srv, "DELETE", IAT_PATH + "/" + t["id"]).status_code == 204
    assert len(audit(srv, "admin.dcr_token_revoked", t["id"])) == 1
    r = api(srv, "DELETE", IAT_PATH + "/dcrt_nosuchtoken")
    assert r.status_code == 404, r.text
    assert_api_error(r.json(), "not_found")


def test_initial_access_tokens_work_whatever_the_dcr_mode():
    s = Shark(extra=["--dcr", "off"])
    s.start()
    try:
        t = new_iat(s, grant_types=[CC])
        assert registered(s, M2M, token=t["token"])["grant_types"] == [CC]
        assert registered(s, M2M, token=s.admin_key)["grant_types"] == [CC]
        assert register(s, WEB).status_code == 403
    finally:
        s.cleanup()


def test_static_dcr_token_registers_like_anonymous():
    static = "static-token-0123456789"
    s = Shark(extra=["--dcr", "token", "--dcr-token", static])
    s.start()
    try:
        r = register(s, M2M, token=static)
        assert r.status_code == 400, r.text
        assert_oauth_error(r.json(), "invalid_client_metadata")
        c = registered(s, WEB, token=static)
        assert s.psql("SELECT registered_by FROM oauth_clients WHERE client_id = '%s'"
                      % c["client_id"]).strip() == "open"
        assert registered(s, M2M, token=s.admin_key)["grant_types"] == [CC]
    finally:
        s.cleanup()


# ---- resources and audiences at the token endpoint ---------------------------------

def make_app(s, **extra):
    r = api(s, "POST", "/api/v1/apps", dict({"name": "app-" + uuid.uuid4().hex[:8],
                                             "scopes": ["mcp:read"]}, **extra))
    assert r.status_code == 201, r.text
    return r.json()


def make_agent(s, app_id):
    r = api(s, "POST", "/api/v1/agents", {"app_id": app_id, "name": "agent-" + uuid.uuid4().hex[:8],
                                          "scopes": ["mcp:read"]})
    assert r.status_code == 201, r.text
    return r.json()


def test_app_resources_bound_its_agents(srv):
    app = make_app(srv, resources=["https://api.example.com/", "urn:example:mcp"])
    assert app["resources"] == ["https://api.example.com/", "urn:example:mcp"]
    a = make_agent(srv, app["id"])
    issuer = srv.get("/.well-known/oauth-authorization-server").json()["issuer"]
    for form in ({"resource": "https://api.example.com/"}, {"audience": "urn:example:mcp"},
                 {"audience": issuer}):
        r = cc_token(srv, a["id"], a["client_secret"], **form)
        assert r.status_code == 200, (form, r.text)
        assert claims(r.json()["access_token"])["aud"] == list(form.values())[0]
    for form in ({"resource": "https://evil.example/"}, {"audience": "https://evil.example/"},
                 {"resource": "https://api.example.com"}, {"audience": "urn:example:other"}):
        r = cc_token(srv, a["id"], a["client_secret"], **form)
        assert r.status_code == 400, (form, r.text)
        assert_oauth_error(r.json(), "invalid_target")
    # A changed list takes effect at once (the agent's cached record follows its app).
    r = api(srv, "PATCH", "/api/v1/apps/" + app["id"], {"resources": ["https://evil.example/"]})
    assert r.status_code == 200 and r.json()["resources"] == ["https://evil.example/"], r.text
    assert cc_token(srv, a["id"], a["client_secret"],
                    resource="https://evil.example/").status_code == 200
    r = cc_token(srv, a["id"], a["client_secret"], resource="https://api.example.com/")
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_target")
    r = api(srv, "PATCH", "/api/v1/apps/" + app["id"], {"resources": ["no-scheme"]})
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")


def test_audience_may_name_another_client(srv):
    app = make_app(srv)
    a, b = make_agent(srv, app["id"]), make_agent(srv, app["id"])
    r = cc_token(srv, a["id"], a["client_secret"], audience=b["id"])
    assert r.status_code == 200, r.text
    assert claims(r.json()["access_token"])["aud"] == b["id"]
    admin_client = registered(srv, M2M, token=srv.admin_key)
    r = cc_token(srv, admin_client["client_id"], admin_client["client_secret"], audience=b["id"])
    assert r.status_code == 200, r.text
    assert claims(r.json()["access_token"])["aud"] == b["id"]
    # Unknown or disabled clients are not audiences.
    for aud in ("shark_agent_nosuchagent", "client_nosuchclient"):
        r = cc_token(srv, a["id"], a["client_secret"], audience=aud)
        assert r.status_code == 400, r.text
        assert_oauth_error(r.json(), "invalid_target")
    assert api(srv, "PATCH", "/api/v1/agents/" + b["id"],
               {"status": "disabled"}).status_code == 200
    r = cc_token(srv, a["id"], a["client_secret"], audience=b["id"])
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_target")


def test_anonymous_clients_get_no_other_resource(srv):
    """An anonymous client's code flow: resource at PAR names nothing but this server."""
    app = make_app(srv, resources=["https://api.example.com/"])
    agent = make_agent(srv, app["id"])
    c = registered(srv, dict(WEB, scope="openid"))
    _, challenge = pkce()
    base = {"response_type": "code", "client_id": c["client_id"],
            "redirect_uri": WEB["redirect_uris"][0], "scope": "openid",
            "code_challenge": challenge, "code_challenge_method": "S256"}
    for res in ("https://api.example.com/", "https://evil.example/"):
        r = srv.request("POST", "/oauth/par", auth=(c["client_id"], c["client_secret"]),
                        data=dict(base, resource=res))
        assert r.status_code == 400, r.text
        assert_oauth_error(r.json(), "invalid_target")
    issuer = srv.get("/.well-known/oauth-authorization-server").json()["issuer"]
    r = srv.request("POST", "/oauth/par", auth=(c["client_id"], c["client_secret"]),
                    data=dict(base, resource=issuer))
    assert r.status_code == 201, r.text
    assert agent  # the agent's app lists the resource; the anonymous client does not inherit it


# ---- metadata-document clients ----------------------------------------------------------

def test_metadata_document_scopes_are_clipped_to_the_allowlist():
    s = Shark(env={"SHARK_DCR_SCOPES": "openid email"})
    docs = DocServer(s.tmp_root)
    s.extra = ["--webhook-allowed-hosts", "127.0.0.1", "--outbound-ca-file", docs.cert]
    s.start()
    try:
        redirect = "http://127.0.0.1:9/cb"
        cid = docs.put("/clip.json", {"client_id": docs.url("/clip.json"),
                                      "redirect_uris": [redirect],
                                      "scope": "openid admin:all email mcp:write",
                                      "grant_types": [CC, EXCHANGE]})
        _, challenge = pkce()

        def authorize(scope):
            return requests.get(s.url("/oauth/authorize"), allow_redirects=False, timeout=20,
                                params={"response_type": "code", "client_id": cid,
                                        "redirect_uri": redirect, "scope": scope, "state": "st",
                                        "code_challenge": challenge,
                                        "code_challenge_method": "S256"})

        r = authorize("admin:all")
        assert r.status_code == 303, r.text
        assert "error=invalid_scope" in r.headers["Location"]
        assert authorize("openid email").status_code == 303
        assert "error=" not in authorize("openid email").headers["Location"]
        row = s.psql("SELECT array_to_string(scopes, ' '), array_to_string(grant_types, ' ') "
                     "FROM oauth_clients WHERE client_id = '%s'" % cid).strip()
        assert row == "openid email|authorization_code refresh_token"
    finally:
        s.cleanup()
        docs.httpd.shutdown()
