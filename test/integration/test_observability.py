"""Access log, /metrics, /healthz, /readyz, /api/v1/system/health."""
import json
import re
import time

import requests

from conftest import RawConn, http_req, assert_api_error

LOG_FIELDS = {"time", "level", "msg", "request_id", "method", "route", "path", "client_ip",
              "status", "duration_ms", "bytes"}


def logged_as(r, rid):
    """An access line of the request with id rid: the client's (sent as X-Request-Id,
    logged beside ours) or ours (the response header when the client sent none)."""
    return r.get("msg") == "request" and rid in (r.get("client_request_id"), r.get("request_id"))


def wait_log(s, rid, timeout=3):
    deadline = time.time() + timeout
    while time.time() < deadline:
        recs = [r for r in s.log_records() if logged_as(r, rid)]
        if recs:
            time.sleep(0.1)
            return [r for r in s.log_records() if logged_as(r, rid)]
        time.sleep(0.05)
    return []


def test_healthz(shark):
    r = shark.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["Content-Type"].startswith("application/json")


def test_readyz(shark):
    r = shark.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    assert isinstance(body["schema_version"], int) and body["schema_version"] >= 1
    v = int(shark.psql("select max(version) from schema_migrations").strip())
    assert body["schema_version"] == v


def test_system_health(shark):
    r = shark.get("/api/v1/system/health", admin=True)
    assert r.status_code == 200
    b = r.json()
    assert b["status"] == "ok"
    v = requests.get  # noqa
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", b["version"])
    assert isinstance(b["uptime_seconds"], int) and b["uptime_seconds"] >= 0
    assert b["database"]["status"] == "ok"
    assert b["database"]["schema_version"] == shark.get("/readyz").json()["schema_version"]


def test_system_health_version_matches_cli(shark):
    import subprocess
    from conftest import SHARK_BIN
    out = subprocess.run([SHARK_BIN, "version"], capture_output=True, text=True).stdout
    assert shark.get("/api/v1/system/health", admin=True).json()["version"] in out


def test_system_health_uptime_grows(shark):
    a = shark.get("/api/v1/system/health", admin=True).json()["uptime_seconds"]
    time.sleep(1.1)
    b = shark.get("/api/v1/system/health", admin=True).json()["uptime_seconds"]
    assert b >= a + 1


def test_access_log_json_one_line_per_request(shark):
    rids = ["log-%d" % i for i in range(5)]
    for rid in rids:
        shark.get("/healthz", headers={"X-Request-Id": rid})
    for rid in rids:
        recs = wait_log(shark, rid)
        assert len(recs) == 1, (rid, recs)
        rec = recs[0]
        assert LOG_FIELDS <= set(rec), rec
        assert rec["method"] == "GET"
        assert rec["route"] == "/healthz"
        assert rec["path"] == "/healthz"
        assert rec["status"] == 200
        assert rec["client_ip"] == "127.0.0.1"
        assert isinstance(rec["duration_ms"], (int, float)) and rec["duration_ms"] >= 0
        assert isinstance(rec["bytes"], int) and rec["bytes"] > 0
        assert rec["level"] == "info"


def test_every_stderr_line_is_json(shark):
    for line in shark.stderr().splitlines():
        if line.strip():
            obj = json.loads(line)
            assert "time" in obj and "level" in obj and "msg" in obj


def test_access_log_pipelined_requests_each_logged(shark):
    c = RawConn(shark.port)
    try:
        c.send(b"".join(http_req("GET", "/readyz", {"X-Request-Id": "plog-%d" % i})
                        for i in range(3)))
        for _ in range(3):
            c.read_response()
    finally:
        c.close()
    for i in range(3):
        assert len(wait_log(shark, "plog-%d" % i)) == 1


def test_access_log_never_has_secrets(shark):
    key = shark.admin_key
    shark.get("/api/v1/audit-logs?token=secret123&limit=1", admin=True,
              headers={"X-Request-Id": "sec-1"})
    shark.get("/healthz?token=secret123", headers={"X-Request-Id": "sec-2"})
    shark.get("/api/v1/system/health", headers={"X-Request-Id": "sec-3",
                                                "Authorization": "Bearer sk_live_" + "W" * 43})
    shark.request("POST", "/healthz?token=secret123", data="password=hunter2body",
                  headers={"X-Request-Id": "sec-4", "Authorization": "Bearer " + key})
    shark.get("/nope?token=secret123", headers={"X-Request-Id": "sec-5"})
    c = RawConn(shark.port)
    try:
        c.send(b"GARBAGE ?token=secret123 sk_live_leak\r\n\r\n")
        c.read_response()
    finally:
        c.close()
    for rid in ["sec-1", "sec-2", "sec-3", "sec-4", "sec-5"]:
        recs = wait_log(shark, rid)
        assert len(recs) == 1, rid
        assert "?" not in recs[0]["path"]
    recs = wait_log(shark, "sec-1")
    assert recs[0]["path"] == "/api/v1/audit-logs"
    assert recs[0]["status"] == 200
    err = shark.stderr()
    assert key not in err
    assert key[8:] not in err
    assert "W" * 43 not in err
    assert "secret123" not in err
    assert "token=" not in err
    assert "hunter2" not in err
    assert "sk_live_leak" not in err


