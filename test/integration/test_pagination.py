"""The listing contract (issue 18 item 5) on every list route of /api/v1/:
limit 1..1000 (default 100), an opaque keyset cursor (next_cursor, null on
the last page), legacy offset (not with a cursor), total only with
total=true. Pages are newest first by (created_at, id) (the revocation feed,
a feed, oldest first), so walking them returns every row once, in order,
even while rows are inserted between page fetches. The audit log pages by
its own cursor and has neither offset nor total."""
import base64
import json
import secrets
import uuid

import pytest
import requests

import flows
from conftest import Shark, assert_api_error

T = 15
ARGS = ["--webhook-allowed-hosts", "127.0.0.1", "--threads", "2"]
ROWS = 5  # rows each route's own set starts with


@pytest.fixture(scope="module")
def srv():
    s = Shark(extra=ARGS)
    s.start()
    yield s
    s.cleanup()


def api(s, method, path, body=None, **kw):
    return s.request(method, path, admin=True, json=body, **kw)


def created(r):
    assert r.status_code == 201, r.text
    return r.json()


def uniq(p):
    return "%s-%s" % (p, uuid.uuid4().hex[:10])


class Route:
    """A list route, the rows of it this module controls, and how to add one."""

    def __init__(self, w, name, path, make, key="id", params=None, oldest_first=False,
                 browser=None):
        self.w, self.name, self.path, self.make, self.key = w, name, path, make, key
        self.params, self.oldest_first, self.browser = params or {}, oldest_first, browser

    def get(self, s, **params):
        q = dict(self.params, **params)
        if self.browser is not None:
            return self.browser.get(s.url(self.path), params=q, timeout=T)
        return api(s, "GET", self.path, params=q)


class World:
    def __init__(self, s):
        self.s = s
        self.app = created(api(s, "POST", "/api/v1/apps", {"name": uniq("pg"), "scopes": []}))
        self.agent = self.new_agent()
        self.person = flows.sign_up(s)
        self.user = created(api(s, "POST", "/api/v1/users", {"email": uniq("pg") + "@ex.test"}))
        self.tag = uniq("pgu")
        self.hook = created(api(s, "POST", "/api/v1/admin/webhooks", {
            "url": "http://127.0.0.1:9/hooks", "events": ["webhook.test"]}))
        self.since = s.psql("SELECT to_char(now() AT TIME ZONE 'UTC', "
                            "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')").strip()

    def new_agent(self, **extra):
        return created(api(self.s, "POST", "/api/v1/agents",
                           dict({"app_id": self.app["id"], "name": uniq("pg"), "scopes": []},
                                **extra)))

    def token(self):
        a = self.agent
        r = requests.post(self.s.url("/oauth/token"), data={"grant_type": "client_credentials"},
                          auth=(a["client_id"], a["client_secret"]), timeout=T)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def jti(self, token):
        body = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["jti"]


