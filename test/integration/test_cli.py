"""The `shark` admin commands (cli/): each runs as a subprocess against a real server."""
import atexit
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest
import requests

from conftest import SHARK_BIN, free_port

# Commands run from an empty directory so the ./data default finds nothing by accident.
CWD = tempfile.mkdtemp(prefix="shark-cli-")
atexit.register(shutil.rmtree, CWD, True)


def cli_env(s=None, key=True, extra=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("SHARK_")}
    if s is not None:
        e["SHARK_URL"] = s.url("")
        if key:
            e["SHARK_ADMIN_KEY"] = s.admin_key
    e.update(extra or {})
    return e


def cli(s, *args, key=True, env=None, timeout=30):
    """Runs `shark ARGS` against server s; the admin key goes in the environment."""
    r = subprocess.run([SHARK_BIN] + list(args), capture_output=True, text=True,
                       timeout=timeout, env=cli_env(s, key, env), cwd=CWD)
    if s is not None:
        assert s.admin_key not in r.stdout + r.stderr, "the admin key was printed"
    return r


def ok(s, *args, **kw):
    r = cli(s, *args, **kw)
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r


def ok_json(s, *args, **kw):
    return json.loads(ok(s, *args, "--json", **kw).stdout)


def fields(text):
    """The `label  value` block that create/rotate commands print."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+) +(\S.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def table(text):
    """Rows of an aligned table as dicts keyed by header, cut at the header's columns."""
    lines = [l for l in text.splitlines() if l.strip()]
    head = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", head)]
    names = head.split()
    rows = []
    for line in lines[1:]:
        if line.startswith("("):
            continue
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
        rows.append(dict(zip(names, cells)))
    return names, rows


