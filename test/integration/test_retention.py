"""Retention (issue 18): the audit log is partitioned by month and
--audit-retention drops whole partitions; expired codes, sessions, PAR
requests, device codes, refresh tokens and finished webhook deliveries are
purged in bounded batches by the upkeep job; `shark audit export` streams a
window of the log as JSON lines for archiving."""
import json
import subprocess
import time
import uuid

import pytest

from test_agents import api, make_agent, make_app, make_user, token_ok
from test_cli import cli, ok


def q(shark, sql):
    return shark.psql(sql).strip()


def partitions(shark):
    return q(shark, "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i "
                    "JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'audit_events'::regclass").split(",")


def test_audit_log_is_partitioned_by_month_ahead(shark):
    assert q(shark, "SELECT relkind FROM pg_class WHERE relname = 'audit_events'") == "p"
    parts = partitions(shark)
    assert "audit_events_before" in parts
    # two months ahead exist, named by month
    ahead = q(shark, "SELECT to_char((date_trunc('month', now() AT TIME ZONE 'UTC') "
                     "+ interval '2 months'), 'YYYYMM')")
    assert "audit_events_" + ahead in parts
    # events still land and list as before
    app = make_app(shark)
    r = api(shark, "GET", "/api/v1/audit-logs", params={"target_id": app["id"]})
    assert [e["event"] for e in r.json()["data"]] == ["app.created"]


def old_month(shark, rows):
    """Carves 2020-01 out of the first partition and files `rows` events in it."""
    upper = q(shark, "SELECT (regexp_match(pg_get_expr(relpartbound, oid), "
                     "'TO \\(''([^'']+)''\\)'))[1] FROM pg_class WHERE relname = 'audit_events_before'")
    shark.psql("ALTER TABLE audit_events DETACH PARTITION audit_events_before; "
               "CREATE TABLE audit_events_202001 PARTITION OF audit_events "
               "FOR VALUES FROM ('2020-01-01 00:00+00') TO ('2020-02-01 00:00+00'); "
               "ALTER TABLE audit_events ATTACH PARTITION audit_events_before "
               "FOR VALUES FROM ('2020-02-01 00:00+00') TO ('%s'); "
               "INSERT INTO audit_events (id, event, created_at) SELECT 'audit_old' || g, "
               "'test.old', '2020-01-15 12:00+00' FROM generate_series(1, %d) g" % (upper, rows))


def test_retention_zero_keeps_and_the_default_drops_old_months(shark):
    old_month(shark, 3)
    assert q(shark, "SELECT shark_maintain_audit(0)") == "0"
    assert "audit_events_202001" in partitions(shark)
    assert q(shark, "SELECT count(*) FROM audit_events WHERE event = 'test.old'") == "3"
    # the upkeep job drops it when the server starts (default 400 days)
    shark.restart()
    deadline = time.time() + 60
    while "audit_events_202001" in partitions(shark):
        assert time.time() < deadline, "the old partition was never dropped"
        time.sleep(0.5)
    assert q(shark, "SELECT count(*) FROM audit_events WHERE event = 'test.old'") == "0"
    assert "audit_events_before" in partitions(shark)
    r = api(shark, "GET", "/api/v1/audit-logs", params={"limit": 5})
    assert r.status_code == 200 and r.json()["data"]


def test_audit_retention_flag_bounds(shark_factory):
    for bad in ("-1", "x", "36501"):
        s = shark_factory(extra=["--audit-retention", bad])
        s.spawn()
        assert s.proc.wait(30) != 0
        assert "audit-retention" in s.all_stderr()


def expired_rows(shark, n):
    """SQL filing n expired PAR requests, device codes, refresh tokens, codes and
    sessions, n old finished webhook deliveries, and one live row of each that must
    stay; and the query counting them."""
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    cid, tag = agent["id"], uuid.uuid4().hex[:10]
    uid = make_user(shark)
    hook = api(shark, "POST", "/api/v1/admin/webhooks",
               json={"url": "https://hooks.example.test/x", "events": ["webhook.test"]})
    assert hook.status_code == 201, hook.text
    age = "now() - CASE WHEN g = 0 THEN interval '-1 hour' ELSE interval '2 days' END"
    rows = (
        "INSERT INTO auth_requests (id, client_id, params, expires_at) SELECT "
        "'areq_{t}_' || g, '{c}', '{{}}', {a} FROM generate_series(0, {n}) g;\n"
        "INSERT INTO device_codes (device_code_hash, user_code, client_id, expires_at) SELECT "
        "md5('{t}' || g), upper(substr(md5('{t}' || g), 1, 8)), '{c}', {a} "
        "FROM generate_series(0, {n}) g;\n"
        "INSERT INTO refresh_tokens (token_hash, family_id, client_id, subject, expires_at) "
        "SELECT md5('r{t}' || g), 'fam_{t}', '{c}', '{c}', {a} FROM generate_series(0, {n}) g;\n"
        "INSERT INTO auth_codes (code_hash, client_id, user_id, redirect_uri, code_challenge, "
        "auth_time, expires_at) SELECT md5('c{t}' || g), '{c}', '{u}', 'https://x.test/cb', "
        "'c', now(), {a} FROM generate_series(0, {n}) g;\n"
        "INSERT INTO sessions (id_hash, user_id, public_id, csrf_token, idle_expires_at, "
        "absolute_expires_at) SELECT md5('s{t}' || g), '{u}', 'ses_{t}_' || g, 'x', now(), {a} "
        "FROM generate_series(0, {n}) g;\n"
        "INSERT INTO webhook_deliveries (id, webhook_id, event, payload, status, created_at) "
        "SELECT 'whd_{t}_' || g, '{h}', 'webhook.test', '{{}}', CASE WHEN g < 0 THEN 'pending' "
        "WHEN g = 0 THEN 'delivered' ELSE 'failed' END, now() - CASE WHEN g = 0 "
        "THEN interval '1 day' ELSE interval '31 days' END FROM generate_series(-1, {n}) g;\n"
    ).format(c=cid, u=uid, n=n, t=tag, a=age, h=hook.json()["id"])
    counts = (
        "SELECT (SELECT count(*) FROM auth_requests WHERE client_id = '{c}') || ' ' || "
        "(SELECT count(*) FROM device_codes WHERE client_id = '{c}') || ' ' || "
        "(SELECT count(*) FROM refresh_tokens WHERE client_id = '{c}') || ' ' || "
        "(SELECT count(*) FROM auth_codes WHERE client_id = '{c}') || ' ' || "
        "(SELECT count(*) FROM sessions WHERE public_id LIKE 'ses\\_{t}\\_%') || ' ' || "
        "(SELECT count(*) FROM webhook_deliveries WHERE id LIKE 'whd\\_{t}\\_%');\n"
    ).format(c=cid, t=tag)
    return rows, counts


