"""Embedded PostgreSQL supervision and outage behaviour (issue 19, point 1).

The embedded cluster is restarted when it dies (with backoff, logged, counted
in /metrics); stale locks left by a dead or zombie owner do not stop a start;
/readyz reports the outage; during a known outage requests fail fast with 503
and Retry-After; a chunk announced larger than the body limit gets 413 at once.
Real shark, real PostgreSQL, real sockets.
"""
import os
import signal
import stat
import time

import pytest
import requests

from conftest import PgCluster, RawConn, assert_api_error, http_req, pid_alive

# The queue wait is made long: a 503 that arrives well inside it can only
# come from the fail-fast path, whatever the machine's speed.
LONG_WAIT = "60"


def metric(s, name):
    for line in s.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def cc_client(s):
    r = requests.post(s.url("/oauth/register"), timeout=15, headers=s.auth(), json={
        "client_name": "supervision", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic", "scope": "mcp:read"})
    assert r.status_code == 201, r.text
    return r.json()["client_id"], r.json()["client_secret"]


def token(s, auth):
    r = requests.post(s.url("/oauth/token"), auth=auth, timeout=15,
                      data={"grant_type": "client_credentials"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def active(s, auth, tok):
    r = requests.post(s.url("/oauth/introspect"), auth=auth, timeout=15, data={"token": tok})
    assert r.status_code == 200, r.text
    return r.json()["active"]


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError("%s not seen within %ss" % (what, timeout))


def test_killed_embedded_postgres_is_restarted(shark_factory):
    s = shark_factory(extra=["--db-wait", LONG_WAIT])
    s.start()
    s.wait_ready(60)
    auth = cc_client(s)
    before = token(s, auth)
    assert metric(s, "shark_embedded_db_up") == 1
    # Counted from here: on a machine shared with other clusters a death
    # before the kill below (seen once in CI, under a load of 14) is not this
    # test's subject; the kill must add exactly one death and one restart.
    deaths0 = metric(s, "shark_embedded_db_deaths_total")
    restarts0 = metric(s, "shark_embedded_db_restarts_total")
    pid = s.embedded_pg_pid()
    data = s.pgdata
    # Keep it down for a while: postgres cannot enter its data directory, so
    # every restart attempt fails until the mode is put back.
    os.chmod(data, 0)
    try:
        os.kill(pid, signal.SIGKILL)
        # The supervisor's own view: a query on a dying pool connection can
        # answer 503 first, and a backend that has not yet noticed its
        # postmaster died can still answer the next one (seen once in CI).
        wait_for(lambda: metric(s, "shark_embedded_db_up") == 0, 30, "supervisor saw the death")
        r = s.get("/readyz", timeout=10)
        assert r.status_code == 503 and r.json()["status"] == "unavailable", r.text
        assert r.headers.get("Retry-After") == "1"
        # Liveness stays up: shark itself is fine and heals the database.
        assert s.get("/healthz").status_code == 200
        # Connections die with their backends a moment after the postmaster;
        # once the pool has seen that, nothing waits out the 60 s queue.
        wait_for(lambda: requests.post(s.url("/oauth/token"), auth=auth, timeout=30,
                                       data={"grant_type": "client_credentials"}
                                       ).status_code == 503, 30, "token 503")
        t0 = time.time()
        r = requests.post(s.url("/oauth/token"), auth=auth, timeout=30,
                          data={"grant_type": "client_credentials"})
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "temporarily_unavailable"
        assert r.headers.get("Retry-After") == "1"
        r = s.get("/api/v1/audit-logs", admin=True, timeout=30)
        assert r.status_code == 503, r.text
        assert_api_error(r.json(), "internal_error")
        assert r.headers.get("Retry-After") == "1"
        assert time.time() - t0 < 30, "requests waited out the queue instead of failing fast"
        wait_for(lambda: metric(s, "shark_embedded_db_up") == 0, 30, "shark_embedded_db_up 0")
        wait_for(lambda: "embedded PostgreSQL restart failed" in s.stderr(), 60,
                 "a logged failed restart")
    finally:
        os.chmod(data, stat.S_IRWXU)
    wait_for(lambda: s.get("/readyz", timeout=10).status_code == 200, 90, "recovery")
    assert not pid_alive(pid)
    assert s.embedded_pg_pid() != pid
    assert metric(s, "shark_embedded_db_up") == 1
    assert metric(s, "shark_embedded_db_deaths_total") == deaths0 + 1
    assert metric(s, "shark_embedded_db_restarts_total") == restarts0 + 1
    recs = [r for r in s.log_records() if "embedded PostgreSQL" in r.get("msg", "")]
    msgs = [r["msg"] for r in recs]
    assert "embedded PostgreSQL died; restarting" in msgs, msgs
    assert "embedded PostgreSQL restarted" in msgs, msgs
    died = next(r for r in recs if r["msg"] == "embedded PostgreSQL died; restarting")
    assert died.get("reason") == "killed by signal 9", died
    # Nothing committed before was lost, and the pool serves again everywhere.
    wait_for(lambda: requests.post(s.url("/oauth/introspect"), auth=auth, timeout=10,
                                   data={"token": before}).status_code == 200, 30,
             "introspection after recovery")
    assert active(s, auth, before)
    for _ in range(20):
        assert active(s, auth, token(s, auth))
    assert s.proc.poll() is None
    assert s.stop() == 0


def test_a_second_death_is_restarted_too(shark_factory):
    s = shark_factory()
    s.start()
    s.wait_ready(60)
    for n in (1, 2):
        pid = s.embedded_pg_pid()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: metric(s, "shark_embedded_db_restarts_total") == n, 90,
                 "restart %d" % n)
        wait_for(lambda: s.get("/readyz", timeout=10).status_code == 200, 60, "ready %d" % n)
    assert s.stop() == 0
    # The last postmaster is stopped with shark, not left behind.
    assert s.embedded_pg_pid() is None or not pid_alive(s.embedded_pg_pid())


def zombie():
    """A child that has exited and is never reaped: its pid stays taken."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    deadline = time.time() + 10
    while pid_alive(pid) and time.time() < deadline:
        time.sleep(0.02)
    assert not pid_alive(pid) and os.path.exists("/proc/%d" % pid)
    return pid


def dead_pid():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


@pytest.mark.parametrize("owner", ["zombie", "dead"])
def test_stale_locks_of_a_gone_postmaster_are_cleared(shark_factory, owner):
    s = shark_factory()
    s.start()
    s.wait_ready(60)
    assert s.stop() == 0
    s.wait_embedded_pg_gone()
    pid = zombie() if owner == "zombie" else dead_pid()
    try:
        # What a postmaster killed together with shark leaves behind.
        lock = os.path.join(s.pg_socket_dir, ".s.PGSQL.5432.lock")
        for path in (lock, os.path.join(s.pgdata, "postmaster.pid")):
            with open(path, "w") as f:
                f.write("%d\n%s\n0\n5432\n" % (pid, s.pgdata))
        s.start()
        s.wait_ready(60)
        with open(lock) as f:
            assert int(f.readline()) == s.embedded_pg_pid()
        assert "removed a stale socket lock" in s.stderr()
        assert s.stop() == 0
    finally:
        if owner == "zombie":
            os.waitpid(pid, 0)


def test_external_outage_fails_fast_with_retry_after(shark_factory):
    cluster = PgCluster()
    try:
        cluster.start()
        cluster.psql("CREATE DATABASE fastfail")
        s = shark_factory(db=cluster.conninfo("fastfail"), extra=["--db-wait", LONG_WAIT])
        s.start()
        s.wait_ready(30)
        auth = cc_client(s)
        cluster.kill()
        # The pool learns of the outage from its dropped connections and the
        # failed reconnects; from then on nothing waits out the 60 s queue.
        wait_for(lambda: s.get("/readyz", timeout=30).status_code == 503, 30, "/readyz 503")
        t0 = time.time()
        for _ in range(5):
            r = requests.post(s.url("/oauth/token"), auth=auth, timeout=30,
                              data={"grant_type": "client_credentials"})
            assert r.status_code == 503, r.text
            assert r.headers.get("Retry-After") == "1"
            r = s.get("/api/v1/audit-logs", admin=True, timeout=30)
            assert r.status_code == 503, r.text
            assert r.headers.get("Retry-After") == "1"
        assert time.time() - t0 < 30
        cluster.start()
        wait_for(lambda: s.get("/readyz", timeout=10).status_code == 200, 30, "recovery")
        # Each loop's pool leaves its outage at its own next reconnect: until
        # then a request on that loop is a fast 503 with Retry-After, which a
        # client retries, as here.
        def issued_and_active():
            r = requests.post(s.url("/oauth/token"), auth=auth, timeout=30,
                              data={"grant_type": "client_credentials"})
            if r.status_code != 200:
                assert r.status_code == 503 and r.headers.get("Retry-After") == "1", r.text
                return False
            i = requests.post(s.url("/oauth/introspect"), auth=auth, timeout=30,
                              data={"token": r.json()["access_token"]})
            if i.status_code != 200:
                assert i.status_code == 503 and i.headers.get("Retry-After") == "1", i.text
                return False
            return i.json()["active"] is True
        wait_for(issued_and_active, 30, "a token issued and introspected after recovery")
    finally:
        cluster.cleanup()


def test_oversized_chunk_gets_413_at_once(shark):
    c = RawConn(shark.port, timeout=8)
    try:
        # 16 MB announced in one chunk, only a few bytes sent: the answer must
        # not wait for the body (that ended in 408 after the request timeout).
        c.send(http_req("POST", "/oauth/token", {"Transfer-Encoding": "chunked",
                                                 "Content-Type":
                                                 "application/x-www-form-urlencoded"})
               + b"1000000\r\ngrant_type=")
        r = c.read_response()
        assert r.status == 413, r
        assert r.json()["error"] == "payload_too_large", r
        assert c.is_closed(5)
    finally:
        c.close()


def test_chunks_adding_up_past_the_limit_get_413(shark):
    c = RawConn(shark.port, timeout=8)
    try:
        head = http_req("POST", "/api/v1/agents", {"Transfer-Encoding": "chunked",
                                                   "Content-Type": "application/json"})
        part = b"x" * (900 * 1024)
        # The second chunk's header alone takes the body past 1 MB.
        c.send(head + b"%x\r\n" % len(part) + part + b"\r\n" + b"%x\r\n" % (200 * 1024) + b"x")
        r = c.read_response()
        assert r.status == 413, r
    finally:
        c.close()


def test_chunked_body_within_the_limit_is_served(shark):
    c = RawConn(shark.port, timeout=8)
    try:
        body = b"grant_type=client_credentials"
        c.send(http_req("POST", "/oauth/token", {"Transfer-Encoding": "chunked",
                                                 "Content-Type":
                                                 "application/x-www-form-urlencoded"})
               + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
        r = c.read_response()
        # No client credentials: the body was read whole and judged.
        assert r.status == 401, r
        assert r.json()["error"] == "invalid_client"
    finally:
        c.close()
