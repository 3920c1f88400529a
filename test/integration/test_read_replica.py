"""--db-read: listings and audit reads from a streaming replica (issue 19,
point 6). A real hot standby (pg_basebackup -R) of a real primary.

Staleness rules shown here: listings may lag the primary by the replica's
replay lag (paused replay hides a new app from the listing); token checks and
revocations never use the replica (a revocation is refused at once while the
replica is frozen); a replica that is down sends reads back to the primary.
"""
import os
import pwd
import shutil
import subprocess
import time

import requests

from conftest import PgCluster, free_port, make_tmp_root, pg_bindir, pid_alive


class Standby:
    def __init__(self, primary):
        self.root = make_tmp_root("shark-standby-")
        self.pgdata = os.path.join(self.root, "pgdata")
        self.sockdir = os.path.join(self.root, "sock")
        self.port = free_port()
        pw = pwd.getpwnam("postgres")
        for d, mode in ((self.sockdir, 0o755), (self.pgdata, 0o700)):
            os.mkdir(d)
            os.chown(d, pw.pw_uid, pw.pw_gid)
            os.chmod(d, mode)
        r = subprocess.run(["runuser", "-u", "postgres", "--",
                            os.path.join(pg_bindir(), "pg_basebackup"), "-D", self.pgdata,
                            "-R", "-X", "stream", "-c", "fast", "-h", primary.sockdir, "-p",
                            str(primary.port), "-U", "postgres"],
                           capture_output=True, text=True, cwd="/", timeout=120)
        assert r.returncode == 0, r.stderr
        self.proc = None

    def conninfo(self, dbname="postgres"):
        return "host=%s port=%d user=postgres dbname=%s" % (self.sockdir, self.port, dbname)

    def start(self):
        log = open(os.path.join(self.root, "pg.log"), "ab")
        self.proc = subprocess.Popen(
            ["runuser", "-u", "postgres", "--", os.path.join(pg_bindir(), "postgres"),
             "-D", self.pgdata, "-k", self.sockdir, "-p", str(self.port),
             "-c", "listen_addresses=", "-c", "hot_standby=on", "-c", "max_connections=200"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd="/")
        log.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.psql("SELECT pg_is_in_recovery()", check=False) == "t":
                return
            time.sleep(0.1)
        raise RuntimeError("standby did not start")

    def psql(self, sql, dbname="postgres", check=True):
        r = subprocess.run(["psql", self.conninfo(dbname), "-X", "-Atc", sql],
                           capture_output=True, text=True, timeout=30)
        if check:
            assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            pid = self.proc.pid
            subprocess.run(["pkill", "-INT", "-P", str(pid)], capture_output=True)
            try:
                with open(os.path.join(self.pgdata, "postmaster.pid")) as f:
                    os.kill(int(f.readline()), 2)
            except (OSError, ValueError):
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def wait(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("%s not seen within %ss" % (what, timeout))


def app_names(s):
    r = s.get("/api/v1/apps?limit=100", admin=True)
    assert r.status_code == 200, r.text
    return [a["name"] for a in r.json()["data"]]


def test_listings_read_the_replica_and_checks_do_not(shark_factory):
    primary = PgCluster()
    standby = None
    try:
        primary.start()
        primary.psql("CREATE DATABASE shark")
        standby = Standby(primary)
        standby.start()
        s = shark_factory(db=primary.conninfo("shark"),
                          extra=["--db-read", standby.conninfo("shark")])
        s.start()
        s.wait_ready(60)
        r = s.request("POST", "/api/v1/apps", admin=True,
                      json={"name": "seen-1", "scopes": ["mcp:read"]})
        assert r.status_code == 201, r.text
        wait(lambda: "seen-1" in app_names(s), 30, "replicated app in the listing")

        r = requests.post(s.url("/oauth/register"), timeout=15, headers=s.auth(), json={
            "client_name": "replica", "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic", "scope": "mcp:read"})
        assert r.status_code == 201, r.text
        auth = (r.json()["client_id"], r.json()["client_secret"])
        tok = requests.post(s.url("/oauth/token"), auth=auth, timeout=15,
                            data={"grant_type": "client_credentials"}).json()["access_token"]

        # Freeze the replica: the listing goes stale, the checks do not.
        standby.psql("SELECT pg_wal_replay_pause()")
        r = s.request("POST", "/api/v1/apps", admin=True,
                      json={"name": "hidden-2", "scopes": ["mcp:read"]})
        assert r.status_code == 201, r.text
        assert "hidden-2" in primary.psql("SELECT name FROM apps", "shark")
        for _ in range(5):
            names = app_names(s)
            assert "seen-1" in names and "hidden-2" not in names, names
        r = requests.post(s.url("/oauth/revoke"), auth=auth, timeout=15, data={"token": tok})
        assert r.status_code == 200
        r = requests.post(s.url("/oauth/introspect"), auth=auth, timeout=15,
                          data={"token": tok})
        assert r.json()["active"] is False
        assert s.get("/api/v1/audit-logs?limit=5", admin=True).status_code == 200

        standby.psql("SELECT pg_wal_replay_resume()")
        wait(lambda: "hidden-2" in app_names(s), 30, "the app after replay resumed")

        # The replica goes away: reads fall back to the primary.
        standby.stop()
        wait(lambda: s.get("/api/v1/apps?limit=100", admin=True).status_code == 200 and
             "hidden-2" in app_names(s), 30, "listing from the primary")
        r = s.request("POST", "/api/v1/apps", admin=True,
                      json={"name": "after-3", "scopes": ["mcp:read"]})
        assert r.status_code == 201
        wait(lambda: "after-3" in app_names(s), 30, "a fresh app from the primary")
        assert s.stop() == 0
    finally:
        if standby:
            standby.cleanup()
        primary.cleanup()
