"""The edges a browser, a proxy or a neighbour on the machine reach (issue 13, section 4):
Host and Origin checks on cookie routes and the first-boot key, JSON-only bodies, cookie
prefixes, IPv6 rate-limit keys, the embedded database's password, request ids in the
audit log, and the CLI's admin key. Real server, real sockets, real PostgreSQL."""
import json
import os
import re
import stat
import subprocess
import time
import uuid

import pytest
import requests

from conftest import SHARK_BIN, Shark, assert_api_error, pg_bindir

PUBLIC = "auth.example.test"  # the https issuer's host; TLS ends at a proxy in front


def uniq(p):
    return "%s-%s" % (p, uuid.uuid4().hex[:10])


def email():
    return "%s@example.com" % uniq("sec")


@pytest.fixture(scope="module")
def srv():
    """A plain-http loopback issuer (the default), rate limiting off."""
    s = Shark()
    s.start()
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def public():
    """An https issuer on a public name, served over plain http as behind a TLS proxy."""
    s = Shark(extra=["--issuer", "https://" + PUBLIC])
    s.start()
    yield s
    s.cleanup()


def set_cookies(r):
    """Every Set-Cookie header of a response (requests folds them into one)."""
    return r.raw.headers.getlist("Set-Cookie")


def signup(s, host=None, **kw):
    h = {"Host": host} if host else {}
    h.update(kw.pop("headers", {}))
    body = kw.pop("body", None) or {"email": email(), "password": "correct horse battery"}
    return s.request("POST", "/api/v1/auth/signup", json=body, headers=h, **kw), body


# -- 1. Host: the first-boot key and every route that sets cookies -----------------------

def test_host_checked_on_firstboot_and_cookie_routes(srv, public):
    key = "/api/v1/admin/firstboot/key"
    port = srv.port
    # A DNS-rebinding page reaches the loopback server under its own name: no key.
    r = srv.get(key, headers={"Host": "rebound.attacker.example:%d" % port})
    assert r.status_code == 421 and r.reason == "Misdirected Request", r.text
    assert_api_error(r.json(), "misdirected_request")
    assert srv.admin_key not in r.text
    # A same-host proxy relays strangers with any of these: as if the route did not exist.
    for h in ({"X-Forwarded-Host": "127.0.0.1"}, {"X-Forwarded-Proto": "https"},
              {"X-Real-IP": "203.0.113.7"}, {"Forwarded": "for=203.0.113.7"}):
        r = srv.get(key, headers=h)
        assert r.status_code == 404, (h, r.text)
        assert srv.admin_key not in r.text
    # Loopback literals, with or without a port, are this machine.
    for host in ("127.0.0.1:%d" % port, "localhost", "[::1]:%d" % port, "LOCALHOST:%d" % port):
        r = srv.get(key, headers={"Host": host})
        assert r.status_code == 200, (host, r.text)
        assert r.json()["admin_key"] == srv.admin_key
    # A public issuer's own host works too, and so does a loopback literal; nothing else.
    assert public.get(key, headers={"Host": PUBLIC}).json()["admin_key"] == public.admin_key
    assert public.get(key).json()["admin_key"] == public.admin_key
    assert public.get(key, headers={"Host": "evil.example"}).status_code == 421

    # Cookie routes answer only under the issuer's name: no cookie, no account otherwise.
    r = srv.get("/login", headers={"Host": "rebound.attacker.example"})
    assert r.status_code == 421 and r.headers["Content-Type"].startswith("text/html"), r.text
    assert not set_cookies(r)
    for path in ("/device", "/oauth/authorize?client_id=x"):
        r = srv.get(path, headers={"Host": "rebound.attacker.example"})
        assert r.status_code == 421, (path, r.status_code)
    r, body = signup(srv, host="rebound.attacker.example:%d" % port)
    assert r.status_code == 421, r.text
    assert_api_error(r.json(), "misdirected_request")
    assert not set_cookies(r)
    r, _ = signup(srv, body=body)
    assert r.status_code == 201, r.text  # the refused signup created nothing
    # Under a public issuer, loopback literals are not its name.
    r, body = signup(public, host="127.0.0.1:%d" % public.port)
    assert r.status_code == 421, r.text
    r, _ = signup(public, host=PUBLIC, body=body)
    assert r.status_code == 201, r.text
    r = public.get("/api/v1/auth/me", headers={"Host": "evil.example"})
    assert r.status_code == 421


