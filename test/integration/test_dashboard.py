"""The dashboard's server side (issue 17): the embedded app under /admin and
the API reference page at /api/docs (caching, CSP, SPA fallback, gzip), the
admin session that the key is exchanged for (cookie attributes, CSRF on every
mutation, sign-out, bad input), the delegation chain route and the audit CSV
export. A real server over HTTP throughout."""
import csv
import gzip
import hashlib
import io
import json
import re

import pytest
import requests

import flows
from conftest import Shark
from test_agents import make_app
from test_exchange_rules import Agent

SESSION = "/api/v1/admin/session"


@pytest.fixture(scope="module")
def app(shark):
    return make_app(shark, scopes=("mcp:read", "mcp:write"))["id"]


# ---- /admin and /api/docs ----

def test_admin_pages_are_the_app_with_a_strict_policy(shark):
    for path in ("/admin", "/admin/agents", "/admin/agents/shark_agent_x",
                 "/admin/tokens/tok_x/chain", "/admin/a/b/c/d"):
        r = requests.get(shark.url(path), timeout=15)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"].startswith("text/html")
        assert r.headers["Cache-Control"] == "no-cache"
        assert r.headers["X-Frame-Options"] == "DENY"
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert '<div id="root">' in r.text
        # No inline script: every script is a file under /admin/assets/.
        for tag in re.findall(r"<script[^>]*>", r.text):
            assert re.search(r'src="/admin/assets/[^"]+"', tag), tag
    assert requests.get(shark.url("/admin/a/b/c/d/e"), timeout=15).status_code == 404
    r = requests.post(shark.url("/admin"), timeout=15)
    assert r.status_code == 405


def test_hashed_assets_are_immutable_and_revalidate(shark):
    html = requests.get(shark.url("/admin"), timeout=15).text
    js = re.search(r'src="(/admin/assets/[^"]+\.js)"', html).group(1)
    plain = requests.get(shark.url(js), headers={"Accept-Encoding": "identity"}, timeout=15)
    assert plain.status_code == 200
    assert "immutable" in plain.headers["Cache-Control"]
    assert plain.headers["Content-Type"].startswith("text/javascript")
    assert plain.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Encoding" not in plain.headers
    etag = plain.headers["ETag"]
    r = requests.get(shark.url(js), headers={"If-None-Match": etag}, timeout=15)
    assert r.status_code == 304 and r.content == b""
    r = requests.get(shark.url(js), headers={"If-None-Match": '"other"'}, timeout=15)
    assert r.status_code == 200
    # gzip when asked for (and not refused with q=0); the bytes are the same file.
    raw = requests.get(shark.url(js), headers={"Accept-Encoding": "gzip"}, stream=True, timeout=15).raw
    assert raw.headers.get("Content-Encoding") == "gzip"
    assert gzip.decompress(raw.read(decode_content=False)) == plain.content
    refused = requests.get(shark.url(js), headers={"Accept-Encoding": "gzip;q=0"}, timeout=15)
    assert "Content-Encoding" not in refused.headers
    assert requests.head(shark.url(js), timeout=15).status_code == 200
    for bad in ("/admin/assets", "/admin/assets/nope.js", "/admin/assets/a/b/c",
                "/admin/assets/..%2Findex.html", "/admin/assets/x'%20OR%201=1"):
        r = requests.get(shark.url(bad), timeout=15)
        assert r.status_code == 404, bad
        assert r.json()["error"]["code"] == "not_found"


