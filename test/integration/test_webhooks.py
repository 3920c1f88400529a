"""Webhooks: the admin API, signed deliveries from the transactional outbox, event
filters, retries (5xx, timeouts, Retry-After), redelivery, auto-disable, refusal of
private destinations, crash recovery, and two processes sharing one database.

A real HTTP receiver runs inside the test on loopback; signatures are checked here
independently with hmac/hashlib/base64 (Standard Webhooks)."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import signal
import threading
import time

import pytest
import requests

from conftest import Shark, assert_api_error, free_port

# Short schedules so retries happen within a test: three retries a second apart.
FAST = ["--webhook-allowed-hosts", "127.0.0.1", "--webhook-retry-schedule", "1,1,1",
        "--webhook-timeout", "2", "--webhook-disable-after", "6"]


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST. `plan` maps a path to a
    list of responses (status, headers, delay_s) used in order, then 200."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.hits = []
        self.answered = 0  # responses written in full
        self.plan = {}
        self.lock = threading.Lock()
        self.server = None
        self.thread = None

    def start(self):
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with rec.lock:
                    rec.hits.append({"path": self.path, "headers": dict(self.headers),
                                     "body": body, "at": time.time()})
                    steps = rec.plan.get(self.path)
                    step = steps.pop(0) if steps else (200, {}, 0)
                status, headers, delay = step
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    with rec.lock:
                        rec.answered += 1
                except OSError:
                    pass

            def log_message(self, *a):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def on(self, path):
        with self.lock:
            return [h for h in self.hits if h["path"] == path]

    def events(self, path):
        return [json.loads(h["body"])["type"] for h in self.on(path)]

    def wait(self, pred, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if pred(list(self.hits)):
                    return True
            time.sleep(0.05)
        with self.lock:
            return pred(list(self.hits))


def verify(secret, hit):
    """Standard Webhooks: v1,base64(HMAC-SHA256(key, id.timestamp.body))."""
    h = {k.lower(): v for k, v in hit["headers"].items()}
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_"):])
    assert len(key) == 32
    signed = ("%s.%s." % (h["webhook-id"], h["webhook-timestamp"])).encode() + hit["body"]
    expect = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert h["webhook-signature"] == "v1," + expect, h
    assert h["content-type"] == "application/json"
    assert h["webhook-id"].startswith("whd_")
    assert abs(int(h["webhook-timestamp"]) - time.time()) < 60
    return h


def hook_id_of(hit):
    return {k.lower(): v for k, v in hit["headers"].items()}["webhook-id"]


@pytest.fixture(scope="module")
def srv():
    s = Shark(extra=FAST)
    s.start()
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def rx():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def hooks(srv):
    """Creates webhooks and deletes them afterwards so '*' subscribers of one test
    do not see the next test's events."""
    made = []

    def make(url, events, shark=None, **extra):
        s = shark or srv
        r = s.request("POST", "/api/v1/admin/webhooks", admin=True,
                      json=dict(url=url, events=events, **extra))
        assert r.status_code == 201, r.text
        made.append((s, r.json()["id"]))
        return r.json()

    yield make
    for s, hid in made:
        s.request("DELETE", "/api/v1/admin/webhooks/" + hid, admin=True)


