"""/api/v1/users: CRUD, validation, pagination, a user's agents and consents."""
import uuid

import pytest
import requests

import flows
from conftest import assert_api_error, assert_oauth_error


def api(s, method, path, **kw):
    return s.request(method, path, admin=True, **kw)


def new_user(s, email=None, name=None):
    body = {"email": email or "u-%s@example.com" % uuid.uuid4().hex[:10]}
    if name is not None:
        body["name"] = name
    r = api(s, "POST", "/api/v1/users", json=body)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def app_id(shark):
    r = api(shark, "POST", "/api/v1/apps", json={"name": "users-test", "scopes": ["mcp:read"]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def new_agent(s, app_id, created_by=None, name="agent"):
    body = {"app_id": app_id, "name": name, "scopes": ["mcp:read"]}
    if created_by:
        body["created_by"] = created_by
    r = api(s, "POST", "/api/v1/agents", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def add_agent_consent(s, user_id, client_id):
    """A consent to an agent. SQL because no route makes one: agents are limited to
    client_credentials and token exchange, so no person can be sent through the
    consent page for them; /users/{id}/agents?filter=authorized still reads them."""
    cid = "cns_" + uuid.uuid4().hex
    s.psql("INSERT INTO consents (id, user_id, client_id, scopes) VALUES ('%s', '%s', '%s', "
           "'{mcp:read}')" % (cid, user_id, client_id))
    return cid


# -- auth ----------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("POST", "/api/v1/users"), ("GET", "/api/v1/users"), ("GET", "/api/v1/users/usr_x"),
    ("PATCH", "/api/v1/users/usr_x"), ("DELETE", "/api/v1/users/usr_x"),
    ("GET", "/api/v1/users/usr_x/agents"), ("GET", "/api/v1/users/usr_x/consents"),
    ("DELETE", "/api/v1/users/usr_x/consents/cns_x"),
    ("POST", "/api/v1/users/usr_x/revoke-agents"),
])
def test_requires_admin_key(shark, method, path):
    r = shark.request(method, path, json={"email": "a@b.c"})
    assert r.status_code == 401
    assert_api_error(r.json(), "unauthorized")
    r = shark.request(method, path, json={"email": "a@b.c"},
                      headers={"Authorization": "Bearer sk_live_" + "A" * 43})
    assert r.status_code == 401


# -- create ----------------------------------------------------------------------

def test_create_shape_and_audit(shark):
    u = new_user(shark, email="Shape-%s@Example.com" % uuid.uuid4().hex[:6], name="Shape")
    assert u["id"].startswith("usr_")
    assert set(u) == {"id", "email", "name", "email_verified", "created_at", "updated_at"}
    assert u["name"] == "Shape" and u["email_verified"] is False
    assert u["email"].startswith("Shape-")
    r = api(shark, "GET", "/api/v1/audit-logs", params={"target_id": u["id"]})
    events = [e["event"] for e in r.json()["data"]]
    assert events == ["user.created"]


def test_create_defaults_name(shark):
    assert new_user(shark)["name"] == ""


def test_duplicate_email_case_insensitive(shark):
    e = "dup-%s@example.com" % uuid.uuid4().hex[:6]
    new_user(shark, email=e)
    r = api(shark, "POST", "/api/v1/users", json={"email": e.upper()})
    assert r.status_code == 409
    assert_api_error(r.json(), "conflict")
    r = api(shark, "GET", "/api/v1/users", params={"email": e, "total": "true"})
    assert r.json()["total"] == 1


@pytest.mark.parametrize("body", [
    {}, {"name": "x"}, {"email": ""}, {"email": "no-at-sign"}, {"email": 42},
    {"email": ["a@b.c"]}, {"email": None}, {"email": "a" * 250 + "@b.co"},
    {"email": "a@b.c", "name": 7}, {"email": "a@b.c", "name": "n" * 201},
    {"email": "a@b.c", "email_verified": "yes"}, {"email": "a@b.c", "emial": "x"},
    {"email": "tab\t@b.c"},
])
def test_create_rejects(shark, body):
    before = api(shark, "GET", "/api/v1/users", params={"total": "true"}).json()["total"]
    r = api(shark, "POST", "/api/v1/users", json=body)
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")
    assert api(shark, "GET", "/api/v1/users", params={"total": "true"}).json()["total"] == before


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'"a@b.c"', b"null", b'{"email":"a@b.c",}',
                                 b'{"email":"a@b.c","email":"c@d.e"}'])