def _routes(w):
    s = w.s

    def app():
        return created(api(s, "POST", "/api/v1/apps", {"name": uniq("pg"), "scopes": []}))["id"]

    def agent():
        return w.new_agent()["id"]

    def token():
        return w.jti(w.token())

    def user():
        return created(api(s, "POST", "/api/v1/users",
                           {"email": "%s-%s@ex.test" % (w.tag, uuid.uuid4().hex[:8])}))["id"]

    def user_agent():
        return w.new_agent(created_by=w.user["id"])["id"]

    def consent():
        # one live consent per (user, client): a client of its own each time
        cid = w.new_agent()["client_id"]
        i = "cns_" + uuid.uuid4().hex
        s.psql("INSERT INTO consents (id, user_id, client_id, scopes) VALUES "
               "('%s', '%s', '%s', '{}')" % (i, w.user["id"], cid))
        return i

    def hook():
        return created(api(s, "POST", "/api/v1/admin/webhooks", {
            "url": "http://127.0.0.1:9/" + uniq("h"), "events": ["app.created"]}))["id"]

    def delivery():
        r = api(s, "POST", "/api/v1/admin/webhooks/%s/test" % w.hook["id"])
        assert r.status_code in (200, 202), r.text
        return r.json()["id"]

    def dcr():
        return created(api(s, "POST", "/api/v1/admin/dcr/initial-access-tokens",
                           {"description": uniq("pg")}))["id"]

    def provider():
        slug = "pg_" + uuid.uuid4().hex[:10]
        return created(api(s, "POST", "/api/v1/vault/providers", {
            "id": slug, "name": slug, "authorize_url": "https://p.example/authorize",
            "token_url": "https://p.example/token"}))["id"]

    def connection():
        u = created(api(s, "POST", "/api/v1/users", {"email": uniq("pgc") + "@ex.test"}))
        return created(api(s, "POST", "/api/v1/vault/connections", {
            "user_id": u["id"], "provider_id": "google_gmail", "access_token": "at"}))["id"]

    def session():
        i = "ses_" + secrets.token_hex(10)
        s.psql("INSERT INTO sessions (id_hash, user_id, public_id, csrf_token, idle_expires_at, "
               "absolute_expires_at) VALUES ('%s', '%s', '%s', 'x', now() + interval '1 hour', "
               "now() + interval '1 hour')" % (secrets.token_hex(32), w.person.id, i))
        return i

    def audit_event():
        r = api(s, "PATCH", "/api/v1/apps/" + w.app["id"], {"description": uniq("pg")})
        assert r.status_code == 200, r.text
        got = api(s, "GET", "/api/v1/audit-logs", params={"target_id": w.app["id"], "limit": 1})
        return got.json()["data"][0]["id"]

    def revocation():
        t = w.token()
        a = w.agent
        r = requests.post(s.url("/oauth/revoke"), data={"token": t},
                          auth=(a["client_id"], a["client_secret"]), timeout=T)
        assert r.status_code == 200, r.text
        return w.jti(t)

    return [
        Route(w, "apps", "/api/v1/apps", app),
        Route(w, "agents", "/api/v1/agents", agent, params={"app_id": w.app["id"]}),
        Route(w, "agent_tokens", "/api/v1/agents/%s/tokens" % w.agent["id"], token, key="token_id"),
        Route(w, "users", "/api/v1/users", user, params={"email": w.tag}),
        Route(w, "user_agents", "/api/v1/users/%s/agents" % w.user["id"], user_agent),
        Route(w, "consents", "/api/v1/users/%s/consents" % w.user["id"], consent),
        Route(w, "webhooks", "/api/v1/admin/webhooks", hook),
        Route(w, "deliveries", "/api/v1/admin/webhooks/%s/deliveries" % w.hook["id"], delivery),
        Route(w, "dcr_tokens", "/api/v1/admin/dcr/initial-access-tokens", dcr),
        Route(w, "providers", "/api/v1/vault/providers", provider),
        Route(w, "connections", "/api/v1/vault/connections", connection,
              params={"provider_id": "google_gmail"}),
        Route(w, "sessions", "/api/v1/auth/sessions", session, browser=w.person.browser),
        Route(w, "revocations", "/api/v1/revocations", revocation, key="jti", oldest_first=True),
        Route(w, "audit", "/api/v1/audit-logs", audit_event, params={"target_id": w.app["id"]}),
    ]


NAMES = ["apps", "agents", "agent_tokens", "users", "user_agents", "consents", "webhooks",
         "deliveries", "dcr_tokens", "providers", "connections", "sessions", "revocations",
         "audit"]
# The audit log keeps its own cursor and has neither offset nor total.
CURSOR_ONLY = {"audit"}


@pytest.fixture(scope="module")
def routes(srv):
    w = World(srv)
    out = {}
    for r in _routes(w):
        for _ in range(ROWS):
            r.make()
        out[r.name] = r
    return out


@pytest.fixture(params=NAMES)
def route(request, routes):
    return routes[request.param]


@pytest.fixture(params=[n for n in NAMES if n not in CURSOR_ONLY])
def counted(request, routes):
    """A route with legacy offset and total=true."""
    return routes[request.param]


def first_params(route, w):
    """The first page's own parameters: the feed starts at the module's start."""
    return {"since": w.since} if route.oldest_first else {}


def walk(srv, route, w, limit, between=None):
    """Every page from the first to next_cursor null; `between` runs after each."""
    seen, params = [], dict(first_params(route, w), limit=limit)
    for _ in range(1000):
        r = route.get(srv, **params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["data"]) <= limit and page["limit"] == limit
        assert "total" not in page
        seen += [x[route.key] for x in page["data"]]
        if between:
            between()
        if page["next_cursor"] is None:
            return seen
        params = {"limit": limit, "cursor": page["next_cursor"]}
    raise AssertionError("more than 1000 pages")