# -- 2. JSON bodies only as application/json; no cross-site state changes ------------------

def test_json_routes_need_json_and_same_origin(srv):
    body = {"email": email(), "password": "correct horse battery"}
    # What a cross-site <form enctype=text/plain> or urlencoded form can send: refused,
    # before anything is created.
    for ct in ("text/plain", "application/x-www-form-urlencoded", None):
        h = {"Content-Type": ct} if ct else {}
        r = srv.request("POST", "/api/v1/auth/signup", data=json.dumps(body), headers=h)
        assert r.status_code == 415, (ct, r.status_code, r.text)
        assert_api_error(r.json(), "unsupported_media_type")
        assert not set_cookies(r)
    r = srv.request("POST", "/api/v1/auth/login", data=json.dumps(body),
                    headers={"Content-Type": "text/plain"})
    assert r.status_code == 415, r.text
    # The charset parameter is fine.
    r = srv.request("POST", "/api/v1/auth/signup", data=json.dumps(body).encode(),
                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201, r.text
    # The admin API reads JSON through the same reader.
    r = srv.request("POST", "/api/v1/apps", admin=True, data=json.dumps({"name": uniq("app")}),
                    headers={"Content-Type": "text/plain"})
    assert r.status_code == 415, r.text

    # A state change whose Origin or Sec-Fetch-Site says another site sent it: 403.
    login = {"email": body["email"], "password": body["password"]}
    for h in ({"Origin": "https://evil.example"}, {"Origin": "null"},
              {"Origin": "http://127.0.0.1:%d" % (srv.port + 1)},
              {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}):
        r = srv.request("POST", "/api/v1/auth/login", json=login, headers=h)
        assert r.status_code == 403, (h, r.text)
        assert_api_error(r.json(), "forbidden")
        assert not set_cookies(r)
    # Our own origin, and clients that send neither header, go through.
    for h in ({"Origin": srv.url("")}, {"Sec-Fetch-Site": "same-origin"}, {}):
        r = srv.request("POST", "/api/v1/auth/login", json=login, headers=h)
        assert r.status_code == 200, (h, r.text)

    # The hosted sign-in form: even with a valid login CSRF pair, a post from another
    # site signs nobody in.
    page = srv.get("/login")
    csrf = re.search(r'name=login_csrf value="([^"]+)"', page.text).group(1)
    cookie = [c for c in set_cookies(page) if c.startswith("shark_login_csrf=")][0]
    form = {"login_csrf": csrf, **login}
    jar = {"Cookie": cookie.split(";")[0]}
    r = srv.request("POST", "/login", data=form, allow_redirects=False,
                    headers={**jar, "Origin": "https://evil.example"})
    assert r.status_code == 403, r.text
    assert not any(c.startswith("shark_session=") for c in set_cookies(r))
    r = srv.request("POST", "/login", data=form, allow_redirects=False,
                    headers={**jar, "Origin": srv.url("")})
    assert r.status_code == 303, r.text
    assert any(c.startswith("shark_session=") for c in set_cookies(r))


# -- 3. Cookies: __Host- and Secure under an https issuer -----------------------------------

def test_cookies_prefixed_and_secure_under_https_issuer(srv, public):
    r, body = signup(public, host=PUBLIC)
    assert r.status_code == 201, r.text
    cookies = set_cookies(r)
    assert len(cookies) == 1, cookies
    c = cookies[0]
    name, value = c.split(";")[0].split("=", 1)
    attrs = [a.strip() for a in c.split(";")[1:]]
    assert name == "__Host-shark_session", c
    assert "Secure" in attrs and "Path=/" in attrs and "HttpOnly" in attrs, c
    assert not any(a.lower().startswith("domain") for a in attrs), c
    # The prefixed cookie is the session; the bare name (which a sibling host or a
    # plain-http injector could plant) is not read.
    me = public.get("/api/v1/auth/me", headers={"Host": PUBLIC,
                                                "Cookie": "__Host-shark_session=" + value})
    assert me.status_code == 200 and me.json()["email"] == body["email"], me.text
    me = public.get("/api/v1/auth/me", headers={"Host": PUBLIC, "Cookie": "shark_session=" + value})
    assert me.status_code == 401
    # The login form's CSRF cookie too (Path=/ as the prefix demands), and it works.
    page = public.get("/login", headers={"Host": PUBLIC})
    (lc,) = set_cookies(page)
    assert lc.startswith("__Host-shark_login_csrf=") and "Secure" in lc and "Path=/;" in lc, lc
    csrf = re.search(r'name=login_csrf value="([^"]+)"', page.text).group(1)
    r = public.request("POST", "/login", allow_redirects=False,
                       data={"login_csrf": csrf, "email": body["email"],
                             "password": body["password"]},
                       headers={"Host": PUBLIC, "Cookie": lc.split(";")[0],
                                "Origin": "https://" + PUBLIC})
    assert r.status_code == 303, r.text
    assert any(c.startswith("__Host-shark_session=") and "Secure" in c for c in set_cookies(r))
    # A plain-http loopback issuer cannot have Secure cookies: bare names, no Secure.
    r, _ = signup(srv)
    (c,) = set_cookies(r)
    assert c.startswith("shark_session=") and "Secure" not in c, c


# -- 4. Rate limiting: an IPv6 client is its /64 -----------------------------------------------

def test_ipv6_clients_rate_limited_by_64(shark_factory):
    s = shark_factory(rate_limit="0.05:2", extra=["--trusted-proxy", "127.0.0.1/32"])
    s.start()

    def hit(ip):
        return s.get("/healthz", headers={"X-Forwarded-For": ip}).status_code

    # Three addresses of one /64 share its two tokens.
    assert hit("2001:db8:1:2::1") == 200
    assert hit("2001:db8:1:2::2") == 200
    assert hit("2001:db8:1:2:ffff:ffff:ffff:fffe") == 429
    # The next /64 is someone else; IPv4 addresses stay one each.
    assert hit("2001:db8:1:3::1") == 200
    assert hit("198.51.100.1") == 200
    assert hit("198.51.100.1") == 200
    assert hit("198.51.100.2") == 200


# -- 5. The embedded PostgreSQL wants its password ---------------------------------------------

def psql_as(s, sql, password=None, user=None):
    """psql into the embedded cluster as the shark role, maybe as another OS user."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if password is not None:
        env["PGPASSWORD"] = password
    cmd = ["psql", "-w", "-X", "-At", "host=%s dbname=shark user=shark" % s.pg_socket_dir,
           "-c", sql]
    if user is not None:
        cmd = ["runuser", "-u", user, "--"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env, cwd="/")


def assert_pg_locked(s):
    """No way into the cluster without the password; returns the number of apps."""
    r = psql_as(s, "select 1")
    assert r.returncode != 0 and "password" in r.stderr, (r.stdout, r.stderr)
    # The OS user who owns the cluster gets no further without the password either.
    if os.geteuid() == 0:
        r = psql_as(s, "select 1", user="postgres")
        assert r.returncode != 0 and "password" in r.stderr, (r.stdout, r.stderr)
    st = os.stat(os.path.join(s.data_dir, "pg", "password"))
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    with open(os.path.join(s.pgdata, "pg_hba.conf")) as f:
        hba = [l.split() for l in f if l.strip() and not l.startswith("#")]
    assert hba and all(l[-1] == "scram-sha-256" for l in hba), hba
    r = psql_as(s, "select 1", password="not-the-password")
    assert r.returncode != 0 and "password authentication failed" in r.stderr, r.stderr
    r = psql_as(s, "select count(*) from apps", password=s.pg_password)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def test_embedded_postgres_needs_the_password(srv):
    assert_pg_locked(srv)


def pg_ctl(s, *args):
    r = subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(pg_bindir(), "pg_ctl"),
                        "-D", s.pgdata, "-w", *args], capture_output=True, text=True,
                       timeout=60, cwd="/")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="rebuilds the old cluster as the postgres user")
def test_trust_cluster_from_before_gets_a_password(shark_factory):
    s = shark_factory()
    s.start()
    r = s.request("POST", "/api/v1/apps", admin=True, json={"name": uniq("kept")})
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    assert s.stop() == 0
    s.wait_embedded_pg_gone()
    # Back to what an older shark left: trust on the socket, no role password, no file.
    with open(os.path.join(s.pgdata, "pg_hba.conf"), "w") as f:
        f.write("local all all trust\n")
    os.remove(os.path.join(s.data_dir, "pg", "password"))
    pg_ctl(s, "-l", os.path.join(s.data_dir, "pg", "manual.log"),
           "-o", "-c listen_addresses= -k %s" % s.pg_socket_dir, "start")
    r = psql_as(s, "ALTER ROLE shark PASSWORD NULL")
    pg_ctl(s, "stop")
    assert r.returncode == 0, r.stderr

    s.start()
    s.wait_ready()
    assert assert_pg_locked(s) == 1
    assert s.get("/api/v1/apps/" + app_id, admin=True).status_code == 200
    # And the password it set holds across restarts.
    s.restart()
    s.wait_ready()
    assert assert_pg_locked(s) == 1


# -- 6. Request ids: ours in the audit log, the client's beside it ------------------------------

def test_audit_records_our_request_id_beside_the_clients(srv):
    mine = uniq("client-rid")
    r = srv.request("POST", "/api/v1/apps", admin=True, json={"name": uniq("rid")},
                    headers={"X-Request-Id": mine})
    assert r.status_code == 201, r.text
    assert r.headers["X-Request-Id"] == mine  # echoed
    app_id = r.json()["id"]
    r = srv.request("POST", "/api/v1/agents", admin=True,
                    json={"app_id": app_id, "name": uniq("a"), "scopes": []})
    assert r.status_code == 201, r.text
    agent = r.json()
    tok_rid = uniq("tok-rid")
    r = requests.post(srv.url("/oauth/token"), data={"grant_type": "client_credentials"},
                      auth=(agent["id"], agent["client_secret"]),
                      headers={"X-Request-Id": tok_rid}, timeout=15)
    assert r.status_code == 200, r.text

    ev = srv.get("/api/v1/audit-logs?target_id=" + app_id, admin=True).json()["data"]
    (created,) = [e for e in ev if e["event"] == "app.created"]
    assert re.fullmatch(r"req_[0-9a-f]{16}", created["request_id"]), created
    assert created["client_request_id"] == mine
    ev = srv.get("/api/v1/audit-logs?event=oauth.token_issued&limit=50", admin=True).json()["data"]
    issued = [e for e in ev if e.get("client_request_id") == tok_rid]
    assert len(issued) == 1, ev
    assert re.fullmatch(r"req_[0-9a-f]{16}", issued[0]["request_id"])
    # Without a client id there is only ours, and the response carries it.
    r = srv.request("POST", "/api/v1/apps", admin=True, json={"name": uniq("rid")})
    ours = r.headers["X-Request-Id"]
    ev = srv.get("/api/v1/audit-logs?target_id=" + r.json()["id"], admin=True).json()["data"]
    assert ev[0]["request_id"] == ours and ev[0]["client_request_id"] is None
    # The access log has both.
    time.sleep(0.2)
    lines = [rec for rec in srv.log_records() if rec.get("client_request_id") == mine]
    assert lines and re.fullmatch(r"req_[0-9a-f]{16}", lines[0]["request_id"]), lines


# -- 7. The CLI takes the admin key from the environment or a file -------------------------------

def test_cli_admin_key_from_file_and_warns_on_argv(srv, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHARK_")}
    env["SHARK_URL"] = srv.url("")
    keyfile = tmp_path / "admin.key"
    keyfile.write_text(srv.admin_key + "\n")
    keyfile.chmod(0o600)

    def run(*args, extra=None):
        r = subprocess.run([SHARK_BIN, "app", "list", "--json", *args], capture_output=True,
                           text=True, timeout=30, env={**env, **(extra or {})}, cwd=tmp_path)
        assert srv.admin_key not in r.stdout + r.stderr
        return r

    r = run("--admin-key-file", str(keyfile))
    assert r.returncode == 0, r.stderr
    assert "data" in json.loads(r.stdout) and r.stderr == ""
    r = run(extra={"SHARK_ADMIN_KEY": srv.admin_key})
    assert r.returncode == 0 and r.stderr == "", r.stderr
    # The key itself on the command line still works, but says that ps shows it.
    r = run("--admin-key", srv.admin_key)
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "ps" in r.stderr, r.stderr
