"""Apps, agents and the agent-level controls of the admin API.

/api/v1/apps, /api/v1/agents, an agent's tokens, Layer 2 revoke-all, secret
rotation and DPoP key rotation, checked against the real token endpoint and
introspection: a real `shark` with its embedded PostgreSQL over real sockets.
DPoP proofs and RFC 7638 thumbprints are computed here, independently of the
server, with the `cryptography` package.
"""
import base64
import hashlib
import json
import os
import time
import uuid

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from conftest import assert_api_error, assert_oauth_error

CC = "client_credentials"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


# -- crypto helpers (independent of the server) ------------------------------

def b64u(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64u_json(obj):
    return b64u(json.dumps(obj, separators=(",", ":")).encode())


def thumbprint(members):
    """RFC 7638: SHA-256 over the required members, sorted, no whitespace."""
    canon = "{" + ",".join('"%s":"%s"' % (k, members[k]) for k in sorted(members)) + "}"
    return b64u(hashlib.sha256(canon.encode()).digest())


class EcKey:
    """A P-256 key pair that signs DPoP proofs (RFC 9449) with ES256."""

    def __init__(self):
        self.priv = ec.generate_private_key(ec.SECP256R1())
        n = self.priv.public_key().public_numbers()
        self.x = b64u(n.x.to_bytes(32, "big"))
        self.y = b64u(n.y.to_bytes(32, "big"))
        self.d = b64u(self.priv.private_numbers().private_value.to_bytes(32, "big"))
        self.jkt = thumbprint({"crv": "P-256", "kty": "EC", "x": self.x, "y": self.y})

    @property
    def jwk(self):
        return {"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y}

    @property
    def private_jwk(self):
        return dict(self.jwk, d=self.d)

    def proof(self, htu, htm="POST", jti=None, iat=None):
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}
        claims = {"jti": jti or str(uuid.uuid4()), "htm": htm, "htu": htu,
                  "iat": int(time.time()) if iat is None else iat}
        signing_input = b64u_json(header) + "." + b64u_json(claims)
        r, s = decode_dss_signature(self.priv.sign(signing_input.encode(),
                                                   ec.ECDSA(hashes.SHA256())))
        return signing_input + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def unverified_claims(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# -- API helpers ---------------------------------------------------------------

def api(shark, method, path, body=None, raw=None, headers=None, **kw):
    h = dict(shark.auth())
    if headers:
        h.update(headers)
    if raw is not None:
        h.setdefault("Content-Type", "application/json")
        kw["data"] = raw
    elif body is not None:
        kw["json"] = body
    return shark.request(method, path, headers=h, **kw)


def uniq(prefix="x"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def make_app(shark, scopes=("mcp:read", "mcp:write", "files:read"), **extra):
    body = {"name": uniq("app"), "scopes": list(scopes)}
    body.update(extra)
    r = api(shark, "POST", "/api/v1/apps", body)
    assert r.status_code == 201, r.text
    return r.json()


def make_agent(shark, app_id, scopes=("mcp:read",), **extra):
    body = {"app_id": app_id, "name": uniq("agent"), "scopes": list(scopes)}
    body.update(extra)
    r = api(shark, "POST", "/api/v1/agents", body)
    assert r.status_code == 201, r.text
    return r.json()


def token_url(shark):
    r = shark.get("/.well-known/oauth-authorization-server")
    assert r.status_code == 200, r.text
    return r.json()["token_endpoint"]


def get_token(shark, client_id, secret, key=None, scope=None, proof=None):
    data = {"grant_type": CC}
    if scope is not None:
        data["scope"] = scope
    headers = {}
    if proof is not None:
        headers["DPoP"] = proof
    elif key is not None:
        headers["DPoP"] = key.proof(token_url(shark))
    return requests.post(shark.url("/oauth/token"), data=data, auth=(client_id, secret),
                         headers=headers, timeout=15)


def token_ok(shark, client_id, secret, key=None, scope=None):
    r = get_token(shark, client_id, secret, key=key, scope=scope)
    assert r.status_code == 200, r.text
    return r.json()


def introspect(shark, token):
    r = requests.post(shark.url("/oauth/introspect"), data={"token": token},
                      headers=shark.auth(), timeout=15)
    assert r.status_code == 200, r.text
    return r.json()


def audit(shark, **params):
    r = api(shark, "GET", "/api/v1/audit-logs", params=dict(params, limit=200))
    assert r.status_code == 200, r.text
    return r.json()["data"]


def events_named(events, name):
    return [e for e in events if e["event"] == name]


def make_user(shark):
    r = api(shark, "POST", "/api/v1/users", {"email": "agents-%s@example.test" % uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    return r.json()["id"]


# -- authentication on every route family ------------------------------------------

ROUTES = [
    ("POST", "/api/v1/apps"),
    ("GET", "/api/v1/apps"),
    ("GET", "/api/v1/apps/app_x"),
    ("PATCH", "/api/v1/apps/app_x"),
    ("DELETE", "/api/v1/apps/app_x"),
    ("POST", "/api/v1/agents"),
    ("GET", "/api/v1/agents"),
    ("GET", "/api/v1/agents/shark_agent_x"),
    ("PATCH", "/api/v1/agents/shark_agent_x"),
    ("DELETE", "/api/v1/agents/shark_agent_x"),
    ("GET", "/api/v1/agents/shark_agent_x/tokens"),
    ("POST", "/api/v1/agents/shark_agent_x/tokens/revoke-all"),
    ("POST", "/api/v1/agents/shark_agent_x/rotate-secret"),
    ("POST", "/api/v1/agents/shark_agent_x/rotate-dpop-key"),
]

BAD_AUTH = {
    "none": {},
    "wrong_key": {"Authorization": "Bearer sk_live_" + "A" * 43},
    "not_sk_live": {"Authorization": "Bearer abcdef"},
    "basic": {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()},
}


@pytest.mark.parametrize("method,path", ROUTES)
@pytest.mark.parametrize("how", sorted(BAD_AUTH))
def test_admin_routes_refuse_missing_or_wrong_key(shark, method, path, how):
    r = shark.request(method, path, headers=dict(BAD_AUTH[how]), json={"name": "n"})
    assert r.status_code == 401, (method, path, how, r.status_code, r.text)
    assert_api_error(r.json(), "unauthorized")
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_unauthenticated_writes_change_nothing(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    bad = BAD_AUTH["wrong_key"]
    before = api(shark, "GET", "/api/v1/apps", params={"total": "true"}).json()["total"]
    assert shark.request("POST", "/api/v1/apps", headers=dict(bad),
                         json={"name": "sneaky"}).status_code == 401
    assert shark.request("DELETE", "/api/v1/agents/" + agent["id"],
                         headers=dict(bad)).status_code == 401
    assert shark.request("POST", "/api/v1/agents/%s/rotate-secret" % agent["id"],
                         headers=dict(bad)).status_code == 401
    assert api(shark, "GET", "/api/v1/apps", params={"total": "true"}).json()["total"] == before
    assert api(shark, "GET", "/api/v1/agents/" + agent["id"]).status_code == 200
    token_ok(shark, agent["id"], agent["client_secret"])  # the secret was not rotated


# -- apps -------------------------------------------------------------------------

def test_app_create_get_and_shape(shark):
    name = uniq("Acme")
    r = api(shark, "POST", "/api/v1/apps",
            {"name": name, "description": "the acme app", "scopes": ["mcp:read", "mcp:write"],
             "redirect_uris": ["https://acme.example/cb"]})
    assert r.status_code == 201, r.text
    app = r.json()
    assert app["id"].startswith("app_") and len(app["id"]) > 10
    assert app["name"] == name
    assert app["description"] == "the acme app"
    assert app["scopes"] == ["mcp:read", "mcp:write"]
    assert app["redirect_uris"] == ["https://acme.example/cb"]
    assert app["created_at"] and app["updated_at"]

    g = api(shark, "GET", "/api/v1/apps/" + app["id"])
    assert g.status_code == 200
    assert g.json() == app

    minimal = api(shark, "POST", "/api/v1/apps", {"name": "only a name"})
    assert minimal.status_code == 201, minimal.text
    m = minimal.json()
    assert m["description"] == "" and m["scopes"] == [] and m["redirect_uris"] == []
    assert m["id"] != app["id"]

    ev = events_named(audit(shark, target_id=app["id"]), "app.created")
    assert len(ev) == 1 and ev[0]["metadata"]["name"] == name


@pytest.mark.parametrize("body", [
    {},
    {"name": ""},
    {"name": 42},
    {"name": None},
    {"name": ["a"]},
    {"name": "ok", "description": 7},
    {"name": "ok", "scopes": "mcp:read"},
    {"name": "ok", "scopes": [1]},
    {"name": "ok", "scopes": ["has space"]},
    {"name": "ok", "scopes": [""]},
    {"name": "ok", "scopes": {"a": 1}},
    {"name": "ok", "redirect_uris": "https://a.example/cb"},
    {"name": "ok", "redirect_uris": ["ftp://a.example/cb"]},
    {"name": "ok", "redirect_uris": ["https://a.example/cb#frag"]},
    {"name": "x" * 201},
], ids=lambda b: json.dumps(b)[:40])
def test_app_create_rejects_bad_fields(shark, body):
    before = api(shark, "GET", "/api/v1/apps", params={"total": "true"}).json()["total"]
    r = api(shark, "POST", "/api/v1/apps", body)
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")
    assert api(shark, "GET", "/api/v1/apps", params={"total": "true"}).json()["total"] == before


@pytest.mark.parametrize("raw", [
    "{", '{"name": "a",}', "not json", '["name"]', '"name"', "42", "null", "true",
    '{"name": "a", "name": "b"}', "",
], ids=["truncated", "trailing-comma", "garbage", "array", "string", "number", "null",
        "bool", "duplicate-key", "empty"])
@pytest.mark.parametrize("method,path", [
    ("POST", "/api/v1/apps"),
    ("POST", "/api/v1/agents"),
    ("PATCH", "/api/v1/apps/{app}"),
    ("PATCH", "/api/v1/agents/{agent}"),
    ("POST", "/api/v1/agents/{agent}/rotate-dpop-key"),
])
def test_malformed_and_non_object_json_is_400(shark, method, path, raw):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    r = api(shark, method, path.format(app=app["id"], agent=agent["id"]), raw=raw)
    assert r.status_code == 400, (raw, r.text)
    assert_api_error(r.json(), "invalid_request")
    # Nothing changed.
    assert api(shark, "GET", "/api/v1/apps/" + app["id"]).json() == app
    got = api(shark, "GET", "/api/v1/agents/" + agent["id"]).json()
    assert got["name"] == agent["name"] and got["dpop_jkt"] is None


def test_rotate_secret_rejects_non_object_json(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    for raw in ("{", "[]", '"x"', "5"):
        r = api(shark, "POST", "/api/v1/agents/%s/rotate-secret" % agent["id"], raw=raw)
        assert r.status_code == 400, (raw, r.text)
        assert_api_error(r.json(), "invalid_request")
    token_ok(shark, agent["id"], agent["client_secret"])


def test_app_list_pagination(shark):
    ids = [make_app(shark)["id"] for _ in range(3)]
    r = api(shark, "GET", "/api/v1/apps", params={"limit": 2, "offset": 0, "total": "true"})
    assert r.status_code == 200, r.text
    page = r.json()
    assert set(page) == {"data", "total", "limit", "next_cursor"}
    assert page["limit"] == 2 and len(page["data"]) == 2 and page["next_cursor"]
    total = page["total"]
    assert total >= 3
    # Newest first: the last three created lead the list.
    first3 = api(shark, "GET", "/api/v1/apps", params={"limit": 3}).json()["data"]
    assert [a["id"] for a in first3] == ids[::-1]
    # Walking every page by legacy offset yields every app exactly once.
    seen = []
    offset = 0
    while offset < total:
        p = api(shark, "GET", "/api/v1/apps", params={"limit": 2, "offset": offset}).json()
        assert "total" not in p
        seen += [a["id"] for a in p["data"]]
        offset += 2
    assert len(seen) == total == len(set(seen))
    past = api(shark, "GET", "/api/v1/apps", params={"offset": total + 5, "total": "true"}).json()
    assert past["data"] == [] and past["total"] == total and past["next_cursor"] is None


@pytest.mark.parametrize("q", [{"limit": 0}, {"limit": 1001}, {"limit": "abc"}, {"limit": ""},
                               {"offset": -1}, {"offset": "1x"}, {"limit": "2.5"}])
@pytest.mark.parametrize("path", ["/api/v1/apps", "/api/v1/agents"])
def test_list_rejects_bad_pagination(shark, path, q):
    r = api(shark, "GET", path, params=q)
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")


def test_app_patch(shark):
    app = make_app(shark, scopes=["a:read"], description="before")
    r = api(shark, "PATCH", "/api/v1/apps/" + app["id"], {"name": "renamed"})
    assert r.status_code == 200, r.text
    up = r.json()
    assert up["name"] == "renamed"
    assert up["description"] == "before" and up["scopes"] == ["a:read"]  # untouched
    r = api(shark, "PATCH", "/api/v1/apps/" + app["id"],
            {"description": "after", "scopes": ["a:read", "b:write"],
             "redirect_uris": ["http://localhost:9/cb"]})
    assert r.status_code == 200, r.text
    up = r.json()
    assert up["name"] == "renamed" and up["description"] == "after"
    assert up["scopes"] == ["a:read", "b:write"] and up["redirect_uris"] == ["http://localhost:9/cb"]
    assert api(shark, "GET", "/api/v1/apps/" + app["id"]).json() == up
    for bad in ({"name": ""}, {"name": 3}, {"scopes": "a:read"}, {"redirect_uris": [5]}):
        r = api(shark, "PATCH", "/api/v1/apps/" + app["id"], bad)
        assert r.status_code == 400, (bad, r.text)
        assert_api_error(r.json(), "invalid_request")
    assert api(shark, "GET", "/api/v1/apps/" + app["id"]).json() == up


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_app_is_404(shark, method):
    body = {"name": "x"} if method == "PATCH" else None
    for app_id in ("app_doesnotexist", "nope", "app_'; DROP TABLE apps;--"):
        r = api(shark, method, "/api/v1/apps/" + requests.utils.quote(app_id, safe=""), body)
        assert r.status_code == 404, (app_id, r.text)
        assert_api_error(r.json(), "not_found")


def test_app_delete_without_agents(shark):
    app = make_app(shark)
    r = api(shark, "DELETE", "/api/v1/apps/" + app["id"])
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert api(shark, "GET", "/api/v1/apps/" + app["id"]).status_code == 404
    again = api(shark, "DELETE", "/api/v1/apps/" + app["id"])
    assert again.status_code == 404
    assert_api_error(again.json(), "not_found")
    ev = events_named(audit(shark, target_id=app["id"]), "app.deleted")
    assert len(ev) == 1 and ev[0]["metadata"]["cascade"] is False


def test_app_delete_with_agents_conflicts_then_cascades(shark):
    app = make_app(shark)
    a1 = make_agent(shark, app["id"])
    a2 = make_agent(shark, app["id"])
    tok1 = token_ok(shark, a1["id"], a1["client_secret"])["access_token"]
    tok2 = token_ok(shark, a2["id"], a2["client_secret"])["access_token"]
    other_app = make_app(shark)
    bystander = make_agent(shark, other_app["id"])
    tok3 = token_ok(shark, bystander["id"], bystander["client_secret"])["access_token"]

    for q in ("", "?cascade=false"):
        r = api(shark, "DELETE", "/api/v1/apps/%s%s" % (app["id"], q))
        assert r.status_code == 409, r.text
        assert_api_error(r.json(), "conflict")
        assert "2" in r.json()["error"]["message"]
    bad = api(shark, "DELETE", "/api/v1/apps/%s?cascade=yes" % app["id"])
    assert bad.status_code == 400
    assert_api_error(bad.json(), "invalid_request")
    # Still all there and working.
    assert api(shark, "GET", "/api/v1/apps/" + app["id"]).status_code == 200
    assert introspect(shark, tok1)["active"] is True

    r = api(shark, "DELETE", "/api/v1/apps/%s?cascade=true" % app["id"])
    assert r.status_code == 204, r.text
    assert api(shark, "GET", "/api/v1/apps/" + app["id"]).status_code == 404
    for a, tok in ((a1, tok1), (a2, tok2)):
        got = api(shark, "GET", "/api/v1/agents/" + a["id"])
        assert got.status_code == 200
        assert got.json()["status"] == "disabled"
        assert introspect(shark, tok)["active"] is False
        t = get_token(shark, a["id"], a["client_secret"])
        assert t.status_code == 401, t.text
        assert_oauth_error(t.json(), "invalid_client")
    # Another app's agent is untouched.
    assert introspect(shark, tok3)["active"] is True
    assert api(shark, "GET", "/api/v1/agents/" + bystander["id"]).json()["status"] == "active"
    ev = events_named(audit(shark, target_id=app["id"]), "app.deleted")
    assert len(ev) == 1
    assert ev[0]["metadata"] == {"cascade": True, "disabled_agents": 2, "revoked_tokens": 2}


# -- agents: create -------------------------------------------------------------------

def test_agent_create_shape_and_secret_shown_once(shark):
    app = make_app(shark)
    name = uniq("agent-alice")
    r = api(shark, "POST", "/api/v1/agents",
            {"app_id": app["id"], "name": name, "scopes": ["mcp:read", "mcp:write"],
             "description": "Agent for customer 42"})
    assert r.status_code == 201, r.text
    agent = r.json()
    assert agent["id"] == agent["client_id"]
    assert agent["id"].startswith("shark_agent_") and len(agent["id"]) > len("shark_agent_") + 10
    assert agent["app_id"] == app["id"]
    assert agent["name"] == name and agent["description"] == "Agent for customer 42"
    assert agent["scopes"] == ["mcp:read", "mcp:write"]
    assert agent["status"] == "active"
    assert agent["created_by"] is None and agent["dpop_jkt"] is None
    assert sorted(agent["grant_types"]) == sorted([CC, EXCHANGE])
    secret = agent["client_secret"]
    assert isinstance(secret, str) and len(secret) >= 32

    got = api(shark, "GET", "/api/v1/agents/" + agent["id"])
    assert got.status_code == 200
    assert "client_secret" not in got.text and secret not in got.text
    expected = dict(agent)
    del expected["client_secret"]
    assert got.json() == expected
    listed = api(shark, "GET", "/api/v1/agents", params={"app_id": app["id"]})
    assert listed.status_code == 200
    assert secret not in listed.text and "client_secret" not in listed.text
    assert [a["id"] for a in listed.json()["data"]] == [agent["id"]]
    # The secret is not stored in clear either.
    assert shark.psql("SELECT count(*) FROM oauth_clients WHERE secret_hash = '%s'"
                      % secret).strip() == "0"

    tok = token_ok(shark, agent["id"], secret)
    assert tok["token_type"] == "Bearer"
    assert set(tok["scope"].split()) == {"mcp:read", "mcp:write"}
    info = introspect(shark, tok["access_token"])
    assert info["active"] is True and info["client_id"] == agent["id"]
    # Scope down-selection works within what the agent has, and not beyond.
    assert token_ok(shark, agent["id"], secret, scope="mcp:read")["scope"] == "mcp:read"
    r = get_token(shark, agent["id"], secret, scope="files:read")
    assert r.status_code == 400
    assert_oauth_error(r.json(), "invalid_scope")
    # The wrong secret is refused.
    r = get_token(shark, agent["id"], secret + "x")
    assert r.status_code == 401
    assert_oauth_error(r.json(), "invalid_client")


def test_agent_secrets_and_ids_are_unique(shark):
    app = make_app(shark)
    agents = [make_agent(shark, app["id"]) for _ in range(5)]
    assert len({a["id"] for a in agents}) == 5
    assert len({a["client_secret"] for a in agents}) == 5
    # One agent's secret does not open another.
    r = get_token(shark, agents[0]["id"], agents[1]["client_secret"])
    assert r.status_code == 401


def test_agent_caller_chosen_client_id(shark):
    app = make_app(shark)
    cid = "shark_agent_fleet-%s.v1" % uuid.uuid4().hex[:8]
    agent = make_agent(shark, app["id"], client_id=cid)
    assert agent["id"] == cid and agent["client_id"] == cid
    token_ok(shark, cid, agent["client_secret"])
    dup = api(shark, "POST", "/api/v1/agents", {"app_id": app["id"], "name": "dup",
                                                 "scopes": [], "client_id": cid})
    assert dup.status_code == 409, dup.text
    assert_api_error(dup.json(), "conflict")
    # The original keeps its secret.
    token_ok(shark, cid, agent["client_secret"])
    for bad in ("agent_x", "shark_agent_", "shark_agent_a b", "shark_agent_a/b", "SHARK_AGENT_x",
                "shark_agent_é", "xshark_agent_y", 17):
        r = api(shark, "POST", "/api/v1/agents", {"app_id": app["id"], "name": "n",
                                                   "scopes": [], "client_id": bad})
        assert r.status_code == 400, (bad, r.text)
        assert_api_error(r.json(), "invalid_request")
    assert api(shark, "GET", "/api/v1/agents", params={"app_id": app["id"], "total": "true"}).json()["total"] == 1


def test_agent_scopes_must_be_within_the_apps(shark):
    app = make_app(shark, scopes=["mcp:read", "mcp:write"])
    r = api(shark, "POST", "/api/v1/agents",
            {"app_id": app["id"], "name": "greedy", "scopes": ["mcp:read", "admin:all"]})
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")
    assert "scope" in r.json()["error"]["message"]
    ok = make_agent(shark, app["id"], scopes=["mcp:write"])
    assert ok["scopes"] == ["mcp:write"]
    none = make_agent(shark, app["id"], scopes=[])
    assert none["scopes"] == []
    assert api(shark, "GET", "/api/v1/agents", params={"app_id": app["id"], "total": "true"}).json()["total"] == 2


def test_agent_unknown_app_and_unknown_creator(shark):
    r = api(shark, "POST", "/api/v1/agents",
            {"app_id": "app_nosuchapp", "name": "orphan", "scopes": []})
    assert r.status_code == 404, r.text
    assert_api_error(r.json(), "not_found")
    app = make_app(shark)
    r = api(shark, "POST", "/api/v1/agents",
            {"app_id": app["id"], "name": "n", "scopes": [], "created_by": "usr_nobody"})
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")
    assert api(shark, "GET", "/api/v1/agents", params={"app_id": app["id"], "total": "true"}).json()["total"] == 0
    uid = make_user(shark)
    agent = make_agent(shark, app["id"], created_by=uid)
    assert agent["created_by"] == uid


@pytest.mark.parametrize("patch", [
    {"app_id": None},
    {"name": None},
    {"name": ""},
    {"name": 12345},
    {"name": True},
    {"app_id": 7},
    {"scopes": "mcp:read"},
    {"scopes": "mcp:read mcp:write"},
    {"scopes": [["mcp:read"]]},
    {"scopes": ["mcp:read", None]},
    {"scopes": ["bad scope"]},
    {"description": {"d": 1}},
    {"created_by": 5},
    {"dpop_jkt": "short"},
    {"dpop_jkt": 5},
    {"dpop_jkt": "!" * 43},
    {"grant_types": ["password"]},
    {"grant_types": "client_credentials"},
    {"grant_types": [CC, CC, CC]},
    {"name": "n" * 201},
    {"name": "a\u0000b"},
], ids=lambda p: json.dumps(p)[:40])
def test_agent_create_rejects_bad_fields(shark, patch):
    app = make_app(shark)
    body = {"app_id": app["id"], "name": "fine", "scopes": ["mcp:read"]}
    body.update(patch)
    body = {k: v for k, v in body.items() if v is not None}
    r = api(shark, "POST", "/api/v1/agents", body)
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")
    assert api(shark, "GET", "/api/v1/agents", params={"app_id": app["id"], "total": "true"}).json()["total"] == 0


def test_agent_grant_types_are_enforced(shark):
    app = make_app(shark)
    only_exchange = make_agent(shark, app["id"], grant_types=[EXCHANGE])
    assert only_exchange["grant_types"] == [EXCHANGE]
    r = get_token(shark, only_exchange["id"], only_exchange["client_secret"])
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "unauthorized_client")


SQLISH = [
    "Robert'); DROP TABLE oauth_clients;--",
    "x' OR '1'='1",
    "a\"b\\c; SELECT pg_sleep(5); --",
    "$1 $$ %s %d \\x00 ::text[]",
    "名前 — emoji 🦈 <script>alert(1)</script>",
]


def test_sql_in_a_name_reaches_postgres_only_as_a_parameter(shark):
    """With log_statement = all, PostgreSQL logs each statement's text and, apart,
    its parameters: the pg_sleep of a name shows up only among the parameters."""
    log = os.path.join(shark.data_dir, "pg", "postgres.log")
    name = "a\"b\\c; SELECT pg_sleep(5); --"
    start = os.path.getsize(log)
    shark.psql("ALTER SYSTEM SET log_statement = 'all'")
    shark.psql("SELECT pg_reload_conf()")
    try:
        # Every pooled backend logs once it has taken the reload: wait for it.
        deadline = time.time() + 10
        while True:
            marker = "logging-on-" + uuid.uuid4().hex
            make_app(shark, description=marker)
            with open(log, errors="replace") as f:
                f.seek(start)
                if marker in f.read():
                    break
            assert time.time() < deadline, "log_statement never took effect"
            time.sleep(0.1)
        start = os.path.getsize(log)
        app = make_app(shark, description=name)
        assert api(shark, "PATCH", "/api/v1/apps/" + app["id"], {"name": name}).status_code == 200
        make_agent(shark, app["id"], name=name, description=name)
    finally:
        shark.psql("ALTER SYSTEM RESET log_statement")
        shark.psql("SELECT pg_reload_conf()")
    with open(log, errors="replace") as f:
        f.seek(start)
        lines = f.read().splitlines()
    texts = [l for l in lines if "LOG:  execute " in l or "LOG:  statement: " in l]
    params = [l for l in lines if "DETAIL:  parameters: " in l]
    assert texts and len([l for l in params if "pg_sleep(5)" in l]) >= 3, lines[-20:]
    assert [l for l in texts if "pg_sleep" in l] == []


@pytest.mark.parametrize("name", SQLISH)
def test_sql_metacharacters_are_stored_verbatim(shark, name):
    app = make_app(shark, description=name)
    r = api(shark, "PATCH", "/api/v1/apps/" + app["id"], {"name": name})
    assert r.status_code == 200 and r.json()["name"] == name
    got = api(shark, "GET", "/api/v1/apps/" + app["id"]).json()
    assert got["name"] == name and got["description"] == name
    agent = make_agent(shark, app["id"], name=name, description=name)
    assert agent["name"] == name and agent["description"] == name
    got = api(shark, "GET", "/api/v1/agents/" + agent["id"]).json()
    assert got["name"] == name and got["description"] == name
    listed = api(shark, "GET", "/api/v1/agents", params={"app_id": app["id"]}).json()["data"]
    assert [a["name"] for a in listed] == [name]
    # The tables are intact and the agent works.
    token_ok(shark, agent["id"], agent["client_secret"])
    ev = events_named(audit(shark, target_id=agent["id"]), "agent.created")
    assert ev[0]["metadata"]["name"] == name
    # Meta-characters in filters are values, not SQL.
    r = api(shark, "GET", "/api/v1/agents", params={"app_id": name, "total": "true"})
    assert r.status_code == 200 and r.json()["total"] == 0


# -- agents: list, get, patch, delete ------------------------------------------------------

def test_agent_list_filters_and_pagination(shark):
    app1, app2 = make_app(shark), make_app(shark)
    u1, u2 = make_user(shark), make_user(shark)
    a = make_agent(shark, app1["id"], created_by=u1)
    b = make_agent(shark, app1["id"], created_by=u2)
    c = make_agent(shark, app1["id"], created_by=u1)
    d = make_agent(shark, app2["id"], created_by=u1)
    assert api(shark, "PATCH", "/api/v1/agents/" + c["id"],
               {"status": "disabled"}).status_code == 200

    def ids(**q):
        r = api(shark, "GET", "/api/v1/agents", params=dict(q, total="true"))
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"data", "total", "limit", "next_cursor"}
        return [x["id"] for x in page["data"]], page["total"]

    assert ids(app_id=app1["id"]) == ([c["id"], b["id"], a["id"]], 3)
    assert ids(app_id=app2["id"]) == ([d["id"]], 1)
    assert ids(created_by=u1) == ([d["id"], c["id"], a["id"]], 3)
    assert ids(created_by=u2) == ([b["id"]], 1)
    assert ids(app_id=app1["id"], created_by=u1) == ([c["id"], a["id"]], 2)
    assert ids(app_id=app1["id"], status="disabled") == ([c["id"]], 1)
    assert ids(app_id=app1["id"], status="active") == ([b["id"], a["id"]], 2)
    assert ids(app_id=app1["id"], limit=1, offset=1) == ([b["id"]], 3)
    assert ids(app_id=app1["id"], limit=2, offset=2) == ([a["id"]], 3)
    assert ids(app_id=app1["id"], offset=3) == ([], 3)
    assert ids(app_id="app_none") == ([], 0)
    for s in ("revoked", "ACTIVE", ""):
        r = api(shark, "GET", "/api/v1/agents", params={"status": s})
        assert r.status_code == 400, (s, r.text)
        assert_api_error(r.json(), "invalid_request")
    everything = api(shark, "GET", "/api/v1/agents", params={"limit": 1000, "total": "true"}).json()
    assert everything["total"] >= 4 and everything["limit"] == 1000
    assert all(x["id"].startswith("shark_agent_") for x in everything["data"])


def test_agents_list_holds_no_other_clients(shark):
    """DCR clients share the table with agents; the agents API shows only agents."""
    r = requests.post(shark.url("/oauth/register"),
                      json={"client_name": "dcr-client", "redirect_uris": ["http://127.0.0.1:9/cb"],
                            "grant_types": ["authorization_code", "refresh_token"],
                            "token_endpoint_auth_method": "client_secret_basic"}, timeout=15)
    assert r.status_code == 201, r.text
    cid = r.json()["client_id"]
    assert api(shark, "GET", "/api/v1/agents/" + cid).status_code == 404
    listed = api(shark, "GET", "/api/v1/agents", params={"limit": 1000}).json()["data"]
    assert cid not in [a["id"] for a in listed]
    for method, suffix in (("PATCH", ""), ("DELETE", ""), ("POST", "/tokens/revoke-all"),
                           ("POST", "/rotate-secret"), ("GET", "/tokens")):
        r = api(shark, method, "/api/v1/agents/" + cid + suffix,
                {"name": "hijack"} if method == "PATCH" else None)
        assert r.status_code == 404, (method, suffix, r.text)


AGENT_ID_ROUTES = [
    ("GET", "", None),
    ("PATCH", "", {"name": "x"}),
    ("DELETE", "", None),
    ("GET", "/tokens", None),
    ("POST", "/tokens/revoke-all", None),
    ("POST", "/rotate-secret", None),
    ("POST", "/rotate-dpop-key", {"new_public_key_jwk": EcKey().jwk, "reason": "r"}),
]


@pytest.mark.parametrize("method,suffix,body", AGENT_ID_ROUTES,
                         ids=[m + s for m, s, _ in AGENT_ID_ROUTES])
def test_unknown_agent_is_404(shark, method, suffix, body):
    for agent_id in ("shark_agent_nosuchagent", "nope", "shark_agent_x' OR '1'='1"):
        r = api(shark, method, "/api/v1/agents/%s%s" % (requests.utils.quote(agent_id, safe=""),
                                                         suffix), body)
        assert r.status_code == 404, (agent_id, r.text)
        assert_api_error(r.json(), "not_found")


def test_agent_patch(shark):
    app = make_app(shark, scopes=["mcp:read", "mcp:write"])
    agent = make_agent(shark, app["id"], scopes=["mcp:read"], description="d0")
    path = "/api/v1/agents/" + agent["id"]
    r = api(shark, "PATCH", path, {"name": "new name"})
    assert r.status_code == 200, r.text
    up = r.json()
    assert up["name"] == "new name" and up["description"] == "d0"
    assert up["scopes"] == ["mcp:read"] and up["status"] == "active"
    assert "client_secret" not in up
    r = api(shark, "PATCH", path, {"description": "d1", "scopes": ["mcp:read", "mcp:write"]})
    assert r.status_code == 200, r.text
    up = r.json()
    assert up["description"] == "d1" and up["scopes"] == ["mcp:read", "mcp:write"]
    assert up["name"] == "new name"
    assert api(shark, "GET", path).json() == up
    # New scopes take effect at the token endpoint.
    tok = token_ok(shark, agent["id"], agent["client_secret"], scope="mcp:write")
    assert tok["scope"] == "mcp:write"

    r = api(shark, "PATCH", path, {"scopes": ["mcp:read", "root"]})
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")
    for bad in ({"name": ""}, {"name": 1}, {"status": "deleted"}, {"status": 0},
                {"scopes": "mcp:read"}, {"description": []}):
        r = api(shark, "PATCH", path, bad)
        assert r.status_code == 400, (bad, r.text)
        assert_api_error(r.json(), "invalid_request")
    assert api(shark, "GET", path).json() == up


def test_agent_disable_revokes_tokens_and_blocks_issuance(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    key = EcKey()
    toks = [token_ok(shark, agent["id"], agent["client_secret"])["access_token"],
            token_ok(shark, agent["id"], agent["client_secret"], key=key)["access_token"]]
    assert all(introspect(shark, t)["active"] for t in toks)
    r = api(shark, "PATCH", "/api/v1/agents/" + agent["id"], {"status": "disabled"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "disabled"
    for t in toks:
        assert introspect(shark, t) == {"active": False}
    tl = api(shark, "GET", "/api/v1/agents/%s/tokens" % agent["id"], params={"total": "true"}).json()
    assert tl == {"data": [], "limit": 100, "total": 0, "next_cursor": None}
    r = get_token(shark, agent["id"], agent["client_secret"])
    assert r.status_code == 401, r.text
    assert_oauth_error(r.json(), "invalid_client")
    ev = events_named(audit(shark, target_id=agent["id"]), "agent.updated")
    assert ev[0]["metadata"] == {"status": "disabled", "revoked_tokens": 2}

    r = api(shark, "PATCH", "/api/v1/agents/" + agent["id"], {"status": "active"})
    assert r.status_code == 200 and r.json()["status"] == "active"
    fresh = token_ok(shark, agent["id"], agent["client_secret"])["access_token"]
    assert introspect(shark, fresh)["active"] is True
    for t in toks:  # re-enabling does not bring old tokens back
        assert introspect(shark, t)["active"] is False


def test_agent_delete(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    keep = make_agent(shark, app["id"])
    tok = token_ok(shark, agent["id"], agent["client_secret"])["access_token"]
    keep_tok = token_ok(shark, keep["id"], keep["client_secret"])["access_token"]
    r = api(shark, "DELETE", "/api/v1/agents/" + agent["id"])
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert api(shark, "GET", "/api/v1/agents/" + agent["id"]).status_code == 404
    assert introspect(shark, tok)["active"] is False
    r = get_token(shark, agent["id"], agent["client_secret"])
    assert r.status_code == 401
    assert_oauth_error(r.json(), "invalid_client")
    again = api(shark, "DELETE", "/api/v1/agents/" + agent["id"])
    assert again.status_code == 404
    assert_api_error(again.json(), "not_found")
    assert introspect(shark, keep_tok)["active"] is True
    listed = api(shark, "GET", "/api/v1/agents", params={"app_id": app["id"]}).json()
    assert [a["id"] for a in listed["data"]] == [keep["id"]]
    ev = events_named(audit(shark, target_id=agent["id"]), "agent.deleted")
    assert len(ev) == 1
    assert ev[0]["metadata"]["name"] == agent["name"]
    assert ev[0]["metadata"]["revoked_tokens"] == 1
    # With its last agent gone the app can be deleted without cascade.
    assert api(shark, "DELETE", "/api/v1/agents/" + keep["id"]).status_code == 204
    assert api(shark, "DELETE", "/api/v1/apps/" + app["id"]).status_code == 204


# -- tokens and revoke-all -------------------------------------------------------------------

def test_agent_tokens_lists_live_tokens(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"], scopes=["mcp:read", "mcp:write"])
    path = "/api/v1/agents/%s/tokens" % agent["id"]
    assert api(shark, "GET", path).json() == {"data": [], "limit": 100, "next_cursor": None}
    key = EcKey()
    bearer = token_ok(shark, agent["id"], agent["client_secret"], scope="mcp:read")
    bound = token_ok(shark, agent["id"], agent["client_secret"], key=key)
    assert bound["token_type"] == "DPoP"
    r = api(shark, "GET", path, params={"total": "true"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"data", "limit", "total", "next_cursor"}
    assert body["total"] == 2 and len(body["data"]) == 2
    by_id = {t["token_id"]: t for t in body["data"]}
    jti_bearer = unverified_claims(bearer["access_token"])["jti"]
    jti_bound = unverified_claims(bound["access_token"])["jti"]
    assert set(by_id) == {jti_bearer, jti_bound}
    for t in body["data"]:
        assert set(t) == {"token_id", "agent_id", "jkt", "scope", "expires_at", "created_at"}
        assert t["agent_id"] == agent["id"]
        assert t["expires_at"] > t["created_at"]
    assert by_id[jti_bearer]["jkt"] is None and by_id[jti_bearer]["scope"] == "mcp:read"
    assert by_id[jti_bound]["jkt"] == key.jkt
    assert set(by_id[jti_bound]["scope"].split()) == {"mcp:read", "mcp:write"}
    # Another agent's tokens are not listed here.
    other = make_agent(shark, app["id"])
    token_ok(shark, other["id"], other["client_secret"])
    assert api(shark, "GET", path, params={"total": "true"}).json()["total"] == 2
    # A token revoked through RFC 7009 leaves the list.
    rv = requests.post(shark.url("/oauth/revoke"), data={"token": bearer["access_token"]},
                       auth=(agent["id"], agent["client_secret"]), timeout=15)
    assert rv.status_code == 200, rv.text
    body = api(shark, "GET", path, params={"total": "true"}).json()
    assert body["total"] == 1 and [t["token_id"] for t in body["data"]] == [jti_bound]


def test_revoke_all(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    other = make_agent(shark, app["id"])
    key = EcKey()
    toks = [token_ok(shark, agent["id"], agent["client_secret"])["access_token"]
            for _ in range(3)]
    toks.append(token_ok(shark, agent["id"], agent["client_secret"], key=key)["access_token"])
    other_tok = token_ok(shark, other["id"], other["client_secret"])["access_token"]
    assert all(introspect(shark, t)["active"] for t in toks)

    r = api(shark, "POST", "/api/v1/agents/%s/tokens/revoke-all" % agent["id"])
    assert r.status_code == 200, r.text
    assert r.json() == {"revoked_count": 4, "agent_id": agent["id"]}
    for t in toks:
        assert introspect(shark, t) == {"active": False}
    assert introspect(shark, other_tok)["active"] is True
    assert api(shark, "GET", "/api/v1/agents/%s/tokens" % agent["id"], params={"total": "true"}).json()["total"] == 0
    again = api(shark, "POST", "/api/v1/agents/%s/tokens/revoke-all" % agent["id"])
    assert again.status_code == 200
    assert again.json() == {"revoked_count": 0, "agent_id": agent["id"]}
    # Revoke-all is not a disable: the agent may get new tokens.
    assert api(shark, "GET", "/api/v1/agents/" + agent["id"]).json()["status"] == "active"
    fresh = token_ok(shark, agent["id"], agent["client_secret"])["access_token"]
    assert introspect(shark, fresh)["active"] is True

    ev = events_named(audit(shark, target_id=agent["id"]), "agent.tokens_revoked_all")
    assert len(ev) == 2
    assert sorted(e["metadata"]["revoked_count"] for e in ev) == [0, 4]
    assert all(e["actor_type"] == "admin" for e in ev)
    assert all(e["request_id"] for e in ev)


def test_revoke_all_request_id_matches_audit(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    token_ok(shark, agent["id"], agent["client_secret"])
    r = api(shark, "POST", "/api/v1/agents/%s/tokens/revoke-all" % agent["id"])
    assert r.status_code == 200
    rid = r.headers.get("X-Request-Id") or r.headers.get("X-Request-ID")
    assert rid
    ev = events_named(audit(shark, target_id=agent["id"]), "agent.tokens_revoked_all")
    assert len(ev) == 1 and ev[0]["request_id"] == rid
    assert ev[0]["metadata"]["revoked_count"] == 1


# -- secret rotation ------------------------------------------------------------------------

def test_rotate_secret_without_grace(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    old = agent["client_secret"]
    live = token_ok(shark, agent["id"], old)["access_token"]
    r = api(shark, "POST", "/api/v1/agents/%s/rotate-secret" % agent["id"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"agent_id", "client_id", "client_secret", "rotated_at"}
    assert body["agent_id"] == body["client_id"] == agent["id"]
    new = body["client_secret"]
    assert new != old and len(new) >= 32
    assert body["rotated_at"]
    r = get_token(shark, agent["id"], old)
    assert r.status_code == 401, r.text
    assert_oauth_error(r.json(), "invalid_client")
    token_ok(shark, agent["id"], new)
    got = api(shark, "GET", "/api/v1/agents/" + agent["id"])
    assert new not in got.text and "client_secret" not in got.text
    assert got.json()["updated_at"] == body["rotated_at"]
    assert introspect(shark, live)["active"] is True  # rotation alone revokes nothing
    ev = events_named(audit(shark, target_id=agent["id"]), "agent.secret_rotated")
    assert len(ev) == 1 and ev[0]["metadata"] == {"grace_period_seconds": 0}
    assert new not in json.dumps(ev) and old not in json.dumps(ev)

    # Rotating again with an explicit zero grace drops the previous secret too.
    r = api(shark, "POST", "/api/v1/agents/%s/rotate-secret" % agent["id"],
            {"grace_period_seconds": 0})
    assert r.status_code == 200
    newer = r.json()["client_secret"]
    assert get_token(shark, agent["id"], new).status_code == 401
    token_ok(shark, agent["id"], newer)


def test_rotate_secret_with_grace_period(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    old = agent["client_secret"]
    grace = 3
    r = api(shark, "POST", "/api/v1/agents/%s/rotate-secret" % agent["id"],
            {"grace_period_seconds": grace})
    t0 = time.time()
    assert r.status_code == 200, r.text
    new = r.json()["client_secret"]
    token_ok(shark, agent["id"], old)
    token_ok(shark, agent["id"], new)
    assert get_token(shark, agent["id"], old + "x").status_code == 401
    time.sleep(max(0, t0 + grace + 1.5 - time.time()))
    r = get_token(shark, agent["id"], old)
    assert r.status_code == 401, r.text
    assert_oauth_error(r.json(), "invalid_client")
    token_ok(shark, agent["id"], new)
    ev = events_named(audit(shark, target_id=agent["id"]), "agent.secret_rotated")
    assert len(ev) == 1 and ev[0]["metadata"] == {"grace_period_seconds": grace}


def test_rotate_secret_twice_in_grace_keeps_only_latest_previous(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    s0 = agent["client_secret"]
    path = "/api/v1/agents/%s/rotate-secret" % agent["id"]
    s1 = api(shark, "POST", path, {"grace_period_seconds": 300}).json()["client_secret"]
    s2 = api(shark, "POST", path, {"grace_period_seconds": 300}).json()["client_secret"]
    assert get_token(shark, agent["id"], s0).status_code == 401
    token_ok(shark, agent["id"], s1)
    token_ok(shark, agent["id"], s2)


@pytest.mark.parametrize("grace", [-1, "10", 1.5, 604801, True, [5], {"s": 5}],
                         ids=lambda g: json.dumps(g))
def test_rotate_secret_rejects_bad_grace(shark, grace):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    r = api(shark, "POST", "/api/v1/agents/%s/rotate-secret" % agent["id"],
            {"grace_period_seconds": grace})
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")
    token_ok(shark, agent["id"], agent["client_secret"])  # not rotated
    assert events_named(audit(shark, target_id=agent["id"]), "agent.secret_rotated") == []


# -- DPoP key binding and rotation ------------------------------------------------------------

def test_agent_created_with_dpop_jkt_needs_that_key(shark):
    app = make_app(shark)
    key, stranger = EcKey(), EcKey()
    agent = make_agent(shark, app["id"], dpop_jkt=key.jkt)
    assert agent["dpop_jkt"] == key.jkt
    assert api(shark, "GET", "/api/v1/agents/" + agent["id"]).json()["dpop_jkt"] == key.jkt
    secret = agent["client_secret"]
    r = get_token(shark, agent["id"], secret)
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_dpop_proof")
    r = get_token(shark, agent["id"], secret, key=stranger)
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_dpop_proof")
    tok = token_ok(shark, agent["id"], secret, key=key)
    assert tok["token_type"] == "DPoP"
    info = introspect(shark, tok["access_token"])
    assert info["active"] is True and info["cnf"] == {"jkt": key.jkt}
    assert unverified_claims(tok["access_token"])["cnf"] == {"jkt": key.jkt}
    # A bad proof from the right key is still refused (wrong htu, htm, replay, stale iat).
    url = token_url(shark)
    for proof in (key.proof(shark.url("/oauth/other")), key.proof(url, htm="GET"),
                  key.proof(url, iat=int(time.time()) - 3600)):
        r = get_token(shark, agent["id"], secret, proof=proof)
        assert r.status_code == 400, r.text
        assert_oauth_error(r.json(), "invalid_dpop_proof")
    once = key.proof(url)
    assert get_token(shark, agent["id"], secret, proof=once).status_code == 200
    r = get_token(shark, agent["id"], secret, proof=once)
    assert r.status_code == 400
    assert_oauth_error(r.json(), "invalid_dpop_proof")


def test_rotate_dpop_key(shark):
    app = make_app(shark)
    k1, k2 = EcKey(), EcKey()
    agent = make_agent(shark, app["id"], dpop_jkt=k1.jkt)
    secret = agent["client_secret"]
    old_toks = [token_ok(shark, agent["id"], secret, key=k1)["access_token"] for _ in range(2)]
    other = make_agent(shark, app["id"])
    other_tok = token_ok(shark, other["id"], other["client_secret"], key=k1)["access_token"]

    reason = "scheduled rotation 2026-04-26"
    r = api(shark, "POST", "/api/v1/agents/%s/rotate-dpop-key" % agent["id"],
            {"new_public_key_jwk": k2.jwk, "reason": reason})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"old_jkt", "new_jkt", "revoked_token_count", "audit_event_id"}
    assert body["old_jkt"] == k1.jkt
    assert body["new_jkt"] == k2.jkt
    assert body["revoked_token_count"] == 2
    assert body["audit_event_id"].startswith("audit_")

    for t in old_toks:
        assert introspect(shark, t) == {"active": False}
    # Another agent's token bound to the same key is not this agent's to revoke.
    assert introspect(shark, other_tok)["active"] is True
    assert api(shark, "GET", "/api/v1/agents/" + agent["id"]).json()["dpop_jkt"] == k2.jkt
    r = get_token(shark, agent["id"], secret, key=k1)
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_dpop_proof")
    r = get_token(shark, agent["id"], secret)
    assert r.status_code == 400
    assert_oauth_error(r.json(), "invalid_dpop_proof")
    tok = token_ok(shark, agent["id"], secret, key=k2)
    assert introspect(shark, tok["access_token"])["cnf"] == {"jkt": k2.jkt}
    listed = api(shark, "GET", "/api/v1/agents/%s/tokens" % agent["id"], params={"total": "true"}).json()
    assert listed["total"] == 1 and listed["data"][0]["jkt"] == k2.jkt

    ev = events_named(audit(shark, target_id=agent["id"]), "agent.dpop_key_rotated")
    assert len(ev) == 1
    assert ev[0]["id"] == body["audit_event_id"]
    assert ev[0]["metadata"] == {"old_jkt": k1.jkt, "new_jkt": k2.jkt, "reason": reason,
                                 "revoked_token_count": 2}


def test_rotate_dpop_key_for_unbound_agent(shark):
    """An agent with no stored key: old_jkt is empty, and tokens bound to any
    other key are revoked; after rotation the agent is bound."""
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    secret = agent["client_secret"]
    ka, kb, knew = EcKey(), EcKey(), EcKey()
    bound = [token_ok(shark, agent["id"], secret, key=k)["access_token"] for k in (ka, kb)]
    r = api(shark, "POST", "/api/v1/agents/%s/rotate-dpop-key" % agent["id"],
            {"new_public_key_jwk": knew.jwk, "reason": "bind"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["old_jkt"] == "" and body["new_jkt"] == knew.jkt
    assert body["revoked_token_count"] == 2
    for t in bound:
        assert introspect(shark, t)["active"] is False
    assert get_token(shark, agent["id"], secret).status_code == 400
    assert get_token(shark, agent["id"], secret, key=ka).status_code == 400
    token_ok(shark, agent["id"], secret, key=knew)


def test_rotate_dpop_key_reason_is_optional(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    k = EcKey()
    r = api(shark, "POST", "/api/v1/agents/%s/rotate-dpop-key" % agent["id"],
            {"new_public_key_jwk": k.jwk})
    assert r.status_code == 200, r.text
    assert r.json()["new_jkt"] == k.jkt


def test_rotate_dpop_key_to_ed25519_thumbprint(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    pub = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(pub)}
    r = api(shark, "POST", "/api/v1/agents/%s/rotate-dpop-key" % agent["id"],
            {"new_public_key_jwk": jwk, "reason": "ed"})
    assert r.status_code == 200, r.text
    assert r.json()["new_jkt"] == thumbprint({"crv": "Ed25519", "kty": "OKP", "x": jwk["x"]})


def test_rotate_dpop_key_thumbprint_ignores_optional_members(shark):
    """RFC 7638 hashes only the required members: kid, alg, use do not count,
    and a proof whose header JWK carries them still matches the binding."""
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    k = EcKey()
    r = api(shark, "POST", "/api/v1/agents/%s/rotate-dpop-key" % agent["id"],
            {"new_public_key_jwk": dict(k.jwk, kid="k-1", alg="ES256", use="sig"),
             "reason": "extra members"})
    assert r.status_code == 200, r.text
    assert r.json()["new_jkt"] == k.jkt
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": dict(k.jwk, kid="other")}
    claims = {"jti": str(uuid.uuid4()), "htm": "POST", "htu": token_url(shark),
              "iat": int(time.time())}
    si = b64u_json(header) + "." + b64u_json(claims)
    rr, ss = decode_dss_signature(k.priv.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
    proof = si + "." + b64u(rr.to_bytes(32, "big") + ss.to_bytes(32, "big"))
    tok = get_token(shark, agent["id"], agent["client_secret"], proof=proof)
    assert tok.status_code == 200, tok.text
    assert introspect(shark, tok.json()["access_token"])["cnf"] == {"jkt": k.jkt}


def test_rotate_dpop_key_to_rsa_thumbprint(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    jwk = _rsa_jwk(2048)
    r = api(shark, "POST", "/api/v1/agents/%s/rotate-dpop-key" % agent["id"],
            {"new_public_key_jwk": jwk, "reason": "rsa"})
    assert r.status_code == 200, r.text
    assert r.json()["new_jkt"] == thumbprint({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]})


def _rsa_jwk(bits, private=False):
    k = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    n = k.public_key().public_numbers()
    jwk = {"kty": "RSA", "n": b64u(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
           "e": b64u(n.e.to_bytes(3, "big"))}
    if private:
        d = k.private_numbers().d
        jwk["d"] = b64u(d.to_bytes((d.bit_length() + 7) // 8, "big"))
    return jwk


def _bad_jwks():
    ec_key = EcKey()
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    return {
        "ec_private": ec_key.private_jwk,
        "ec_private_null_d": dict(ec_key.jwk, d=None),
        "rsa_private": _rsa_jwk(2048, private=True),
        "oct": {"kty": "oct", "k": b64u(b"0123456789abcdef0123456789abcdef")},
        "rsa_1024": _rsa_jwk(1024),
        "p384": {"kty": "EC", "crv": "P-384", "x": b64u(p384.x.to_bytes(48, "big")),
                 "y": b64u(p384.y.to_bytes(48, "big"))},
        "ec_off_curve": dict(ec_key.jwk, y=ec_key.x),
        "ec_missing_y": {"kty": "EC", "crv": "P-256", "x": ec_key.x},
        "unknown_kty": {"kty": "XYZ", "x": ec_key.x},
        "empty_object": {},
        "string": json.dumps(ec_key.jwk),
        "array": [ec_key.jwk],
        "missing": None,
    }


BAD_JWKS = _bad_jwks()


@pytest.mark.parametrize("which", sorted(BAD_JWKS))
def test_rotate_dpop_key_refuses_bad_keys(shark, which):
    app = make_app(shark)
    k1 = EcKey()
    agent = make_agent(shark, app["id"], dpop_jkt=k1.jkt)
    live = token_ok(shark, agent["id"], agent["client_secret"], key=k1)["access_token"]
    body = {"reason": "attempt"}
    if BAD_JWKS[which] is not None:
        body["new_public_key_jwk"] = BAD_JWKS[which]
    r = api(shark, "POST", "/api/v1/agents/%s/rotate-dpop-key" % agent["id"], body)
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")
    if which in ("ec_private", "rsa_private", "oct"):
        assert "private" in r.json()["error"]["message"] or \
            "symmetric" in r.json()["error"]["message"]
    # Nothing changed: binding, live token, no audit event.
    assert api(shark, "GET", "/api/v1/agents/" + agent["id"]).json()["dpop_jkt"] == k1.jkt
    assert introspect(shark, live)["active"] is True
    token_ok(shark, agent["id"], agent["client_secret"], key=k1)
    assert events_named(audit(shark, target_id=agent["id"]), "agent.dpop_key_rotated") == []


def test_rotate_dpop_key_reason_must_be_string(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    r = api(shark, "POST", "/api/v1/agents/%s/rotate-dpop-key" % agent["id"],
            {"new_public_key_jwk": EcKey().jwk, "reason": 42})
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")
    assert api(shark, "GET", "/api/v1/agents/" + agent["id"]).json()["dpop_jkt"] is None


# -- audit trail ---------------------------------------------------------------------------------

def test_agent_created_audit_event(shark):
    app = make_app(shark, scopes=["mcp:read", "mcp:write"])
    uid = make_user(shark)
    agent = make_agent(shark, app["id"], scopes=["mcp:read", "mcp:write"], created_by=uid)
    by_target = events_named(audit(shark, target_id=agent["id"]), "agent.created")
    assert len(by_target) == 1
    ev = by_target[0]
    assert ev["actor_id"] == app["id"]
    assert ev["actor_type"] == "app"
    assert ev["target_id"] == agent["id"]
    assert ev["metadata"] == {"name": agent["name"], "scopes": ["mcp:read", "mcp:write"],
                              "created_by": uid}
    assert ev["request_id"] and ev["created_at"]
    assert agent["client_secret"] not in json.dumps(ev)
    by_actor = events_named(audit(shark, actor_id=app["id"]), "agent.created")
    assert [e["id"] for e in by_actor] == [ev["id"]]
    # Filtering by event name gives the same row.
    only = audit(shark, target_id=agent["id"], event="agent.created")
    assert [e["id"] for e in only] == [ev["id"]]


def test_agent_lifecycle_audit_trail(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    key = EcKey()
    aid = agent["id"]
    token_ok(shark, aid, agent["client_secret"])
    assert api(shark, "PATCH", "/api/v1/agents/" + aid, {"name": "renamed"}).status_code == 200
    assert api(shark, "POST", "/api/v1/agents/%s/tokens/revoke-all" % aid).status_code == 200
    assert api(shark, "POST", "/api/v1/agents/%s/rotate-secret" % aid).status_code == 200
    assert api(shark, "POST", "/api/v1/agents/%s/rotate-dpop-key" % aid,
               {"new_public_key_jwk": key.jwk, "reason": "r"}).status_code == 200
    assert api(shark, "DELETE", "/api/v1/agents/" + aid).status_code == 204
    names = [e["event"] for e in audit(shark, target_id=aid)]
    names.reverse()  # oldest first
    assert names == ["agent.created", "agent.updated", "agent.tokens_revoked_all",
                     "agent.secret_rotated", "agent.dpop_key_rotated", "agent.deleted"], names
    # The agent itself is the actor of its token issuance.
    issued = events_named(audit(shark, actor_id=aid), "oauth.token_issued")
    assert len(issued) == 1 and issued[0]["actor_type"] == "agent"


# -- the customer journey (customer-agents.txt) --------------------------------------------

def test_customer_journey_end_to_end(shark):
    # 1. The developer creates the app.
    app = make_app(shark, scopes=["mcp:read", "mcp:write"])
    # 2. Signup: register the customer's agent; the secret is shown once.
    r = api(shark, "POST", "/api/v1/agents",
            {"app_id": app["id"], "name": "agent-alice", "scopes": ["mcp:read", "mcp:write"],
             "description": "Agent for customer cust_42"})
    assert r.status_code == 201, r.text
    agent = r.json()
    client_id, client_secret = agent["client_id"], agent["client_secret"]
    assert client_id.startswith("shark_agent_")
    # 3. Runtime: the agent makes a key pair and gets a DPoP-bound token.
    prover = EcKey()
    tok = token_ok(shark, client_id, client_secret, key=prover, scope="mcp:read mcp:write")
    assert tok["token_type"] == "DPoP"
    assert tok["scope"] == "mcp:read mcp:write"
    assert tok["expires_in"] > 0
    claims = unverified_claims(tok["access_token"])
    assert claims["cnf"]["jkt"] == prover.jkt
    assert claims["client_id"] == client_id
    info = introspect(shark, tok["access_token"])
    assert info["active"] is True
    assert info["cnf"]["jkt"] == prover.jkt
    assert info["client_id"] == client_id
    # The token is signed by a key from the JWKS.
    jwks = shark.get("/.well-known/jwks.json").json()
    header = json.loads(base64.urlsafe_b64decode(tok["access_token"].split(".")[0] + "=="))
    assert header["kid"] in [k["kid"] for k in jwks["keys"]]
    # The admin sees the token.
    tl = api(shark, "GET", "/api/v1/agents/%s/tokens" % client_id, params={"total": "true"}).json()
    assert tl["total"] == 1 and tl["data"][0]["jkt"] == prover.jkt
    # 4. Trouble: revoke every token the agent holds; effective at once.
    r = api(shark, "POST", "/api/v1/agents/%s/tokens/revoke-all" % client_id)
    assert r.status_code == 200
    assert r.json() == {"revoked_count": 1, "agent_id": client_id}
    assert introspect(shark, tok["access_token"]) == {"active": False}
    # The audit log tells the story.
    created = events_named(audit(shark, actor_id=app["id"]), "agent.created")
    assert [e["target_id"] for e in created] == [client_id]
    issued = events_named(audit(shark, actor_id=client_id), "oauth.token_issued")
    assert len(issued) == 1
    assert issued[0]["metadata"]["jkt"] == prover.jkt
    assert issued[0]["metadata"]["scope"] == "mcp:read mcp:write"
    revoked = events_named(audit(shark, target_id=client_id), "agent.tokens_revoked_all")
    assert len(revoked) == 1 and revoked[0]["metadata"]["revoked_count"] == 1


# -- concurrency -----------------------------------------------------------------------------

def _parallel(fn, n):
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, range(n)))


def test_concurrent_creates_with_one_client_id(shark):
    app = make_app(shark)
    cid = "shark_agent_race-" + uuid.uuid4().hex[:8]
    results = _parallel(lambda i: api(shark, "POST", "/api/v1/agents",
                                      {"app_id": app["id"], "name": "racer-%d" % i,
                                       "scopes": [], "client_id": cid}), 12)
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [409] * 11, [(r.status_code, r.text[:120]) for r in results]
    winner = [r.json() for r in results if r.status_code == 201][0]
    for r in results:
        if r.status_code == 409:
            assert_api_error(r.json(), "conflict")
    token_ok(shark, cid, winner["client_secret"])
    assert len(events_named(audit(shark, target_id=cid), "agent.created")) == 1


def test_concurrent_secret_rotations_leave_exactly_one_secret(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    path = "/api/v1/agents/%s/rotate-secret" % agent["id"]
    results = _parallel(lambda i: api(shark, "POST", path), 8)
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    secrets = [r.json()["client_secret"] for r in results] + [agent["client_secret"]]
    working = [s for s in secrets if get_token(shark, agent["id"], s).status_code == 200]
    assert len(working) == 1, len(working)
    assert len(events_named(audit(shark, target_id=agent["id"]), "agent.secret_rotated")) == 8


def test_revoke_all_after_parallel_issuance(shark):
    """Ten tokens issued in parallel are all counted and all killed."""
    app = make_app(shark)
    agent = make_agent(shark, app["id"])

    def issue(_):
        r = get_token(shark, agent["id"], agent["client_secret"])
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    before = _parallel(issue, 10)
    r = api(shark, "POST", "/api/v1/agents/%s/tokens/revoke-all" % agent["id"])
    assert r.status_code == 200 and r.json()["revoked_count"] == 10
    assert not any(introspect(shark, t)["active"] for t in before)
    listed = api(shark, "GET", "/api/v1/agents/%s/tokens" % agent["id"], params={"total": "true"}).json()
    assert listed["total"] == 0


def test_agent_create_racing_app_cascade_delete(shark):
    """An app deleted with ?cascade=true while agents are being created for it:
    each create either lands (and is then disabled by the cascade) or finds no
    app (404); the delete either succeeds or reports a conflict (409). Never a
    400 for a well-formed request, and never an active agent without its app."""
    from concurrent.futures import ThreadPoolExecutor
    bad = []
    for rnd in range(25):
        app = make_app(shark)

        def create(i):
            return api(shark, "POST", "/api/v1/agents",
                       {"app_id": app["id"], "name": "racer-%d" % i, "scopes": []})

        with ThreadPoolExecutor(max_workers=9) as pool:
            creates = [pool.submit(create, i) for i in range(4)]
            delete = pool.submit(lambda: api(shark, "DELETE",
                                             "/api/v1/apps/%s?cascade=true" % app["id"]))
            creates += [pool.submit(create, i) for i in range(4, 8)]
            creates = [f.result() for f in creates]
            delete = delete.result()
        # Two outcomes are right for each request, depending on which lands first.
        for r in creates:
            if r.status_code == 404:
                assert_api_error(r.json(), "not_found")
            elif r.status_code != 201:
                bad.append(("create", r.status_code, r.text))
        if delete.status_code == 409:
            assert_api_error(delete.json(), "conflict")
        elif delete.status_code != 204:
            bad.append(("delete", delete.status_code, delete.text))
        if delete.status_code != 204:
            r = api(shark, "DELETE", "/api/v1/apps/%s?cascade=true" % app["id"])
            assert r.status_code == 204, r.text
        for r in creates:
            if r.status_code == 201:
                got = api(shark, "GET", "/api/v1/agents/" + r.json()["id"]).json()
                assert got["status"] == "disabled", got
    active_orphans = shark.psql("SELECT count(*) FROM oauth_clients WHERE kind = 'agent' "
                                "AND status = 'active' AND app_id IS NULL").strip()
    assert active_orphans == "0"
    assert bad == [], bad[:6]


def test_agent_orphaned_by_cascade_cannot_get_unbounded_scopes(shark):
    """After DELETE /apps/{id}?cascade=true its agents belong to no app. Their
    scopes must not then grow past what the app allowed: nothing bounds them."""
    app = make_app(shark, scopes=["mcp:read", "mcp:write"])
    agent = make_agent(shark, app["id"], scopes=["mcp:read", "mcp:write"])
    path = "/api/v1/agents/" + agent["id"]
    assert api(shark, "DELETE", "/api/v1/apps/%s?cascade=true" % app["id"]).status_code == 204
    for body in ({"scopes": ["mcp:read", "root:all"]},
                 {"status": "active", "scopes": ["mcp:read", "root:all"]}):
        r = api(shark, "PATCH", path, body)
        assert r.status_code == 400, (body, r.text)
        assert_api_error(r.json(), "invalid_request")
        got = api(shark, "GET", path, params={"total": "true"}).json()
        assert got["status"] == "disabled" and got["scopes"] == ["mcp:read", "mcp:write"], got
    t = get_token(shark, agent["id"], agent["client_secret"], scope="root:all")
    # disabled by the cascade: no token of any scope
    assert t.status_code == 401, t.text
    assert_oauth_error(t.json(), "invalid_client")
    # Narrowing is still allowed.
    r = api(shark, "PATCH", path, {"scopes": ["mcp:read"]})
    assert r.status_code == 200, r.text
    assert r.json()["scopes"] == ["mcp:read"] and r.json()["app_id"] is None
