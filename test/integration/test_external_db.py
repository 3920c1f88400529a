"""--db against an external PostgreSQL: concurrent first start, outage and recovery."""
import os
import threading
import time

import pytest
import requests

from conftest import Shark, assert_api_error


def test_two_processes_start_at_once_on_one_database(pg_cluster, shark_factory):
    pg_cluster.psql("CREATE DATABASE concur")
    ci = pg_cluster.conninfo("concur")
    # Nodes sharing a database share the key-encryption key.
    mk = {"SHARK_MASTER_KEY": os.urandom(32).hex()}
    a = shark_factory(db=ci, env=mk)
    b = shark_factory(db=ci, env=mk)
    a.spawn()
    b.spawn()
    a.wait_healthy(60)
    b.wait_healthy(60)
    a.wait_ready(30)
    b.wait_ready(30)
    rows = pg_cluster.psql("SELECT version, count(*) FROM schema_migrations GROUP BY version "
                           "ORDER BY version", "concur").split()
    assert rows, "no migrations recorded"
    for row in rows:
        version, n = row.split("|")
        assert n == "1", rows
    versions = [int(r.split("|")[0]) for r in rows]
    assert versions == sorted(set(versions))
    assert a.get("/readyz").json()["schema_version"] == versions[-1]
    assert b.get("/readyz").json()["schema_version"] == versions[-1]
    assert pg_cluster.psql("SELECT count(*) FROM admin_keys", "concur").strip() == "1"
    events = pg_cluster.psql("SELECT event FROM audit_events", "concur").split()
    assert events.count("system.first_boot") == 1
    assert events.count("system.started") == 2
    # Exactly one of them printed the banner and wrote the key file; it works on both.
    files = [s for s in (a, b) if os.path.exists(s.key_file)]
    assert len(files) == 1, [s.stdout() for s in (a, b)]
    key = files[0].admin_key
    banners = [s for s in (a, b) if "sk_live_" in s.stdout()]
    assert len(banners) == 1
    for s in (a, b):
        r = s.get("/api/v1/system/health", headers={"Authorization": "Bearer " + key})
        assert r.status_code == 200, r.text


def test_no_embedded_postgres_with_db(pg_cluster, shark_factory):
    pg_cluster.psql("CREATE DATABASE noembed")
    s = shark_factory(db=pg_cluster.conninfo("noembed"))
    s.start()
    assert not os.path.exists(os.path.join(s.data_dir, "pg", "data"))


def test_bad_db_fails_cleanly(shark_factory, tmp_path):
    s = shark_factory(db="host=/nonexistent-socket-dir port=1 user=postgres dbname=x")
    s.spawn()
    # Start-up connects before it listens: exit 1, saying why, never serving.
    assert s.proc.wait(30) == 1
    assert "connecting to the database" in s.stderr()
    assert "/nonexistent-socket-dir" in s.stderr()
    with pytest.raises(requests.ConnectionError):
        requests.get(s.url("/healthz"), timeout=5)


def test_postgres_killed_then_recovers(shark_factory):
    from conftest import PgCluster
    cluster = PgCluster()
    try:
        cluster.start()
        cluster.psql("CREATE DATABASE outage")
        s = shark_factory(db=cluster.conninfo("outage"))
        s.start()
        s.wait_ready(30)
        # Fresh connections, so every loop has checked (and remembers) the admin key.
        for _ in range(16):
            assert s.get("/api/v1/audit-logs", admin=True).status_code == 200

        cluster.kill()

        for _ in range(2):
            r = s.get("/readyz", timeout=10)
            assert r.status_code == 503, r.text
            assert r.json()["status"] == "unavailable"
            r = s.get("/api/v1/audit-logs", admin=True, timeout=10)
            assert r.status_code == 503, r.text
            assert_api_error(r.json(), "internal_error")
            # The remembered key still opens the health report, which says what is wrong.
            r = s.get("/api/v1/system/health", admin=True, timeout=10)
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "degraded"
            assert r.json()["database"]["status"] == "unavailable"
        # Liveness and metrics do not depend on the database.
        assert s.get("/healthz").status_code == 200
        assert s.get("/metrics").status_code == 200
        assert s.proc.poll() is None

        cluster.start()
        deadline = time.time() + 15
        ok_ready = ok_admin = False
        while time.time() < deadline and not (ok_ready and ok_admin):
            try:
                ok_ready = s.get("/readyz", timeout=5).status_code == 200
                ok_admin = s.get("/api/v1/audit-logs", admin=True,
                                 timeout=5).status_code == 200
            except requests.RequestException:
                pass
            time.sleep(0.3)
        assert ok_ready and ok_admin, "did not recover within 15 s of PostgreSQL returning"
        # Every pooled connection must be healthy again, not just one: hit it a lot.
        codes = [s.get("/api/v1/audit-logs", admin=True).status_code for _ in range(30)]
        assert set(codes) == {200}, codes
        assert s.get("/api/v1/system/health", admin=True).json()["database"]["status"] == "ok"
    finally:
        cluster.cleanup()