def test_create_rejects_malformed_json(shark, raw):
    r = api(shark, "POST", "/api/v1/users", data=raw,
            headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert_api_error(r.json(), "invalid_request")


def test_email_at_limit(shark):
    e = "x" * (254 - len("@example.com")) + "@example.com"
    assert len(e) == 254
    assert new_user(shark, email=e)["email"] == e


def test_sql_metacharacters_stored_verbatim(shark):
    tricky = "o'brien%_\\\"; DROP TABLE users; --@example.com"
    name = "Robert'); DELETE FROM users;-- %_\\"
    u = new_user(shark, email=tricky, name=name)
    assert u["email"] == tricky and u["name"] == name
    got = api(shark, "GET", "/api/v1/users/" + u["id"]).json()
    assert got["email"] == tricky and got["name"] == name
    # The filter is a plain substring: % and _ match only themselves.
    r = api(shark, "GET", "/api/v1/users", params={"email": "%_\\"}).json()
    assert [x["id"] for x in r["data"]] == [u["id"]]
    assert api(shark, "GET", "/api/v1/users", params={"email": "%", "total": "true"}).json()["total"] == 1
    assert shark.psql("SELECT count(*) FROM users WHERE id = '%s'" % u["id"]).strip() == "1"


def test_unicode_round_trip(shark):
    u = new_user(shark, email="zoë-%s@exämple.com" % uuid.uuid4().hex[:4], name="Zoë 🦈")
    assert api(shark, "GET", "/api/v1/users/" + u["id"]).json()["name"] == "Zoë 🦈"


# -- list ----------------------------------------------------------------------

def test_list_filter_and_pagination(shark):
    tag = uuid.uuid4().hex[:8]
    made = [new_user(shark, email="page-%s-%02d@example.com" % (tag, i)) for i in range(7)]
    r = api(shark, "GET", "/api/v1/users",
            params={"email": "PAGE-" + tag.upper(), "total": "true"}).json()
    assert r["total"] == 7 and r["limit"] == 100 and r["next_cursor"] is None
    # newest first
    assert [u["id"] for u in r["data"]] == [u["id"] for u in reversed(made)]
    seen = []
    for off in range(0, 7, 3):
        p = api(shark, "GET", "/api/v1/users",
                params={"email": "page-" + tag, "limit": 3, "offset": off}).json()
        assert "total" not in p and p["limit"] == 3
        seen += [u["id"] for u in p["data"]]
    assert seen == [u["id"] for u in reversed(made)]
    exact = api(shark, "GET", "/api/v1/users",
                params={"email": "page-%s-03@example.com" % tag}).json()
    assert [u["id"] for u in exact["data"]] == [made[3]["id"]]
    none = api(shark, "GET", "/api/v1/users", params={"email": "nobody-" + tag}).json()
    assert none == {"data": [], "limit": 100, "next_cursor": None}


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"limit": "x"},
                                    {"offset": -1}, {"offset": "1.5"}, {"limit": ""}])
def test_list_bad_paging(shark, params):
    r = api(shark, "GET", "/api/v1/users", params=params)
    assert r.status_code == 400
    assert_api_error(r.json(), "invalid_request")


# -- get / patch / delete ----------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("uid", ["usr_doesnotexist", "usr_%27%3B--", "x"])
def test_unknown_user_404(shark, method, uid):
    r = api(shark, method, "/api/v1/users/" + uid, json={"name": "n"})
    assert r.status_code == 404
    assert_api_error(r.json(), "not_found")


def test_patch(shark):
    u = new_user(shark, name="before")
    r = api(shark, "PATCH", "/api/v1/users/" + u["id"], json={"name": "after"})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["name"] == "after" and p["email"] == u["email"]
    assert p["updated_at"] >= u["updated_at"] and p["created_at"] == u["created_at"]
    r = api(shark, "PATCH", "/api/v1/users/" + u["id"], json={"email_verified": True})
    assert r.json()["email_verified"] is True
    # a new address is unverified again
    e = "moved-%s@example.com" % uuid.uuid4().hex[:6]
    p = api(shark, "PATCH", "/api/v1/users/" + u["id"], json={"email": e}).json()
    assert p["email"] == e and p["email_verified"] is False and p["name"] == "after"
    events = [x["event"] for x in api(shark, "GET", "/api/v1/audit-logs",
                                      params={"target_id": u["id"]}).json()["data"]]
    assert events.count("user.updated") == 3