def new_app(s, name="app"):
    r = s.request("POST", "/api/v1/apps", admin=True, json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def new_agent(s, app_id, name="agent"):
    r = s.request("POST", "/api/v1/agents", admin=True,
                  json={"app_id": app_id, "name": name, "scopes": []})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def deliveries(s, hid, **q):
    r = s.get("/api/v1/admin/webhooks/%s/deliveries" % hid, admin=True, params=q)
    assert r.status_code == 200, r.text
    return r.json()


def wait_delivery(s, hid, pred, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        data = deliveries(s, hid)["data"]
        if data and pred(data):
            return data
        time.sleep(0.2)
    raise AssertionError("deliveries never matched: %r" % deliveries(s, hid))


def wait_settled(s, hid, timeout=20, final=("delivered", "failed")):
    """A bounded poll of the outbox until none of the webhook's deliveries can be
    sent again (each delivered or failed: the claim takes only pending, retrying
    or orphaned sending rows). Deliveries are written with their event by the
    audit trigger, so after the change's response the set is complete; once it
    has settled, every hit the receiver will ever get for it has arrived."""
    deadline = time.time() + timeout
    while True:
        data = deliveries(s, hid, limit=1000)["data"]
        if all(d["status"] in final for d in data):
            return data
        if time.time() > deadline:
            raise AssertionError("deliveries still in flight: %r" % data)
        time.sleep(0.1)


def hits_match(rx, path, rows):
    """The receiver saw exactly the attempts the outbox recorded."""
    assert len(rx.on(path)) == sum(d["attempts"] for d in rows), (path, rows)


# ---------------------------------------------------------------- admin API

def test_create_get_list_update_delete(srv, rx, hooks):
    w = hooks(rx.url("/crud"), ["app.created", "oauth.token.exchanged", "agent.*"],
              description="siem")
    assert w["id"].startswith("whk_")
    assert w["secret"].startswith("whsec_") and len(base64.b64decode(w["secret"][6:])) == 32
    # Dotted aliases are stored canonical.
    assert w["events"] == ["app.created", "oauth.token_exchanged", "agent.*"]
    assert w["enabled"] is True and w["description"] == "siem"

    got = srv.get("/api/v1/admin/webhooks/" + w["id"], admin=True)
    assert got.status_code == 200
    assert "secret" not in got.json() and "secret_sealed" not in got.json()
    assert got.json()["url"] == rx.url("/crud")

    lst = srv.get("/api/v1/admin/webhooks", admin=True, params={"limit": 1, "total": "true"}).json()
    assert lst["limit"] == 1 and lst["total"] >= 1
    assert len(lst["data"]) == 1

    r = srv.request("PATCH", "/api/v1/admin/webhooks/" + w["id"], admin=True,
                    json={"events": ["*"], "enabled": False, "description": "x"})
    assert r.status_code == 200, r.text
    assert r.json()["events"] == ["*"] and r.json()["enabled"] is False

    events = srv.get("/api/v1/audit-logs", admin=True,
                     params={"target_id": w["id"]}).json()["data"]
    names = {e["event"] for e in events}
    assert {"webhook.created", "webhook.updated"} <= names
    # The URL (often a credential itself) stays out of the audit trail.
    assert rx.url("/crud") not in json.dumps(events)

    assert srv.request("DELETE", "/api/v1/admin/webhooks/" + w["id"],
                       admin=True).status_code == 204
    r = srv.get("/api/v1/admin/webhooks/" + w["id"], admin=True)
    assert r.status_code == 404
    assert_api_error(r.json(), "not_found")
    assert srv.request("DELETE", "/api/v1/admin/webhooks/" + w["id"],
                       admin=True).status_code == 404


@pytest.mark.parametrize("body", [
    {"url": "ftp://example.com/x", "events": ["*"]},
    {"url": "not a url", "events": ["*"]},
    {"url": "https://example.com/" + "a" * 2000, "events": ["*"]},
    {"url": "https://example.com/x", "events": []},
    {"url": "https://example.com/x"},
    {"events": ["*"]},
    {"url": "https://example.com/x", "events": ["Oauth.Token"]},
    {"url": "https://example.com/x", "events": ["oauth"]},
    {"url": "https://example.com/x", "events": ["oauth..x"]},
    {"url": "https://example.com/x", "events": ["oauth.token.*"]},
    {"url": "https://example.com/x", "events": [7]},
    {"url": "http://10.1.2.3/x", "events": ["*"]},
    {"url": "http://169.254.169.254/latest/meta-data", "events": ["*"]},
    {"url": "http://[::1]:8080/x", "events": ["*"]},
    {"url": "http://100.64.0.1/x", "events": ["*"]},
])
def test_create_rejects_bad_input(srv, body):
    r = srv.request("POST", "/api/v1/admin/webhooks", admin=True, json=body)
    assert r.status_code == 400, (body, r.text)
    assert_api_error(r.json(), "invalid_request")


def test_admin_key_required(srv):
    r = srv.request("POST", "/api/v1/admin/webhooks",
                    json={"url": "https://example.com/x", "events": ["*"]})
    assert r.status_code == 401


# ------------------------------------------------------------------ delivery

def test_signed_delivery_and_filters(srv, rx, hooks):
    exact = hooks(rx.url("/f-exact"), ["app.created"])
    prefix = hooks(rx.url("/f-prefix"), ["agent.*"])
    alias = hooks(rx.url("/f-alias"), ["agent.secret.rotated"])
    every = hooks(rx.url("/f-all"), ["*"])
    app_id = new_app(srv, "filters")
    agent_id = new_agent(srv, app_id)
    r = srv.request("POST", "/api/v1/agents/%s/rotate-secret" % agent_id, admin=True)
    assert r.status_code == 200, r.text

    assert rx.wait(lambda h: len([x for x in h if x["path"] == "/f-all"]) >= 3 and
                   len([x for x in h if x["path"] == "/f-prefix"]) >= 2 and
                   len([x for x in h if x["path"] == "/f-alias"]) >= 1 and
                   len([x for x in h if x["path"] == "/f-exact"]) >= 1)
    for path, w in (("/f-exact", exact), ("/f-prefix", prefix), ("/f-alias", alias),
                    ("/f-all", every)):
        hits_match(rx, path, wait_settled(srv, w["id"]))
    assert rx.events("/f-exact") == ["app.created"]
    assert sorted(rx.events("/f-prefix")) == ["agent.created", "agent.secret_rotated"]
    assert rx.events("/f-alias") == ["agent.secret_rotated"]
    assert {"app.created", "agent.created", "agent.secret_rotated"} <= set(rx.events("/f-all"))

    for path, w in (("/f-exact", exact), ("/f-prefix", prefix), ("/f-alias", alias),
                    ("/f-all", every)):
        for hit in rx.on(path):
            verify(w["secret"], hit)
    body = json.loads(rx.on("/f-exact")[0]["body"])
    assert body["type"] == "app.created"
    assert body["timestamp"].endswith("Z")
    data = body["data"]
    assert data["event"] == "app.created" and data["target_id"] == app_id
    assert data["id"].startswith("audit_")
    assert set(data) >= {"id", "event", "actor_id", "actor_type", "target_id", "metadata",
                         "created_at"}
    d = deliveries(srv, exact["id"], total="true")
    assert d["total"] == 1
    row = d["data"][0]
    assert row["status"] == "delivered" and row["attempts"] == 1
    assert row["last_status_code"] == 200 and row["event_id"] == data["id"]
    assert deliveries(srv, exact["id"], status="failed", total="true")["total"] == 0


def test_test_endpoint_reaches_only_that_endpoint(srv, rx, hooks):
    a = hooks(rx.url("/t-a"), ["webhook.test"])
    b = hooks(rx.url("/t-b"), ["*"])
    r = srv.request("POST", "/api/v1/admin/webhooks/%s/test" % a["id"], admin=True)
    assert r.status_code == 202, r.text
    assert r.json()["event"] == "webhook.test"
    assert rx.wait(lambda h: any(x["path"] == "/t-a" for x in h))
    hits_match(rx, "/t-a", wait_settled(srv, a["id"]))
    rows_b = wait_settled(srv, b["id"])
    assert "webhook.test" not in [d["event"] for d in rows_b]
    hits_match(rx, "/t-b", rows_b)
    assert rx.events("/t-a") == ["webhook.test"]
    assert "webhook.test" not in rx.events("/t-b")
    verify(a["secret"], rx.on("/t-a")[0])
    assert srv.request("POST", "/api/v1/admin/webhooks/whk_nope/test",
                       admin=True).status_code == 404


def test_rotate_secret_signs_with_the_new_secret(srv, rx, hooks):
    w = hooks(rx.url("/rot"), ["webhook.test"])
    r = srv.request("POST", "/api/v1/admin/webhooks/%s/rotate-secret" % w["id"], admin=True)
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new != w["secret"] and new.startswith("whsec_")
    srv.request("POST", "/api/v1/admin/webhooks/%s/test" % w["id"], admin=True)
    assert rx.wait(lambda h: any(x["path"] == "/rot" for x in h))
    verify(new, rx.on("/rot")[0])
    with pytest.raises(AssertionError):
        verify(w["secret"], rx.on("/rot")[0])


def test_retries_after_5xx_keep_the_webhook_id(srv, rx, hooks):
    rx.plan["/r500"] = [(500, {}, 0), (503, {}, 0)]
    w = hooks(rx.url("/r500"), ["webhook.test"])
    srv.request("POST", "/api/v1/admin/webhooks/%s/test" % w["id"], admin=True)
    assert rx.wait(lambda h: len([x for x in h if x["path"] == "/r500"]) >= 3, 20)
    hits = rx.on("/r500")
    ids = {hook_id_of(h) for h in hits}
    assert len(ids) == 1, ids
    for h in hits:
        verify(w["secret"], h)
    # Backoff: about a second apart (+-20 % jitter, 1 s claim tick).
    assert hits[1]["at"] - hits[0]["at"] >= 0.7
    row = wait_delivery(srv, w["id"], lambda d: d[0]["status"] == "delivered")[0]
    assert row["attempts"] == 3 and row["last_status_code"] == 200
    attempts = srv.psql("SELECT attempt, status_code FROM webhook_attempts "
                        "WHERE delivery_id = '%s' ORDER BY attempt" % row["id"]).split()
    assert attempts == ["1|500", "2|503", "3|200"]


def test_retry_after_a_timeout(srv, rx, hooks):
    # The first answer comes after the 2 s --webhook-timeout.
    rx.plan["/slow"] = [(200, {}, 3.5)]
    w = hooks(rx.url("/slow"), ["webhook.test"])
    srv.request("POST", "/api/v1/admin/webhooks/%s/test" % w["id"], admin=True)
    row = wait_delivery(srv, w["id"], lambda d: d[0]["status"] == "delivered", 25)[0]
    assert row["attempts"] == 2
    err = srv.psql("SELECT error FROM webhook_attempts WHERE delivery_id = '%s' "
                   "AND attempt = 1" % row["id"]).strip()
    assert "timeout" in err.lower() or "timed out" in err.lower(), err


def test_retry_after_header_is_honoured(srv, rx, hooks):
    rx.plan["/r429"] = [(429, {"Retry-After": "2"}, 0)]
    w = hooks(rx.url("/r429"), ["webhook.test"])
    srv.request("POST", "/api/v1/admin/webhooks/%s/test" % w["id"], admin=True)
    assert rx.wait(lambda h: len([x for x in h if x["path"] == "/r429"]) >= 2, 20)
    hits = rx.on("/r429")
    assert hits[1]["at"] - hits[0]["at"] >= 2.0, hits[1]["at"] - hits[0]["at"]
    assert wait_delivery(srv, w["id"], lambda d: d[0]["status"] == "delivered")


def test_4xx_fails_at_once_and_redeliver_works(srv, rx, hooks):
    rx.plan["/r404"] = [(404, {}, 0)]
    w = hooks(rx.url("/r404"), ["webhook.test"])
    srv.request("POST", "/api/v1/admin/webhooks/%s/test" % w["id"], admin=True)
    row = wait_delivery(srv, w["id"], lambda d: d[0]["status"] == "failed")[0]
    assert row["attempts"] == 1 and row["last_status_code"] == 404
    # failed is final: nothing schedules another attempt for a plain 4xx
    assert wait_settled(srv, w["id"]) == [row]
    assert len(rx.on("/r404")) == 1
    r = srv.request("POST", "/api/v1/admin/webhooks/deliveries/%s/redeliver" % row["id"],
                    admin=True)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending"
    row2 = wait_delivery(srv, w["id"], lambda d: d[0]["status"] == "delivered")[0]
    assert row2["id"] == row["id"]
    hits = rx.on("/r404")
    assert len(hits) == 2 and hook_id_of(hits[0]) == hook_id_of(hits[1]) == row["id"]
    r = srv.request("POST", "/api/v1/admin/webhooks/deliveries/whd_nope/redeliver", admin=True)
    assert r.status_code == 404


def test_retries_run_out(srv, rx, hooks):
    rx.plan["/dead"] = [(500, {}, 0)] * 10
    w = hooks(rx.url("/dead"), ["webhook.test"])
    srv.request("POST", "/api/v1/admin/webhooks/%s/test" % w["id"], admin=True)
    row = wait_delivery(srv, w["id"], lambda d: d[0]["status"] == "failed", 25)[0]
    # One attempt plus the three retries of --webhook-retry-schedule 1,1,1.
    assert row["attempts"] == 4 and row["last_status_code"] == 500
    assert len(rx.on("/dead")) == 4


def test_failing_endpoint_is_disabled_and_stops_receiving(srv, rx, hooks):
    rx.plan["/down"] = [(500, {}, 0)] * 1000
    watcher = hooks(rx.url("/watch"), ["webhook.disabled"])
    w = hooks(rx.url("/down"), ["webhook.test", "app.created"])
    # Keep it failing for longer than --webhook-disable-after (6 s).
    deadline = time.time() + 40
    while time.time() < deadline:
        srv.request("POST", "/api/v1/admin/webhooks/%s/test" % w["id"], admin=True)
        if srv.get("/api/v1/admin/webhooks/" + w["id"], admin=True).json()["enabled"] is False:
            break
        time.sleep(1)
    got = srv.get("/api/v1/admin/webhooks/" + w["id"], admin=True).json()
    assert got["enabled"] is False and got["disabled_at"] and got["failing_since"]
    audit = srv.get("/api/v1/audit-logs", admin=True,
                    params={"event": "webhook.disabled", "target_id": w["id"]}).json()["data"]
    assert len(audit) == 1
    # The disabled event is itself delivered to its subscribers.
    assert rx.wait(lambda h: any(x["path"] == "/watch" for x in h))
    body = json.loads(rx.on("/watch")[0]["body"])
    assert body["type"] == "webhook.disabled" and body["data"]["target_id"] == w["id"]
    verify(watcher["secret"], rx.on("/watch")[0])
    # Nothing more reaches it: its queued deliveries failed with the disable, and
    # new events are not queued for it. A live subscriber to the same event is
    # the signal that the event went out.
    rows = wait_settled(srv, w["id"])
    hits_match(rx, "/down", rows)
    before, total = len(rx.on("/down")), len(rows)
    sentinel = hooks(rx.url("/after-disable"), ["app.created"])
    app_id = new_app(srv, "after-disable")
    assert deliveries(srv, w["id"], total="true")["total"] == total
    assert rx.wait(lambda h: any(x["path"] == "/after-disable" and
                                 json.loads(x["body"])["data"]["target_id"] == app_id
                                 for x in h))
    hits_match(rx, "/after-disable", wait_settled(srv, sentinel["id"]))
    assert len(rx.on("/down")) == before
    assert deliveries(srv, w["id"], total="true")["total"] == total
    r = srv.request("POST", "/api/v1/admin/webhooks/%s/test" % w["id"], admin=True)
    assert r.status_code == 409
    assert_api_error(r.json(), "conflict")
    # Re-enabling clears the failure record.
    r = srv.request("PATCH", "/api/v1/admin/webhooks/" + w["id"], admin=True,
                    json={"enabled": True})
    assert r.json()["enabled"] is True and r.json()["failing_since"] is None


def test_disabling_attempt_fails_its_own_delivery(shark_factory):
    """An endpoint disabled for failing: its queued deliveries fail (store/webhooks.h),
    including the one whose attempt disabled it."""
    rx = Receiver()
    rx.plan["/dis"] = [(500, {}, 0)] * 10
    rx.start()
    s = shark_factory(extra=["--webhook-allowed-hosts", "127.0.0.1",
                             "--webhook-retry-schedule", "60", "--webhook-disable-after", "1"])
    s.start()
    try:
        r = s.request("POST", "/api/v1/admin/webhooks", admin=True,
                      json={"url": rx.url("/dis"), "events": ["webhook.test"]})
        assert r.status_code == 201, r.text
        hid = r.json()["id"]
        s.request("POST", "/api/v1/admin/webhooks/%s/test" % hid, admin=True)
        wait_delivery(s, hid, lambda d: d[0]["status"] == "retrying")  # failing since now
        time.sleep(1.2)  # past --webhook-disable-after
        s.request("POST", "/api/v1/admin/webhooks/%s/test" % hid, admin=True)
        assert rx.wait(lambda h: len(h) == 2)
        deadline = time.time() + 10
        while s.get("/api/v1/admin/webhooks/" + hid, admin=True).json()["enabled"]:
            assert time.time() < deadline, "never disabled"
            time.sleep(0.1)
        rows = wait_settled(s, hid, timeout=5)
        assert [d["status"] for d in rows] == ["failed", "failed"], rows
        queued = [l for l in s.get("/metrics").text.splitlines()
                  if l.startswith("shark_webhook_queued ")]
        assert queued == ["shark_webhook_queued 0"], queued
    finally:
        rx.stop()


def test_metrics(srv, rx, hooks):
    w = hooks(rx.url("/m"), ["webhook.test"])
    srv.request("POST", "/api/v1/admin/webhooks/%s/test" % w["id"], admin=True)
    wait_delivery(srv, w["id"], lambda d: d[0]["status"] == "delivered")
    text = srv.get("/metrics").text
    delivered = [l for l in text.splitlines()
                 if l.startswith('shark_webhook_deliveries_total{result="delivered"}')]
    assert delivered and int(delivered[0].split()[-1]) >= 1
    assert 'shark_webhook_deliveries_total{result="retried"}' in text
    assert 'shark_webhook_deliveries_total{result="failed"}' in text
    assert "\nshark_webhook_queued " in text
    assert 'shark_webhook_delivery_seconds_bucket{le="+Inf"}' in text
    assert "shark_webhook_delivery_seconds_count" in text


# ------------------------------------------------------ outbound safety

def test_private_destinations_refused_without_allow_list(shark_factory):
    s = shark_factory(extra=["--webhook-retry-schedule", "1,1"])
    s.start()
    rx = Receiver().start()
    try:
        for url in (rx.url("/x"), "http://192.168.1.10/x", "http://[fe80::1]/x",
                    "http://0.0.0.0:%d/x" % rx.port):
            r = s.request("POST", "/api/v1/admin/webhooks", admin=True,
                          json={"url": url, "events": ["*"]})
            assert r.status_code == 400, (url, r.text)
            assert "webhook-allowed-hosts" in r.json()["error"]["message"]
        # A name is accepted, but it resolves to loopback: refused when connecting,
        # failed at once (retrying cannot make the address public).
        r = s.request("POST", "/api/v1/admin/webhooks", admin=True,
                      json={"url": "http://localhost:%d/x" % rx.port, "events": ["*"]})
        assert r.status_code == 201, r.text
        hid = r.json()["id"]
        s.request("POST", "/api/v1/admin/webhooks/%s/test" % hid, admin=True)
        row = wait_delivery(s, hid, lambda d: d[0]["status"] == "failed")[0]
        assert row["attempts"] == 1
        assert "refused" in row["last_error"] and "loopback" in row["last_error"]
        # every delivery (the test, and its own webhook.created) failed at once, and
        # failed is final: no later attempt
        rows = wait_settled(s, hid)
        assert [(d["status"], d["attempts"]) for d in rows] == [("failed", 1)] * len(rows), rows
        assert rx.hits == []
    finally:
        rx.stop()


# ------------------------------------------------------- durability

def test_crash_recovery_delivers_every_event(shark_factory):
    port = free_port()
    s = shark_factory(extra=["--webhook-allowed-hosts", "127.0.0.1",
                             "--webhook-retry-schedule", ",".join(["1"] * 30),
                             "--webhook-timeout", "2"])
    s.start()
    r = s.request("POST", "/api/v1/admin/webhooks", admin=True,
                  json={"url": "http://127.0.0.1:%d/crash" % port, "events": ["app.created"]})
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    # The receiver is down: deliveries are queued and fail their first attempts.
    apps = {new_app(s, "crash-%d" % i) for i in range(5)}
    hid = r.json()["id"]
    wait_delivery(s, hid, lambda d: len(d) == 5 and all(x["attempts"] >= 1 and
                                                        x["status"] != "delivered" for x in d))
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait(10)
    s.wait_embedded_pg_gone()
    rx = Receiver(port).start()
    try:
        s.start()
        assert rx.wait(lambda h: apps <= {json.loads(x["body"])["data"]["target_id"]
                                          for x in h}, 60), [x["body"] for x in rx.hits]
        for hit in rx.hits:
            verify(secret, hit)
    finally:
        rx.stop()


def test_two_processes_deliver_each_event_once(pg_cluster, shark_factory):
    pg_cluster.psql("CREATE DATABASE hooks2")
    ci = pg_cluster.conninfo("hooks2")
    # Nodes sharing a database share the key-encryption key (it seals the secrets).
    env = {"SHARK_MASTER_KEY": os.urandom(32).hex()}
    a = shark_factory(db=ci, env=env, extra=FAST)
    b = shark_factory(db=ci, env=env, extra=FAST)
    a.spawn()
    b.spawn()
    a.wait_healthy(60)
    b.wait_healthy(60)
    a.wait_ready(30)
    b.wait_ready(30)
    key = [s for s in (a, b) if os.path.exists(s.key_file)][0].admin_key
    auth = {"Authorization": "Bearer " + key}
    rx = Receiver().start()
    try:
        r = requests.post(a.url("/api/v1/admin/webhooks"), headers=auth, timeout=10,
                          json={"url": rx.url("/two"), "events": ["app.created"]})
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        n = 30
        for i in range(n):
            s = (a, b)[i % 2]
            r = requests.post(s.url("/api/v1/apps"), headers=auth, json={"name": "n%d" % i},
                              timeout=10)
            assert r.status_code == 201, r.text
        assert rx.wait(lambda h: len({hook_id_of(x) for x in h}) >= n, 30)
        # Every delivery settled after one claim (a claim counts the attempt, so a
        # row taken by both nodes would show attempts 2): no send is still to come.
        deadline = time.time() + 20
        while True:
            rows = pg_cluster.psql("SELECT status, attempts FROM webhook_deliveries",
                                   "hooks2").split()
            if all(x.startswith(("delivered|", "failed|")) for x in rows) or \
                    time.time() > deadline:
                break
            time.sleep(0.1)
        assert rows == ["delivered|1"] * n, rows
        assert pg_cluster.psql("SELECT count(*) FROM webhook_attempts", "hooks2").strip() == str(n)
        ids = [hook_id_of(x) for x in rx.hits]
        assert len(ids) == n and len(set(ids)) == n, sorted(ids)
        for hit in rx.hits:
            verify(secret, hit)
        st = pg_cluster.psql("SELECT count(*) FROM webhook_deliveries "
                             "WHERE status = 'delivered'", "hooks2").strip()
        assert st == str(n)
    finally:
        rx.stop()


def test_sigterm_with_deliveries_in_flight_exits_cleanly(shark_factory):
    rx = Receiver()
    rx.plan["/hang"] = [(200, {}, 8)] * 5
    rx.start()
    s = shark_factory(extra=["--webhook-allowed-hosts", "127.0.0.1",
                             "--webhook-timeout", "10", "--shutdown-timeout", "2"])
    s.start()
    try:
        r = s.request("POST", "/api/v1/admin/webhooks", admin=True,
                      json={"url": rx.url("/hang"), "events": ["app.created"]})
        assert r.status_code == 201
        new_app(s, "inflight")
        assert rx.wait(lambda h: len(h) >= 1, 10)
        assert s.stop() == 0
        # It did not wait for the attempt (the receiver is still holding its
        # answer back, 8 s, under the 10 s attempt timeout): --shutdown-timeout cut it.
        assert rx.answered == 0
    finally:
        rx.stop()