def test_api_docs_is_the_bundled_reference_with_inline_styles_only_there(shark):
    r = requests.get(shark.url("/api/docs"), timeout=15)
    assert r.status_code == 200
    csp = r.headers["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in csp
    assert "script-src 'self';" in csp and "unsafe-eval" not in csp
    assert "connect-src 'self'" in csp
    assert r.headers["X-Frame-Options"] == "DENY"
    assert 'id="api-reference"' in r.text
    assert re.search(r'src="/admin/assets/docs-[^"]+\.js"', r.text)
    assert "//" not in "".join(re.findall(r'(?:src|href)="([^"]+)"', r.text)), "nothing from elsewhere"


# ---- the admin session ----

def sign_in(shark, key=None, **kw):
    return requests.post(shark.url(SESSION), json={"admin_key": key or shark.admin_key},
                         timeout=15, **kw)


def session(shark):
    r = sign_in(shark)
    assert r.status_code == 201, r.text
    s = requests.Session()
    s.cookies.set("shark_admin", r.cookies["shark_admin"])
    return s, r.json()["csrf_token"], r


def test_sign_in_sets_a_short_lived_httponly_strict_cookie(shark):
    _, csrf, r = session(shark)
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("shark_admin=")
    for attr in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=7200"):
        assert attr in cookie, cookie
    value = r.cookies["shark_admin"]
    assert shark.admin_key not in cookie and len(value) >= 40
    body = r.json()
    assert set(body) == {"csrf_token", "expires_at"} and csrf != value
    # The audit log has the session, never its secret.
    ev = requests.get(shark.url("/api/v1/audit-logs"), params={"event": "admin.session_created"},
                      headers=shark.auth(), timeout=15).json()["data"]
    assert ev and ev[0]["target_id"].startswith("ads_")
    assert value not in str(ev) and csrf not in str(ev)


@pytest.mark.parametrize("body,ctype,status", [
    ('{"admin_key":"sk_live_wrong"}', "application/json", 401),
    ('{"admin_key":"not-a-key"}', "application/json", 401),
    ('{}', "application/json", 401),
    ('{"admin_key":42}', "application/json", 400),
    ('{"admin_key":"sk_live_' + "a" * 200 + '"}', "application/json", 400),
    ('{"admin_key":"sk_live_x\' OR \'1\'=\'1"}', "application/json", 401),
    ('not json', "application/json", 400),
    ('[]', "application/json", 400),
    ('admin_key=sk_live_x', "application/x-www-form-urlencoded", 415),
    ('', "application/json", 400),
])
def test_sign_in_refuses_bad_input(shark, body, ctype, status):
    r = requests.post(shark.url(SESSION), data=body, headers={"Content-Type": ctype}, timeout=15)
    assert r.status_code == status, r.text
    assert set(r.json()["error"]) == {"code", "message", "request_id"}
    assert "Set-Cookie" not in r.headers


def test_sign_in_refuses_another_origin_and_another_host(shark):
    r = sign_in(shark, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "Set-Cookie" not in r.headers
    r = sign_in(shark, headers={"Host": "evil.example"})
    assert r.status_code == 421 and "Set-Cookie" not in r.headers


def test_the_cookie_reads_but_every_mutation_needs_the_csrf_token(shark):
    s, csrf, _ = session(shark)
    assert s.get(shark.url("/api/v1/apps"), timeout=15).status_code == 200
    again = s.get(shark.url(SESSION), timeout=15)
    assert again.status_code == 200 and again.json()["csrf_token"] == csrf
    before = requests.get(shark.url("/api/v1/apps"), params={"limit": 1, "total": "true"}, headers=shark.auth(),
                          timeout=15).json()["total"]
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": csrf[:-1]}):
        r = s.post(shark.url("/api/v1/apps"), json={"name": "forged"}, headers=headers, timeout=15)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "forbidden"
    after = requests.get(shark.url("/api/v1/apps"), params={"limit": 1, "total": "true"}, headers=shark.auth(),
                         timeout=15).json()["total"]
    assert after == before, "a refused mutation changed nothing"
    r = s.post(shark.url("/api/v1/apps"), json={"name": "from-the-dashboard"},
               headers={"X-CSRF-Token": csrf}, timeout=15)
    assert r.status_code == 201, r.text
    # Another session's token does not fit this one.
    _, other_csrf, _ = session(shark)
    r = s.post(shark.url("/api/v1/apps"), json={"name": "x"}, headers={"X-CSRF-Token": other_csrf},
               timeout=15)
    assert r.status_code == 403


def test_a_bogus_cookie_is_refused_and_the_bearer_key_still_works(shark):
    for value in ("nope", "A" * 43, "x" * 500):
        r = requests.get(shark.url("/api/v1/apps"), cookies={"shark_admin": value}, timeout=15)
        assert r.status_code == 401, value
    assert requests.get(shark.url(SESSION), timeout=15).status_code == 401
    r = requests.get(shark.url("/api/v1/apps"), headers=shark.auth(),
                     cookies={"shark_admin": "nope"}, timeout=15)
    assert r.status_code == 200  # the key decides when it is sent


def test_sign_out_needs_the_csrf_token_and_ends_the_session(shark):
    s, csrf, _ = session(shark)
    r = s.delete(shark.url(SESSION), timeout=15)
    assert r.status_code == 403
    assert s.get(shark.url("/api/v1/apps"), timeout=15).status_code == 200
    r = s.delete(shark.url(SESSION), headers={"X-CSRF-Token": csrf}, timeout=15)
    assert r.status_code == 204
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    assert s.get(shark.url("/api/v1/apps"), timeout=15).status_code == 401
    assert s.get(shark.url(SESSION), timeout=15).status_code == 401
    r = s.delete(shark.url(SESSION), headers={"X-CSRF-Token": csrf}, timeout=15)
    assert r.status_code == 401
    ev = requests.get(shark.url("/api/v1/audit-logs"), params={"event": "admin.session_ended"},
                      headers=shark.auth(), timeout=15).json()["data"]
    assert ev and ev[0]["target_id"].startswith("ads_")


def test_only_digests_are_stored_and_expired_sessions_are_refused(shark):
    s, csrf, r = session(shark)
    value = r.cookies["shark_admin"]
    rows = shark.psql("SELECT id || ' ' || token_hash FROM admin_sessions")
    assert hashlib.sha256(value.encode()).hexdigest() in rows
    assert value not in rows and csrf not in rows and shark.admin_key not in rows
    digest = hashlib.sha256(value.encode()).hexdigest()
    shark.psql("UPDATE admin_sessions SET expires_at = now() - interval '1 second' "
               "WHERE token_hash = '%s'" % digest)
    assert s.get(shark.url("/api/v1/apps"), timeout=15).status_code == 401
    assert s.get(shark.url(SESSION), timeout=15).status_code == 401
    # The next sign-in purges what expired.
    session(shark)
    assert shark.psql("SELECT count(*) FROM admin_sessions WHERE token_hash = '%s'" % digest).strip() == "0"


def test_a_revoked_admin_key_ends_its_sessions():
    own = Shark()
    own.start()
    try:
        s, csrf, _ = session(own)
        assert s.get(own.url("/api/v1/apps"), timeout=15).status_code == 200
        own.psql("UPDATE admin_keys SET revoked_at = now()")
        assert s.get(own.url("/api/v1/apps"), timeout=15).status_code == 401
        r = s.post(own.url("/api/v1/apps"), json={"name": "x"}, headers={"X-CSRF-Token": csrf},
                   timeout=15)
        assert r.status_code == 401
        assert sign_in(own).status_code == 401
    finally:
        own.cleanup()


def test_under_an_https_issuer_the_cookie_is_host_prefixed_and_secure():
    public = "auth.example.com"
    s = Shark(extra=["--issuer", "https://" + public])
    s.start()
    try:
        r = requests.post(s.url(SESSION), json={"admin_key": s.admin_key},
                          headers={"Host": public}, timeout=15)
        assert r.status_code == 201, r.text
        cookie = r.headers["Set-Cookie"]
        assert cookie.startswith("__Host-shark_admin=")
        assert "Secure" in cookie and "Path=/;" in cookie and "HttpOnly" in cookie
        value = cookie.split(";")[0].split("=", 1)[1]
        ok = requests.get(s.url("/api/v1/apps"), timeout=15,
                          headers={"Host": public, "Cookie": "__Host-shark_admin=" + value})
        assert ok.status_code == 200
        # Without the prefix (a cookie a sibling host or plain http could plant) it is no session.
        bare = requests.get(s.url("/api/v1/apps"), timeout=15,
                            headers={"Host": public, "Cookie": "shark_admin=" + value})
        assert bare.status_code == 401
    finally:
        s.cleanup()


# ---- the delegation chain ----

def jti(token):
    return flows.jwt_claims(token)["jti"]


def test_chain_of_three_hops_from_a_person(shark, app):
    a, b, c = Agent(shark, app), Agent(shark, app), Agent(shark, app)
    key, key_b, key_c = flows.DpopKey(), flows.DpopKey(), flows.DpopKey()
    g = flows.code_flow(shark, scope="openid mcp:read", audience=a.client_id)
    t1 = a.ok(a.exchange(g.access_token, key, audience=b.client_id))["access_token"]
    # A DPoP-bound token stays bound: each later hop proves a key too.
    t2 = b.ok(b.exchange(t1, key_b, audience=c.client_id))["access_token"]
    t3 = c.ok(c.exchange(t2, key_c))["access_token"]
    r = requests.get(shark.url("/api/v1/tokens/%s/chain" % jti(t3)), headers=shark.auth(), timeout=15)
    assert r.status_code == 200, r.text
    chain = r.json()
    assert chain["jti"] == jti(t3)
    assert chain["principal"] == {"subject": g.person.id, "user_id": g.person.id}
    hops = chain["hops"]
    assert [h["jti"] for h in hops] == [jti(x) for x in (g.access_token, t1, t2, t3)]
    assert [h["client_id"] for h in hops] == [g.client.client_id, a.client_id, b.client_id,
                                               c.client_id]
    assert hops[0]["parent_jti"] is None
    assert [h["parent_jti"] for h in hops[1:]] == [h["jti"] for h in hops[:-1]]
    assert hops[0]["jkt"] is None
    assert hops[1]["jkt"] == key.jkt and hops[1]["client_kind"] == "agent"
    assert all(h["jkt"] for h in hops[2:])
    assert all(h["scope"] == "mcp:read" for h in hops[1:])
    assert all(h["revoked_at"] is None for h in hops)
    assert [e["event"] for e in hops[2]["events"]] == ["oauth.token_exchanged"]
    # The middle of the chain answers its own part; a revocation shows.
    flows_revoke = requests.post(shark.url("/api/v1/agents/%s/tokens/revoke-all" % b.client_id),
                                 json={}, headers=shark.auth(), timeout=15)
    assert flows_revoke.status_code == 200
    mid = requests.get(shark.url("/api/v1/tokens/%s/chain" % jti(t2)), headers=shark.auth(),
                       timeout=15).json()
    assert [h["jti"] for h in mid["hops"]] == [jti(x) for x in (g.access_token, t1, t2)]
    assert [h["revoked_at"] is not None for h in mid["hops"]] == [False, False, True]
    # And what was derived from it shows revoked too.
    full = requests.get(shark.url("/api/v1/tokens/%s/chain" % jti(t3)), headers=shark.auth(),
                        timeout=15).json()
    assert [h["revoked_at"] is not None for h in full["hops"]] == [False, False, True, True]


def test_chain_of_a_token_without_parents_and_of_unknown_ones(shark, app):
    a = Agent(shark, app)
    t = a.ok(a.token())["access_token"]
    r = requests.get(shark.url("/api/v1/tokens/%s/chain" % jti(t)), headers=shark.auth(), timeout=15)
    assert r.status_code == 200
    assert [h["client_id"] for h in r.json()["hops"]] == [a.client_id]
    assert r.json()["principal"]["subject"] == a.client_id
    for bad, status in (("tok_unknown", 404), ("x'%20OR%20'1'='1", 404), ("%25", 404),
                        ("a" * 129, 400)):
        r = requests.get(shark.url("/api/v1/tokens/%s/chain" % bad), headers=shark.auth(), timeout=15)
        assert r.status_code == status, (bad, r.text)
        assert set(r.json()["error"]) == {"code", "message", "request_id"}
    r = requests.get(shark.url("/api/v1/tokens/%s/chain" % jti(t)), timeout=15)
    assert r.status_code == 401


# ---- the audit CSV export ----

def test_audit_export_is_csv_with_the_list_filters_and_a_cursor(shark, app):
    for i in range(3):
        r = requests.post(shark.url("/api/v1/apps"), headers=shark.auth(),
                          json={"name": "=HYPERLINK(\"http://x\",\"csv %d\")" % i}, timeout=15)
        assert r.status_code == 201
    r = requests.get(shark.url("/api/v1/audit-logs/export"), headers=shark.auth(),
                     params={"event": "app.created", "limit": 2}, timeout=15)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["created_at", "id", "event", "actor_type", "actor_id", "target_id",
                       "request_id", "client_request_id", "client_ip", "metadata"]
    assert len(rows) == 3 and all(x[2] == "app.created" for x in rows[1:])
    listed = requests.get(shark.url("/api/v1/audit-logs"), headers=shark.auth(),
                          params={"event": "app.created", "limit": 2}, timeout=15).json()["data"]
    assert [x[1] for x in rows[1:]] == [e["id"] for e in listed]
    # The metadata cell is the event's JSON, whole.
    assert json.loads(rows[1][9])["name"].startswith("=HYPERLINK")
    cursor = r.headers["X-Next-Cursor"]
    more = requests.get(shark.url("/api/v1/audit-logs/export"), headers=shark.auth(),
                        params={"event": "app.created", "limit": 2, "cursor": cursor}, timeout=15)
    more_rows = list(csv.reader(io.StringIO(more.text)))
    assert more_rows[0] == rows[0] and more_rows[1][1] not in [x[1] for x in rows[1:]]


def test_audit_export_defuses_formula_cells(shark):
    # A client-sent X-Request-Id is a value the caller picks, exported as its own cell.
    r = requests.post(shark.url("/api/v1/apps"), json={"name": "formula"}, timeout=15,
                      headers=dict(shark.auth(), **{"X-Request-Id": "-cmd"}))
    assert r.status_code == 201
    out = requests.get(shark.url("/api/v1/audit-logs/export"), headers=shark.auth(),
                       params={"target_id": r.json()["id"]}, timeout=15)
    rows = list(csv.reader(io.StringIO(out.text)))
    assert len(rows) == 2
    assert rows[1][rows[0].index("client_request_id")] == "'-cmd"
    for cell in rows[1]:
        assert not cell.startswith(("=", "+", "-", "@")), rows[1]


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "10001"}, {"limit": "x"}, {"since": "yesterday"},
    {"cursor": "not-a-cursor"}, {"event": "oauth*x"},
])
def test_audit_export_refuses_bad_filters(shark, params):
    r = requests.get(shark.url("/api/v1/audit-logs/export"), headers=shark.auth(), params=params,
                     timeout=15)
    assert r.status_code == 400, (params, r.text)
    assert r.json()["error"]["code"] == "invalid_request"


def test_audit_export_needs_the_admin(shark):
    assert requests.get(shark.url("/api/v1/audit-logs/export"), timeout=15).status_code == 401


def test_audit_export_of_values_that_grow_when_quoted(shark):
    # Quotes double in CSV (and the metadata cell is JSON, which escapes them
    # too): the export outgrows its first guess at a size and must grow.
    names = ['%d%s' % (i, '"' * 190) for i in range(30)]
    for n in names:
        r = requests.post(shark.url("/api/v1/apps"), headers=shark.auth(), json={"name": n},
                          timeout=15)
        assert r.status_code == 201, r.text
    r = requests.get(shark.url("/api/v1/audit-logs/export"), headers=shark.auth(),
                     params={"event": "app.created", "limit": 30}, timeout=15)
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.text)))
    assert len(rows) == 31
    got = sorted(json.loads(x[9])["name"] for x in rows[1:])
    assert got == sorted(names)