def script(shark, sql):
    """Runs sql in one psql session; the rows of its SELECTs, one a line."""
    r = subprocess.run(["psql", "host=%s dbname=shark user=shark" % shark.pg_socket_dir, "-X",
                        "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"], input=sql,
                       capture_output=True, text=True, timeout=60, env=shark.pg_env())
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_purge_is_bounded_and_keeps_what_is_live(shark):
    """In one transaction the server's own upkeep cannot see, so its purges do not
    race the counts."""
    rows, counts = expired_rows(shark, 5)
    out = script(shark, "BEGIN;\n" + rows + counts + "SELECT shark_purge_expired(2, 30);\n" +
                 counts + "SELECT shark_purge_expired(1000, 30);\n" + counts +
                 "SELECT shark_purge_expired(1000, 30);\nROLLBACK;\n")
    assert out[0].split() == ["6"] * 5 + ["7"]
    assert out[1] == "2"  # at most `lim` of each kind per statement
    assert out[2].split() == ["4"] * 5 + ["5"]
    assert out[3] == "3"
    # the live row of each kind stays; a pending delivery and a recent one stay
    assert out[4].split() == ["1"] * 5 + ["2"]
    assert out[5] == "0"


def test_webhook_retention_zero_keeps_deliveries(shark):
    rows, counts = expired_rows(shark, 2)
    out = script(shark, "BEGIN;\n" + rows + "SELECT shark_purge_expired(1000, 0);\n" + counts +
                 "ROLLBACK;\n")
    assert out[1].split() == ["1"] * 5 + ["4"]


def test_the_upkeep_job_purges(shark):
    rows, counts = expired_rows(shark, 3)
    script(shark, rows)
    deadline = time.time() + 60
    while script(shark, counts)[0].split() != ["1"] * 5 + ["2"]:
        assert time.time() < deadline, script(shark, counts)
        time.sleep(0.5)


# -- shark audit export ------------------------------------------------------------------------

def test_audit_export_streams_the_window_as_json_lines(shark):
    app = make_app(shark)
    agent = make_agent(shark, app["id"])
    since = q(shark, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    for _ in range(5):
        token_ok(shark, agent["id"], agent["client_secret"])
    until = q(shark, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC' + interval '1 ms', "
                     "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    want = int(q(shark, "SELECT count(*) FROM audit_events WHERE created_at >= '%s' "
                        "AND created_at < '%s'" % (since, until)))
    assert want >= 5
    r = ok(shark, "audit", "export", "--since", since, "--until", until)
    lines = r.stdout.splitlines()
    assert len(lines) == want
    evs = [json.loads(line) for line in lines]
    assert all(since <= e["created_at"] < until for e in evs)
    assert len({e["id"] for e in evs}) == want
    assert sum(e["event"] == "oauth.token_issued" for e in evs) == 5
    # more than one page (1000 a page) streams across pages
    shark.psql("INSERT INTO audit_events (id, event, created_at) SELECT 'audit_exp' || g, "
               "'test.export', '2021-06-01 00:00+00'::timestamptz + g * interval '1 ms' "
               "FROM generate_series(1, 1500) g")
    r = ok(shark, "audit", "export", "--since", "2021-06-01T00:00:00Z",
           "--until", "2021-06-02T00:00:00Z", "--event", "test.export")
    ids = [json.loads(line)["id"] for line in r.stdout.splitlines()]
    assert len(ids) == 1500 == len(set(ids))


@pytest.mark.parametrize("args,msg", [(["--since", "2021-01-01T00:00:00Z"], "missing --until"),
                                      (["--until", "2021-01-01T00:00:00Z"], "missing --since")])
def test_audit_export_needs_both_ends(shark, args, msg):
    r = cli(shark, "audit", "export", *args)
    assert r.returncode == 2 and msg in r.stderr and r.stdout == ""


def test_audit_export_refuses_a_bad_timestamp(shark):
    r = cli(shark, "audit", "export", "--since", "yesterday", "--until", "2021-01-01T00:00:00Z")
    assert r.returncode != 0 and r.stdout == ""