def uniq(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def require_route(s, method, path):
    """Fails with a clear reason if the server does not have the admin route yet."""
    r = requests.request(method, s.url(path), timeout=10)
    if r.status_code == 404 and "no such endpoint" in r.text:
        pytest.fail("the server has no %s %s route yet" % (method, path))


def make_app(s, scopes="mcp:read mcp:write"):
    return ok_json(s, "app", "create", "--name", uniq("app"), "--scopes", scopes)


def make_agent(s, app_id, *extra, scopes="mcp:read mcp:write"):
    return ok_json(s, "agent", "create", "--app", app_id, "--name", uniq("agent"),
                   "--scopes", scopes, *extra)


def get_token(s, client_id, secret, scope="mcp:read"):
    return requests.post(s.url("/oauth/token"), auth=(client_id, secret), timeout=15,
                         data={"grant_type": "client_credentials", "scope": scope})


def token_for(s, agent):
    r = get_token(s, agent["client_id"], agent["client_secret"])
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def introspect(s, token):
    r = requests.post(s.url("/oauth/introspect"), data={"token": token}, headers=s.auth(),
                      timeout=15)
    assert r.status_code == 200, r.text
    return r.json()


def make_user(s):
    r = s.request("POST", "/api/v1/users", admin=True,
                  json={"email": uniq("alice") + "@example.com"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


# -- usage ---------------------------------------------------------------------

def test_help():
    r = cli(None, "help")
    assert r.returncode == 0
    for cmd in ("app", "agent", "user", "revoke-pattern", "audit"):
        assert cmd in r.stdout
    # Where the admin key comes from, and that the command line is not the place.
    for where in ("SHARK_ADMIN_KEY", "--admin-key-file", "admin.key.firstboot", "ps"):
        assert where in r.stdout, where
    r = cli(None, "agent", "--help")
    assert r.returncode == 0
    for sub in ("create", "list", "tokens", "revoke-all", "rotate-secret"):
        assert "shark agent " + sub in r.stdout
    for args in (["agent", "create", "--help"], ["audit", "-h"], ["revoke-pattern", "--help"],
                 ["user", "revoke-agents", "--help"], ["app", "list", "--help"]):
        r = cli(None, *args)
        assert r.returncode == 0, args
        assert r.stdout.startswith("usage: shark " + args[0]), r.stdout
        assert "--admin-key-file FILE" in r.stdout and "--admin-key KEY" in r.stdout


@pytest.mark.parametrize("args,says", [
    (["app"], "missing subcommand"),
    (["agent", "frob"], "unknown subcommand"),
    (["app", "create"], "missing --name"),
    (["app", "create", "--name"], "needs a value"),
    (["app", "create", "--name", ""], "must not be empty"),
    (["agent", "create", "--name", "x", "--scopes", "a"], "missing --app"),
    (["agent", "create", "--app", "app_x", "--name", "x"], "missing --scopes"),
    (["agent", "tokens"], "missing AGENT_ID"),
    (["agent", "tokens", "a", "b"], "unexpected argument"),
    (["agent", "list", "--reason", "x"], "--reason is not a flag"),
    (["app", "list", "--bogus"], "unknown flag"),
    (["app", "list", "--json=yes"], "takes no value"),
    (["revoke-pattern", "shark_agent_*"], "missing --reason"),
    (["revoke-pattern", "--reason", "r"], "missing PATTERN"),
    (["user", "revoke-agents"], "missing USR_ID"),
    (["audit", "--limit", "0"], "--limit"),
    (["audit", "--limit", "ten"], "--limit"),
    (["agent", "list", "--offset", "-1"], "--offset"),
])
def test_usage_errors_exit_2(args, says):
    r = cli(None, *args)
    assert r.returncode == 2, (args, r.returncode, r.stderr)
    assert says in r.stderr, r.stderr
    assert r.stdout == ""


def test_no_admin_key_is_a_usage_error():
    r = cli(None, "app", "list", "--data-dir", os.path.join(CWD, "nowhere"))
    assert r.returncode == 2
    assert "admin.key.firstboot" in r.stderr and "--admin-key-file" in r.stderr
    assert "SHARK_ADMIN_KEY" in r.stderr
    r = cli(None, "app", "list", "--admin-key-file", os.path.join(CWD, "nowhere.key"))
    assert r.returncode == 2
    assert "nowhere.key not readable" in r.stderr, r.stderr
    r = cli(None, "app", "list", "--admin-key-file", os.path.join(CWD, "k"), "--admin-key", "x")
    assert r.returncode == 2 and "not both" in r.stderr, r.stderr


# -- connection and server errors ------------------------------------------------

def test_unreachable_url():
    r = cli(None, "app", "list", "--url", "http://127.0.0.1:%d" % free_port(),
            "--admin-key", "sk_live_" + "x" * 43)
    assert r.returncode == 1
    assert "cannot reach the server at http://127.0.0.1:" in r.stderr, r.stderr
    assert r.stdout == ""


def test_wrong_key_prints_server_message(shark):
    bad = "sk_live_" + "A" * 43
    expect = requests.get(shark.url("/api/v1/apps"), headers=shark.auth(bad),
                          timeout=10).json()["error"]["message"]
    for args in (["--admin-key", bad], ["--json", "--admin-key", bad]):
        r = cli(shark, "app", "list", *args, key=False)
        assert r.returncode == 1
        assert expect in r.stderr, r.stderr
        assert "HTTP 401" in r.stderr
        assert bad not in r.stderr
        assert r.stdout == ""
    r = cli(shark, "app", "list", key=False, env={"SHARK_ADMIN_KEY": bad})
    assert r.returncode == 1 and expect in r.stderr


def test_not_found_message_and_path_escaping(shark):
    r = cli(shark, "agent", "tokens", "shark_agent_nope")
    assert r.returncode == 1
    assert "no such agent" in r.stderr, r.stderr
    # A slash or ? in an id stays inside its path segment: the route still matches.
    r = cli(shark, "agent", "tokens", "a/b?c=d#e")
    assert r.returncode == 1
    assert "no such agent" in r.stderr, r.stderr


def test_admin_key_from_data_dir(shark):
    r = ok(shark, "app", "list", "--data-dir", shark.data_dir, key=False)
    assert r.stdout
    r = ok(shark, "app", "list", key=False, env={"SHARK_DATA_DIR": shark.data_dir})
    assert r.stdout
    # --url beats SHARK_URL; --admin-key beats the file.
    r = cli(shark, "app", "list", "--url", shark.url("/"), "--data-dir", shark.data_dir,
            key=False, env={"SHARK_URL": "http://127.0.0.1:%d" % free_port()})
    assert r.returncode == 0, r.stderr
    r = cli(shark, "app", "list", "--data-dir", shark.data_dir, "--admin-key",
            "sk_live_" + "B" * 43, key=False)
    assert r.returncode == 1
    # A key on the command line still works, with a warning that ps shows it.
    r = cli(shark, "app", "list", "--admin-key", shark.admin_key, key=False)
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "ps" in r.stderr
    # --admin-key-file names the file; it beats SHARK_ADMIN_KEY and the data dir.
    r = cli(shark, "app", "list", "--admin-key-file", shark.key_file, key=False,
            env={"SHARK_ADMIN_KEY": "sk_live_" + "C" * 43})
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr


# -- apps and agents ---------------------------------------------------------------

def test_app_create_and_list(shark):
    name = uniq("my-saas-backend")
    r = ok(shark, "app", "create", "--name", name, "--description", "the backend",
           "--scopes", "mcp:read mcp:write")
    f = fields(r.stdout)
    assert f["id"].startswith("app_")
    assert f["name"] == name
    assert f["description"] == "the backend"
    assert f["scopes"] == "mcp:read mcp:write"

    names, rows = table(ok(shark, "app", "list").stdout)
    assert names == ["ID", "NAME", "SCOPES", "CREATED"]
    row = [x for x in rows if x["ID"] == f["id"]]
    assert row and row[0]["NAME"] == name and row[0]["SCOPES"] == "mcp:read,mcp:write"

    body = ok_json(shark, "app", "list")
    assert {"data", "limit", "next_cursor"} <= set(body)
    app = [a for a in body["data"] if a["id"] == f["id"]][0]
    assert app["scopes"] == ["mcp:read", "mcp:write"]

    created = ok_json(shark, "app", "create", "--name", uniq("a"), "--scopes", "x,y")
    assert created["scopes"] == ["x", "y"]
    page = ok_json(shark, "app", "list", "--limit", "1", "--offset", "1")
    assert page["limit"] == 1 and len(page["data"]) == 1
    first = ok_json(shark, "app", "list", "--limit", "1")
    r = ok(shark, "app", "list", "--limit", "1")
    assert "next page: --cursor %s" % first["next_cursor"] in r.stdout
    # the cursor the hint names gives the page the offset does
    after = ok_json(shark, "app", "list", "--limit", "1", "--cursor", first["next_cursor"])
    assert after["data"] == page["data"]


def test_agent_create_and_list(shark):
    app = make_app(shark)
    user = make_user(shark)
    name = uniq("agent-alice")
    r = ok(shark, "agent", "create", "--app", app["id"], "--name", name, "--scopes",
           "mcp:read mcp:write", "--description", "for alice", "--created-by", user)
    f = fields(r.stdout)
    assert f["client_id"].startswith("shark_agent_")
    assert len(f["client_secret"]) >= 32
    assert f["app_id"] == app["id"] and f["name"] == name and f["created_by"] == user
    assert "shown once" in r.stdout
    # The printed secret works.
    assert get_token(shark, f["client_id"], f["client_secret"]).status_code == 200

    names, rows = table(ok(shark, "agent", "list", "--app", app["id"]).stdout)
    assert names[0] == "ID" and "NAME" in names and "SCOPES" in names and "CREATED" in names
    assert [x["ID"] for x in rows] == [f["id"]]
    assert rows[0]["NAME"] == name and rows[0]["STATUS"] == "active"

    body = ok_json(shark, "agent", "list", "--app", app["id"])
    assert [a["id"] for a in body["data"]] == [f["id"]]
    assert "client_secret" not in body["data"][0]
    assert [a["id"] for a in ok_json(shark, "agent", "list", "--created-by", user)["data"]] == \
        [f["id"]]
    other = make_app(shark)
    assert ok(shark, "agent", "list", "--app", other["id"]).stdout.strip() == "no agents"

    r = cli(shark, "agent", "create", "--app", "app_missing", "--name", "x", "--scopes", "a")
    assert r.returncode == 1 and "HTTP 404" in r.stderr


def test_agent_tokens_and_revoke_all(shark):
    agent = make_agent(shark, make_app(shark)["id"])
    assert ok(shark, "agent", "tokens", agent["id"]).stdout.strip() == "no active tokens"
    tok = token_for(shark, agent)
    assert introspect(shark, tok)["active"] is True

    listed = ok_json(shark, "agent", "tokens", agent["id"])
    assert len(listed["data"]) == 1 and listed["next_cursor"] is None
    token_id = listed["data"][0]["token_id"]
    names, rows = table(ok(shark, "agent", "tokens", agent["id"]).stdout)
    assert names == ["TOKEN_ID", "SCOPE", "JKT", "EXPIRES", "CREATED"]
    assert rows[0]["TOKEN_ID"] == token_id and rows[0]["SCOPE"] == "mcp:read"
    assert rows[0]["JKT"] == "-"

    r = ok(shark, "agent", "revoke-all", agent["id"])
    assert "revoked 1 token(s) of agent %s" % agent["id"] in r.stdout
    assert introspect(shark, tok)["active"] is False
    assert ok_json(shark, "agent", "tokens", agent["id"])["data"] == []
    again = ok_json(shark, "agent", "revoke-all", agent["id"])
    assert again["revoked_count"] == 0 and again["agent_id"] == agent["id"]


def test_agent_rotate_secret(shark):
    agent = make_agent(shark, make_app(shark)["id"])
    old = agent["client_secret"]
    r = ok(shark, "agent", "rotate-secret", agent["id"])
    f = fields(r.stdout)
    assert f["agent_id"] == agent["id"] and f["client_id"] == agent["client_id"]
    assert f["client_secret"] != old
    assert "shown once" in r.stdout
    assert get_token(shark, agent["client_id"], old).status_code == 401
    assert get_token(shark, agent["client_id"], f["client_secret"]).status_code == 200

    body = ok_json(shark, "agent", "rotate-secret", agent["id"])
    assert set(body) >= {"agent_id", "client_id", "client_secret", "rotated_at"}
    assert get_token(shark, agent["client_id"], f["client_secret"]).status_code == 401
    assert get_token(shark, agent["client_id"], body["client_secret"]).status_code == 200


# -- bulk revocation -----------------------------------------------------------------

def test_user_revoke_agents(shark):
    require_route(shark, "POST", "/api/v1/users/usr_x/revoke-agents")
    app = make_app(shark)
    user = make_user(shark)
    a1 = make_agent(shark, app["id"], "--created-by", user)
    a2 = make_agent(shark, app["id"], "--created-by", user)
    a3 = make_agent(shark, app["id"], "--created-by", user)
    t1, t2, t3 = token_for(shark, a1), token_for(shark, a2), token_for(shark, a3)

    body = ok_json(shark, "user", "revoke-agents", user, "--agents", a1["id"],
                   "--reason", "one agent only")
    assert body["revoked_agent_ids"] == [a1["id"]]
    assert body["audit_event_id"].startswith("audit_")
    assert introspect(shark, t1)["active"] is False
    assert introspect(shark, t2)["active"] is True

    r = ok(shark, "user", "revoke-agents", user, "--reason", "customer cancelled")
    f = fields(r.stdout)
    assert a2["id"] in f["revoked_agent_ids"] and a3["id"] in f["revoked_agent_ids"]
    assert f["audit_event_id"].startswith("audit_")
    assert introspect(shark, t2)["active"] is False
    assert introspect(shark, t3)["active"] is False


def test_revoke_pattern(shark):
    require_route(shark, "POST", "/api/v1/admin/oauth/revoke-by-pattern")
    app = make_app(shark)
    a1, a2 = make_agent(shark, app["id"]), make_agent(shark, app["id"])
    t1, t2 = token_for(shark, a1), token_for(shark, a2)
    pattern = a1["client_id"][:-2] + "*"
    assert not a2["client_id"].startswith(pattern[:-1])

    r = ok(shark, "revoke-pattern", pattern, "--reason", "compromised build")
    f = fields(r.stdout)
    assert int(f["revoked_count"]) >= 1
    assert f["audit_event_id"].startswith("audit_")
    assert introspect(shark, t1)["active"] is False
    assert introspect(shark, t2)["active"] is True

    body = ok_json(shark, "revoke-pattern", a2["client_id"], "--reason", "exact id")
    assert body["revoked_count"] == 1
    assert introspect(shark, t2)["active"] is False


# -- audit ------------------------------------------------------------------------------

def test_audit_actor_and_event(shark):
    agent = make_agent(shark, make_app(shark)["id"])
    token_for(shark, agent)
    token_for(shark, agent)
    body = ok_json(shark, "audit", "--actor", agent["id"])
    assert len(body["data"]) >= 2
    assert {e["actor_id"] for e in body["data"]} == {agent["id"]}
    assert "oauth.token_issued" in {e["event"] for e in body["data"]}

    names, rows = table(ok(shark, "audit", "--actor", agent["id"]).stdout)
    assert names == ["CREATED", "EVENT", "ACTOR", "TARGET", "ID"]
    assert [x["ID"] for x in rows] == [e["id"] for e in body["data"]]
    assert all(x["ACTOR"] == agent["id"] for x in rows)

    one = ok_json(shark, "audit", "--event", "agent.created", "--limit", "1")
    assert len(one["data"]) == 1 and one["data"][0]["event"] == "agent.created"
    assert ok(shark, "audit", "--actor", "nobody_" + uniq("x")).stdout.strip() == \
        "no audit events"
    r = cli(shark, "audit", "--since", "yesterday")
    assert r.returncode == 1 and "ISO-8601" in r.stderr


def read_lines_until(proc, n, timeout):
    """Reads stdout lines of a running process until n arrived or timeout."""
    lines, buf, deadline = [], b"", time.time() + timeout
    fd = proc.stdout.fileno()
    while len(lines) < n and time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            *done, buf = buf.split(b"\n")
            lines += [l.decode() for l in done]
    return lines


@pytest.mark.parametrize("as_json", [True, False])
def test_audit_follow(shark, as_json):
    args = [SHARK_BIN, "audit", "--follow", "--event", "app.created", "--limit", "2"]
    if as_json:
        args.append("--json")
    make_app(shark)
    make_app(shark)
    before = ok_json(shark, "audit", "--event", "app.created", "--limit", "2")["data"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=cli_env(shark), cwd=CWD)
    try:
        head = 2 if as_json else 3  # the header line in table form
        first = read_lines_until(p, head, 10)
        assert len(first) == head, (first, p.stderr.read1() if p.poll() else "")
        made = [make_app(shark)["id"] for _ in range(3)]
        rest = read_lines_until(p, 3, 10)  # a poll saw them
        assert len(rest) == 3, rest
        made.append(make_app(shark)["id"])
        rest += read_lines_until(p, 1, 10)  # and a later poll the fourth
        assert len(rest) == 4, rest
        # Nothing repeats on later polls: the next line is the next event.
        made.append(make_app(shark)["id"])
        rest += read_lines_until(p, 1, 10)
        assert len(rest) == 5, rest
    finally:
        p.terminate()
        p.wait(10)
    if as_json:
        old = [json.loads(l)["id"] for l in first]
        assert old == [e["id"] for e in reversed(before)]  # oldest first
        new = [json.loads(l) for l in rest]
        assert [e["target_id"] for e in new] == made
        assert all(e["event"] == "app.created" for e in new)
    else:
        assert first[0].split() == ["CREATED", "EVENT", "ACTOR", "TARGET", "ID"]
        assert [l.split()[3] for l in rest] == made


def test_audit_follow_survives_restart(shark_factory):
    s = shark_factory().start()
    p = subprocess.Popen([SHARK_BIN, "audit", "--follow", "--json", "--event", "app.created"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(s), cwd=CWD)
    try:
        first = make_app(s)["id"]
        lines = read_lines_until(p, 1, 15)  # it is following
        s.restart()
        made = make_app(s)["id"]
        lines += read_lines_until(p, 1, 15)
        assert [json.loads(l)["target_id"] for l in lines] == [first, made]
        assert p.poll() is None
    finally:
        p.terminate()
        p.wait(10)


# -- every command `shark help` lists: a success and a failure each -----------------------

# command -> the tests here that run it successfully and make it fail
COVERED = {
    "serve": ("test_serve_help", "test_serve_refuses_bad_flags"),
    "migrate": ("test_migrate.py::test_check_dry_run_apply",
                "test_migrate.py::test_bad_arguments_and_unreachable_database"),
    "app": ("test_app_create_and_list", "test_app_create_refused_by_the_server"),
    "agent": ("test_agent_create_and_list", "test_agent_commands_refused_by_the_server"),
    "user": ("test_user_revoke_agents", "test_user_revoke_agents_refused"),
    "revoke-pattern": ("test_revoke_pattern", "test_revoke_pattern_refused"),
    "audit": ("test_audit_actor_and_event", "test_audit_actor_and_event"),
    "vault rekey": ("test_vault.py::test_rekey", "test_vault_rekey_refusals"),
    "routes": ("test_openapi.py::test_router_table_matches_the_document",
               "test_openapi.py::test_routes_subcommand_takes_no_arguments"),
    "version": ("test_version", "test_version_refuses_arguments"),
    "help": ("test_help", "test_unknown_command"),
}


def help_commands():
    out = cli(None, "help").stdout
    block = out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return [re.split(r"\s{2,}", l.strip())[0] for l in block.splitlines() if l.strip()]


def test_every_help_command_has_a_success_and_a_failure_test():
    cmds = help_commands()
    assert sorted(cmds) == sorted(COVERED), cmds
    here = globals()
    for cmd, tests in COVERED.items():
        for t in tests:
            if "::" in t:  # a test in another file of this directory
                f, name = t.split("::")
                with open(os.path.join(os.path.dirname(__file__), f)) as src:
                    assert re.search(r"^def %s\(" % name, src.read(), re.M), (cmd, t)
            else:
                assert callable(here.get(t)), (cmd, t)


def test_serve_help():
    r = cli(None, "serve", "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: shark serve")
    for flag in ("--listen", "--data-dir", "--db", "--rate-limit", "--shutdown-timeout"):
        assert flag in r.stdout, flag
    assert r.stderr == ""


@pytest.mark.parametrize("args,says", [
    (["--bogus"], "unknown flag '--bogus'"),
    (["--rate-limit", "x"], "--rate-limit: expected RATE or RATE:BURST"),
])
def test_serve_refuses_bad_flags(args, says):
    data = os.path.join(CWD, uniq("serve-data"))
    r = cli(None, "serve", "--data-dir", data, "--listen", "127.0.0.1:%d" % free_port(), *args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert says in r.stderr, r.stderr
    assert r.stdout == ""
    assert not os.path.exists(data)  # refused before touching anything


def test_app_create_refused_by_the_server(shark):
    before = ok_json(shark, "app", "list", "--limit", "1")["data"]
    r = cli(shark, "app", "create", "--name", uniq("bad"), "--scopes", 'a"b')
    assert r.returncode == 1, r.stderr
    assert "scopes must be" in r.stderr and "HTTP 400, invalid_request" in r.stderr, r.stderr
    assert r.stdout == ""
    assert ok_json(shark, "app", "list", "--limit", "1")["data"] == before


def test_agent_commands_refused_by_the_server(shark):
    r = cli(shark, "agent", "list", "--status", "bogus")
    assert r.returncode == 1
    assert "status must be active or disabled (HTTP 400, invalid_request" in r.stderr, r.stderr
    for sub in ("revoke-all", "rotate-secret"):
        r = cli(shark, "agent", sub, "shark_agent_nope")
        assert r.returncode == 1, sub
        assert "no such agent (HTTP 404, not_found" in r.stderr, r.stderr
        assert r.stdout == ""


def test_user_revoke_agents_refused(shark):
    r = cli(shark, "user", "revoke-agents", "usr_nope")
    assert r.returncode == 1
    assert "HTTP 404, not_found" in r.stderr, r.stderr
    # another user's agent: refused, nothing revoked
    app = make_app(shark)
    owner, stranger = make_user(shark), make_user(shark)
    agent = make_agent(shark, app["id"], "--created-by", owner)
    tok = token_for(shark, agent)
    r = cli(shark, "user", "revoke-agents", stranger, "--agents", agent["id"])
    assert r.returncode == 1
    assert "HTTP 400, invalid_request" in r.stderr and agent["id"] in r.stderr, r.stderr
    assert r.stdout == ""
    assert introspect(shark, tok)["active"] is True


def test_revoke_pattern_refused(shark):
    agent = make_agent(shark, make_app(shark)["id"])
    tok = token_for(shark, agent)
    r = cli(shark, "revoke-pattern", "[", "--reason", "r")
    assert r.returncode == 1
    assert "no closing ]" in r.stderr and "HTTP 400, invalid_request" in r.stderr, r.stderr
    assert r.stdout == ""
    assert introspect(shark, tok)["active"] is True


def test_vault_rekey_refusals(shark):
    """The success is test_vault.py::test_rekey (a stopped server, then every secret
    opens under the new key)."""
    master = os.path.join(shark.data_dir, "master.key")
    with open(master) as f:
        key_before = f.read()
    good = os.path.join(CWD, uniq("key"))
    with open(good, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    bad = os.path.join(CWD, uniq("badkey"))
    with open(bad, "w") as f:
        f.write("not hex\n")
    empty = os.path.join(CWD, uniq("nodata"))
    os.mkdir(empty)
    cases = [
        ([], 2, "usage: shark vault rekey"),
        (["--new-master-key-file", os.path.join(CWD, "missing")], 1, "cannot read"),
        (["--new-master-key-file", bad], 1, "must hold 64 hex characters"),
        (["--new-master-key-file", good, "--data-dir", empty], 1, "no master key at"),
        (["--new-master-key-file", good], 1, "is in use: stop the server"),
    ]
    for args, rc, says in cases:
        if args and "--data-dir" not in args:
            args = args + ["--data-dir", shark.data_dir]
        r = cli(None, "vault", "rekey", *args)
        assert r.returncode == rc, (args, r.returncode, r.stderr)
        assert says in r.stderr, (args, r.stderr)
    with open(master) as f:
        assert f.read() == key_before
    assert shark.get("/api/v1/system/health", admin=True).status_code == 200


def test_version(shark):
    r = cli(None, "version")
    assert r.returncode == 0 and r.stderr == ""
    assert re.fullmatch(r"shark \d+\.\d+\.\d+\S*\n", r.stdout), r.stdout
    assert r.stdout.split()[1] == shark.get("/api/v1/system/health", admin=True).json()["version"]


@pytest.mark.parametrize("cmd", ["version", "help"])
def test_version_refuses_arguments(cmd):
    r = cli(None, cmd, "extra")
    assert r.returncode == 2, (r.returncode, r.stdout)
    assert "unexpected argument" in r.stderr


def test_unknown_command():
    r = cli(None, "frobnicate")
    assert r.returncode == 2
    assert r.stderr.startswith("shark: unknown command 'frobnicate'")
    assert "usage: shark <command>" in r.stderr
    assert r.stdout == ""