def test_patch_conflict_and_bad_input(shark):
    a, b = new_user(shark), new_user(shark)
    r = api(shark, "PATCH", "/api/v1/users/" + b["id"], json={"email": a["email"].upper()})
    assert r.status_code == 409
    assert_api_error(r.json(), "conflict")
    for body in ({}, {"email": "nope"}, {"name": 1}, {"name": None}, {"other": 1},
                 {"email_verified": 1}):
        r = api(shark, "PATCH", "/api/v1/users/" + b["id"], json=body)
        assert r.status_code == 400, (body, r.text)
        assert_api_error(r.json(), "invalid_request")
    r = api(shark, "PATCH", "/api/v1/users/" + b["id"], data=b"[1]",
            headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = api(shark, "PATCH", "/api/v1/users/" + b["id"], data=b'{"name":"x"}')
    assert r.status_code == 415  # JSON only as application/json
    assert_api_error(r.json(), "unsupported_media_type")
    assert api(shark, "GET", "/api/v1/users/" + b["id"]).json() == b


def test_delete_keeps_agents(shark, app_id):
    grant = flows.code_flow(shark, scope="mcp:read")
    u = {"id": grant.person.id}
    ag = new_agent(shark, app_id, created_by=u["id"])
    assert flows.active(shark, grant.access_token) is True
    r = api(shark, "DELETE", "/api/v1/users/" + u["id"])
    assert r.status_code == 204 and r.content == b""
    assert api(shark, "GET", "/api/v1/users/" + u["id"]).status_code == 404
    assert api(shark, "DELETE", "/api/v1/users/" + u["id"]).status_code == 404
    got = api(shark, "GET", "/api/v1/agents/" + ag["id"]).json()
    assert got["created_by"] is None and got["status"] == "active"
    assert shark.psql("SELECT count(*) FROM consents WHERE user_id = '%s'" % u["id"]).strip() == "0"
    # what the app holds for the person dies with them
    assert flows.active(shark, grant.access_token) is False
    assert api(shark, "GET", "/api/v1/users/%s/consents" % u["id"]).status_code == 404
    events = api(shark, "GET", "/api/v1/audit-logs", params={"event": "user.deleted",
                                                             "target_id": u["id"]}).json()["data"]
    assert len(events) == 1


# -- agents of a user ----------------------------------------------------------

def test_user_agents_filters(shark, app_id):
    u, other = new_user(shark), new_user(shark)
    mine = [new_agent(shark, app_id, created_by=u["id"], name="mine%d" % i) for i in range(3)]
    theirs = new_agent(shark, app_id, created_by=other["id"], name="theirs")
    both = mine[0]
    theirs_consent = add_agent_consent(shark, u["id"], theirs["client_id"])
    add_agent_consent(shark, u["id"], both["client_id"])
    unrelated = new_agent(shark, app_id, created_by=other["id"])

    def ids(flt=None, **params):
        if flt:
            params["filter"] = flt
        r = api(shark, "GET", "/api/v1/users/%s/agents" % u["id"], params=dict(params, total="true"))
        assert r.status_code == 200, r.text
        return r.json()

    created = ids("created")
    assert created["filter"] == "created" and created["total"] == 3
    assert sorted(a["id"] for a in created["data"]) == sorted(a["id"] for a in mine)
    auth = ids("authorized")
    assert sorted(a["id"] for a in auth["data"]) == sorted([theirs["id"], both["id"]])
    everything = ids()
    assert everything["filter"] == "all" and everything["total"] == 4
    got = [a["id"] for a in everything["data"]]
    assert len(got) == len(set(got)) == 4 and unrelated["id"] not in got
    a = [x for x in everything["data"] if x["id"] == theirs["id"]][0]
    for k in ("id", "client_id", "app_id", "name", "description", "scopes", "status",
              "created_by", "dpop_jkt", "created_at", "updated_at"):
        assert k in a, k
    assert a["client_id"] == a["id"] and a["scopes"] == ["mcp:read"]
    assert a["created_by"] == other["id"]
    page = ids("all", limit=2, offset=3)
    assert page["total"] == 4 and len(page["data"]) == 1
    # a revoked consent no longer authorizes
    r = api(shark, "DELETE", "/api/v1/users/%s/consents/%s" % (u["id"], theirs_consent))
    assert r.status_code == 204, r.text
    assert [x["id"] for x in ids("authorized")["data"]] == [both["id"]]


def test_user_agents_bad_input(shark):
    u = new_user(shark)
    for flt in ("mine", "", "ALL", "created'--"):
        r = api(shark, "GET", "/api/v1/users/%s/agents" % u["id"], params={"filter": flt})
        assert r.status_code == 400, flt
        assert_api_error(r.json(), "invalid_request")
    r = api(shark, "GET", "/api/v1/users/usr_nope/agents")
    assert r.status_code == 404
    r = api(shark, "GET", "/api/v1/users/%s/agents" % u["id"], params={"limit": 0})
    assert r.status_code == 400


# -- consents --------------------------------------------------------------------

def test_consents_list_and_revoke(shark, app_id):
    # u consents to apps A and B, other to A, each through the hosted pages
    pu, po = flows.sign_up(shark), flows.sign_up(shark)
    u, other = {"id": pu.id}, {"id": po.id}
    ca = flows.register_client(shark, scope="mcp:read")
    cb = flows.register_client(shark, scope="mcp:read")
    ag = {"client_id": ca.client_id}
    g1 = flows.code_flow(shark, person=pu, client=ca, scope="mcp:read")
    g2 = flows.code_flow(shark, person=pu, client=cb, scope="mcp:read")
    go = flows.code_flow(shark, person=po, client=ca, scope="mcp:read")
    c1, c2, oc = g1.consent_id, g2.consent_id, go.consent_id
    r = api(shark, "GET", "/api/v1/users/%s/consents" % u["id"], params={"total": "true"})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 2
    assert sorted(c["id"] for c in body["data"]) == sorted([c1, c2])
    c = [x for x in body["data"] if x["id"] == c1][0]
    assert c == {"id": c1, "user_id": u["id"], "client_id": ag["client_id"],
                 "scopes": ["mcp:read"], "created_at": c["created_at"]}

    # not this user's consent / unknown ids
    for path in ("/api/v1/users/%s/consents/%s" % (u["id"], oc),
                 "/api/v1/users/%s/consents/cns_nope" % u["id"],
                 "/api/v1/users/usr_nope/consents/%s" % c1):
        r = api(shark, "DELETE", path)
        assert r.status_code == 404, (path, r.text)
        assert_api_error(r.json(), "not_found")
    r = api(shark, "GET", "/api/v1/users/usr_nope/consents")
    assert r.status_code == 404
    assert_api_error(r.json(), "not_found")
    assert all(flows.active(shark, g.access_token) for g in (g1, g2, go))

    r = api(shark, "DELETE", "/api/v1/users/%s/consents/%s" % (u["id"], c1))
    assert r.status_code == 204
    assert api(shark, "DELETE", "/api/v1/users/%s/consents/%s" % (u["id"], c1)).status_code == 404
    left = api(shark, "GET", "/api/v1/users/%s/consents" % u["id"],
               params={"total": "true"}).json()
    assert [x["id"] for x in left["data"]] == [c2] and left["total"] == 1
    assert shark.psql("SELECT revoked_at IS NOT NULL FROM consents WHERE id = '%s'"
                      % c1).strip() == "t"
    # only the token app A holds for u: not B's for u, not A's for other
    assert [flows.active(shark, g.access_token) for g in (g1, g2, go)] == [False, True, True]
    ev = api(shark, "GET", "/api/v1/audit-logs",
             params={"event": "user.consent_revoked", "target_id": c1}).json()["data"]
    assert len(ev) == 1 and ev[0]["metadata"]["revoked_token_count"] == 1
    assert ev[0]["metadata"]["user_id"] == u["id"]


def test_session_user_agent_that_is_not_utf8_is_stored_printable(shark):
    """Header bytes need not be UTF-8 (the database is): the stored User-Agent
    keeps printable ASCII, anything else becomes '?', at most 200 bytes."""
    sess = requests.Session()
    ua = b"Agent/1.0 \xff\xfe caf\xc3\xa9 " + b"x" * 300
    r = sess.post(shark.url("/api/v1/auth/signup"), headers={"User-Agent": ua}, timeout=15,
                  json={"email": "ua-%s@example.test" % uuid.uuid4().hex[:12],
                        "password": "Users-Test-Password-1"})
    assert r.status_code == 201, r.text
    r = sess.get(shark.url("/api/v1/auth/sessions"), timeout=15)
    assert r.status_code == 200, r.text
    stored = r.json()["data"][0]["user_agent"]
    assert stored == ("Agent/1.0 ?? caf?? " + "x" * 300)[:200]


@pytest.mark.parametrize("how", ["consent_revoked", "user_deleted"])
def test_grant_end_kills_the_refresh_token(shark, how):
    g = flows.code_flow(shark, scope="mcp:read")
    if how == "consent_revoked":
        path = "/api/v1/users/%s/consents/%s" % (g.person.id, g.consent_id)
    else:
        path = "/api/v1/users/" + g.person.id
    r = api(shark, "DELETE", path)
    assert r.status_code == 204, r.text
    r = flows.refresh(shark, g.client, g.refresh_token)
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_grant")