def everything(srv, route, w):
    counted = route.name not in CURSOR_ONLY
    r = route.get(srv, limit=1000, **dict(first_params(route, w), **({"total": "true"} if counted else {})))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None, body
    assert not counted or body["total"] == len(body["data"]), body
    return [x[route.key] for x in body["data"]]


def refused(r, says=None):
    assert r.status_code == 400, r.text
    assert_api_error(r.json(), "invalid_request")
    if says:
        assert says in r.json()["error"]["message"], r.text


# -- the parameters -----------------------------------------------------------------------

@pytest.mark.parametrize("limit", [0, 1001, "x", "", "2.5", "-1", "1e3"])
def test_limit_out_of_bounds(srv, route, limit):
    refused(route.get(srv, limit=limit))


def test_limit_bounds_and_default(srv, route):
    assert route.get(srv, limit=1000).json()["limit"] == 1000
    one = route.get(srv, limit=1).json()
    assert one["limit"] == 1 and len(one["data"]) == 1 and one["next_cursor"]
    assert route.get(srv).json()["limit"] == 100


def _b64(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED = [
    "not a cursor", "%%%", "====", _b64(b"nospace"), _b64(b" app_x"), _b64(b"2026-01-01T00:00:00Z "),
    _b64(b"yesterday app_x"), _b64(b"2026-13-01T00:00:00.000000Z app_x"),
    _b64(b"2026-02-30T00:00:00.000000Z app_x"), _b64(b"2026-01-01T25:00:00.000000Z app_x"),
    _b64(b"2026-01-01 00:00:00.000000Z app_x"), _b64(b"\xff\xfe app_x"),
    _b64(b"2026-01-01T00:00:00.000000Z app_x app_y"), "A" * 600,
]
# SQL meta-characters in either half: refused before any statement sees them
SQLISH = [_b64(b"2026-01-01T00:00:00.000000Z x' OR '1'='1"),
          _b64(b"2026-01-01T00:00:00.000000Z x;DROP TABLE apps"),
          _b64(b"2026-01-01T00:00:00.000000Z x/*"),
          _b64(b"2026-01-01T00:00:00.000000Z x\\"),
          _b64(b"2026-01-01T00:00:00.000000Z x\x00y"),
          _b64(b"2026-01-01T00:00:00'::timestamptz x"),
          _b64(b"now() x"), _b64(b"2026-01-01T00:00:00.000000Z %"),
          _b64(b"2026-01-01T00:00:00.000000Z x)")]


@pytest.mark.parametrize("cursor", FORGED + SQLISH)
def test_cursor_not_ours(srv, route, cursor):
    refused(route.get(srv, cursor=cursor), "cursor is not one this server issued")


def test_sql_in_a_cursor_changes_nothing(srv, routes):
    r = routes["apps"]
    before = everything(srv, r, r.w)
    for c in SQLISH:
        refused(r.get(srv, cursor=c))
    assert everything(srv, r, r.w) == before
    assert srv.psql("SELECT count(*) FROM apps").strip() == str(len(before))


def test_cursor_with_offset(srv, counted):
    route = counted
    nxt = route.get(srv, limit=1, **first_params(route, route.w)).json()["next_cursor"]
    assert nxt
    refused(route.get(srv, cursor=nxt, offset=1), "not both")
    # offset 0 is no offset
    assert route.get(srv, cursor=nxt, offset=0).status_code == 200


@pytest.mark.parametrize("value", ["yes", "1", "TRUE", "", "null"])
def test_total_other_values(srv, counted, value):
    route = counted
    refused(route.get(srv, total=value))


def test_total_is_opt_in_and_exact(srv, counted):
    route = counted
    w = route.w
    plain = route.get(srv, limit=2, **first_params(route, w)).json()
    assert "total" not in plain
    assert "total" not in route.get(srv, limit=2, total="false", **first_params(route, w)).json()
    counted = route.get(srv, limit=2, total="true", **first_params(route, w)).json()
    n = len(everything(srv, route, w))
    assert counted["total"] == n >= ROWS and len(counted["data"]) == 2
    assert counted["data"] == plain["data"] and counted["next_cursor"] == plain["next_cursor"]


# -- walking the pages ---------------------------------------------------------------------

@pytest.mark.parametrize("limit", [1, 2, 3])
def test_walk_returns_every_row_once_in_order(srv, route, limit):
    w = route.w
    want = everything(srv, route, w)
    got = walk(srv, route, w, limit)
    assert got == want
    assert len(set(got)) == len(got)


def test_order_is_by_time_then_id(srv, route):
    w = route.w
    body = route.get(srv, limit=1000, **first_params(route, w)).json()["data"]
    if route.name in ("agent_tokens",):
        stamp = "expires_at"  # its own keyset: latest expiry first
    elif route.oldest_first:
        stamp = "revoked_at"
    else:
        stamp = "created_at"
    keys = [(x[stamp], x[route.key]) for x in body]
    assert keys == sorted(keys, reverse=not route.oldest_first)


def test_next_cursor_null_at_the_end(srv, route):
    w = route.w
    n = len(everything(srv, route, w))
    exact = route.get(srv, limit=n, **first_params(route, w)).json()
    assert len(exact["data"]) == n and exact["next_cursor"] is None
    short = route.get(srv, limit=n - 1, **first_params(route, w)).json()
    assert len(short["data"]) == n - 1 and short["next_cursor"]
    last = route.get(srv, limit=n, cursor=short["next_cursor"]).json()
    assert len(last["data"]) == 1 and last["next_cursor"] is None


def test_legacy_offset_still_pages(srv, counted):
    route = counted
    w = route.w
    want = everything(srv, route, w)
    got, off = [], 0
    while off < len(want):
        page = route.get(srv, limit=2, offset=off, **first_params(route, w)).json()
        got += [x[route.key] for x in page["data"]]
        off += 2
    assert got == want
    past = route.get(srv, offset=len(want) + 3, **first_params(route, w)).json()
    assert past["data"] == [] and past["next_cursor"] is None


def test_stable_under_inserts(srv, route):
    """Rows added between page fetches: none of them on a later page, nothing
    repeated, nothing skipped (the feed, oldest first, shows them after every
    row that was there, in order)."""
    w = route.w
    before = everything(srv, route, w)
    added = []
    got = walk(srv, route, w, 2, between=lambda: added.append(route.make()))
    assert len(got) == len(set(got))
    if route.oldest_first:
        assert got[:len(before)] == before
        assert got[len(before):] == added[:len(got) - len(before)]
    else:
        assert got == before
        assert not set(added) & set(got)
    # and every one of them is there now
    now = everything(srv, route, w)
    assert set(before) | set(added) == set(now)


# -- the answer ----------------------------------------------------------------------------

def test_answer_members(srv, route):
    w = route.w
    body = route.get(srv, limit=1, **first_params(route, w)).json()
    want = {"data", "limit", "next_cursor"}
    if route.name in ("providers", "connections"):
        want.add("items")
        assert body["items"] == body["data"]
    if route.name == "user_agents":
        want.add("filter")
    if route.name == "revocations":
        want |= {"next_since", "next_after_jti"}
        assert body["next_after_jti"] == body["data"][-1]["jti"]
    assert set(body) == want


def test_unknown_parent_is_404(srv):
    for path in ("/api/v1/agents/shark_agent_nope/tokens", "/api/v1/users/usr_nope/agents",
                 "/api/v1/users/usr_nope/consents", "/api/v1/admin/webhooks/whk_nope/deliveries"):
        r = api(srv, "GET", path, params={"limit": 1})
        assert r.status_code == 404, (path, r.text)
        assert_api_error(r.json(), "not_found")


def test_feed_cursor_not_with_since(srv, routes):
    r = routes["revocations"]
    w = r.w
    nxt = r.get(srv, limit=1, since=w.since).json()["next_cursor"]
    refused(r.get(srv, cursor=nxt, since=w.since), "not both")


def test_a_cursor_is_opaque_but_keeps_its_position_across_limits(srv, routes):
    r = routes["apps"]
    w = r.w
    want = everything(srv, r, w)
    c = r.get(srv, limit=2).json()["next_cursor"]
    assert [x["id"] for x in r.get(srv, limit=3, cursor=c).json()["data"]] == want[2:5]