def test_access_log_unmatched_and_error_statuses(shark):
    shark.get("/api/v1/zzz", headers={"X-Request-Id": "st-404"})
    shark.request("DELETE", "/healthz", headers={"X-Request-Id": "st-405"})
    shark.get("/api/v1/audit-logs", headers={"X-Request-Id": "st-401"})
    assert wait_log(shark, "st-404")[0]["status"] == 404
    assert wait_log(shark, "st-405")[0]["status"] == 405
    assert wait_log(shark, "st-405")[0]["method"] == "DELETE"
    assert wait_log(shark, "st-401")[0]["status"] == 401


def test_access_log_malformed_request_logged_once(shark):
    before = len([r for r in shark.log_records() if r.get("status") == 400])
    c = RawConn(shark.port)
    try:
        c.send(b"NOT HTTP AT ALL\r\n\r\n")
        r = c.read_response()
        rid = r.header("X-Request-Id")
    finally:
        c.close()
    recs = wait_log(shark, rid)
    assert len(recs) == 1
    assert recs[0]["status"] == 400


def parse_metrics(text):
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)', line)
        assert m, "bad exposition line: %r" % line
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


def test_metrics_contents(shark):
    shark.get("/healthz")
    shark.get("/api/v1/system/health", admin=True)
    r = shark.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    text = r.text
    s = parse_metrics(text)
    assert "# TYPE shark_build_info gauge" in text
    assert any(k.startswith("shark_build_info{") and 'version="' in k for k in s)
    assert "# TYPE shark_http_requests_total counter" in text
    assert s['shark_http_requests_total{route="/healthz",method="GET",status="200"}'] >= 1
    assert s['shark_http_requests_total{route="/api/v1/system/health",method="GET",'
             'status="200"}'] >= 1
    assert "# TYPE shark_http_request_duration_seconds histogram" in text
    buckets = [(k, v) for k, v in s.items()
               if k.startswith("shark_http_request_duration_seconds_bucket")]
    assert buckets
    vals = [v for _, v in buckets]
    assert vals == sorted(vals)  # cumulative
    assert 'shark_http_request_duration_seconds_bucket{le="+Inf"}' in s
    assert s['shark_http_request_duration_seconds_bucket{le="+Inf"}'] == \
        s["shark_http_request_duration_seconds_count"]
    assert "shark_http_request_duration_seconds_sum" in s
    for st in ("idle", "in_use"):
        assert 'shark_db_pool_connections{state="%s"}' % st in s


def test_metrics_counter_increments(shark):
    key = 'shark_http_requests_total{route="/readyz",method="GET",status="200"}'
    a = parse_metrics(shark.get("/metrics").text).get(key, 0)
    for _ in range(3):
        shark.get("/readyz")
    # A request is counted once its response is written, which may land just
    # after the client has read it: allow the last one a moment.
    deadline = time.time() + 2
    while True:
        b = parse_metrics(shark.get("/metrics").text)[key]
        if b >= a + 3 or time.time() > deadline:
            break
        time.sleep(0.05)
    assert b == a + 3


def test_metrics_unmatched_routes_do_not_explode_cardinality(shark):
    for i in range(20):
        shark.get("/random/path/%d" % i)
    text = shark.get("/metrics").text
    assert "/random/path/" not in text


def test_metrics_unmatched_has_method_label(shark):
    shark.request("GET", "/api/v1/not-a-route")
    s = parse_metrics(shark.get("/metrics").text)
    unmatched = [k for k in s if k.startswith("shark_http_requests_total{") and
                 'status="404"' in k and "firstboot" not in k]
    assert unmatched
    for k in unmatched:
        assert 'method=""' not in k, k


def test_metrics_no_secrets(shark):
    shark.get("/healthz?token=secret123")
    text = shark.get("/metrics").text
    assert "secret123" not in text
    assert shark.admin_key not in text