def test_concurrent_requests_during_outage_do_not_hang(shark_factory):
    from conftest import PgCluster
    cluster = PgCluster()
    try:
        cluster.start()
        cluster.psql("CREATE DATABASE outage2")
        s = shark_factory(db=cluster.conninfo("outage2"), extra=["--db-pool", "2"])
        s.start()
        s.wait_ready(30)
        key = s.admin_key
        results = []

        def worker():
            for _ in range(2):
                try:
                    r = requests.get(s.url("/api/v1/audit-logs"), timeout=10,
                                     headers={"Authorization": "Bearer " + key})
                    results.append(r.status_code)
                except requests.RequestException as e:
                    results.append(repr(e))

        cluster.kill()
        ts = [threading.Thread(target=worker) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        assert set(results) == {503}, results
        assert s.proc.poll() is None
        cluster.start()
        deadline = time.time() + 15
        while time.time() < deadline:
            if s.get("/readyz", timeout=5).status_code == 200:
                break
            time.sleep(0.3)
        assert s.get("/readyz").status_code == 200
    finally:
        cluster.cleanup()


def test_a_revocation_missed_during_a_postgres_restart_is_not_forgotten(shark_factory):
    """While the node's connections are down it hears no notifications: a
    token revoked before it reconnects must still be refused afterwards."""
    from conftest import PgCluster
    cluster = PgCluster()
    try:
        cluster.start()
        cluster.psql("CREATE DATABASE restart")
        s = shark_factory(db=cluster.conninfo("restart"))
        s.start()
        s.wait_ready(30)
        r = requests.post(s.url("/oauth/register"), timeout=10, headers=s.auth(), json={
            "client_name": "restart", "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic", "scope": "mcp:read"})
        assert r.status_code == 201, r.text
        auth = (r.json()["client_id"], r.json()["client_secret"])
        toks = [requests.post(s.url("/oauth/token"), auth=auth, timeout=10,
                              data={"grant_type": "client_credentials"}).json()["access_token"]
                for _ in range(2)]

        def introspect(tok):
            return requests.post(s.url("/oauth/introspect"), auth=auth, timeout=10,
                                 data={"token": tok})

        assert all(introspect(t).json()["active"] for t in toks)
        cluster.kill()
        cluster.start()
        # Straight into the database, before the node has reconnected (its
        # backoff is at least 100 ms): nobody of shark's is listening.
        cluster.psql("UPDATE oauth_tokens SET revoked_at = now() WHERE jti = (SELECT jti FROM "
                     "oauth_tokens ORDER BY issued_at LIMIT 1)", "restart")
        deadline = time.time() + 20
        answers = []
        while time.time() < deadline and len(answers) < 20:
            try:
                r = introspect(toks[0]), introspect(toks[1])
            except requests.RequestException:
                continue
            if all(x.status_code == 200 for x in r):
                answers.append(tuple(x.json()["active"] for x in r))
            time.sleep(0.1)
        assert len(answers) == 20, "did not recover within 20 s"
        # Exactly one of the two (the first issued) is revoked, in every answer.
        assert set(answers) in ({(False, True)}, {(True, False)}), answers
    finally:
        cluster.cleanup()
