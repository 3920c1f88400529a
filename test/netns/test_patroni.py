"""PostgreSQL failover under shark with Patroni and etcd (issue 19, point 5).

Debian's etcd-server and patroni run a primary and a synchronous standby on
loopback. shark connects with a multi-host conninfo
(host=a,b target_session_attrs=read-write). Under load the primary (Patroni
and its PostgreSQL) is SIGKILLed; the test measures the time to the first 200
after the kill and checks that every token answered 200, before and after,
is in the new primary: synchronous replication means an answered commit is
on the standby too.

The settings that make this true (Patroni's DCS configuration below):
synchronous_mode: true (Patroni keeps one standby synchronous and promotes
only a synchronous one), synchronous_commit: on (a COMMIT returns once the
standby has flushed the WAL), and shark's conninfo naming every member with
target_session_attrs=read-write (libpq skips standbys).
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
import requests

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARK_BIN = os.environ.get("SHARK_BIN", os.path.join(REPO, "build", "shark"))
T = 15


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def pg_bindir():
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    return out if os.path.exists(os.path.join(out, "initdb")) else "/usr/lib/postgresql/15/bin"


def wait(pred, timeout, what, every=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return
        except (requests.RequestException, OSError, ValueError):
            pass
        time.sleep(every)
    raise AssertionError("%s not seen within %ss" % (what, timeout))


class Ha:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="shark-patroni-")
        os.chmod(self.dir, 0o711)
        self.procs = []
        self.password = uuid.uuid4().hex
        self.etcd_port, self.etcd_peer = free_port(), free_port()
        self.members = {}
        try:
            self._etcd()
            for name in ("pg1", "pg2"):
                self._patroni(name)
                # The first bootstraps the cluster; the second clones it.
                wait(lambda: self.role(name) in ("master", "primary", "replica"), 90,
                     "%s running" % name)
            wait(lambda: self.sync_standby() is not None, 60, "a synchronous standby")
        except BaseException:
            self.print_logs()
            self.close()
            raise

    def print_logs(self):
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    print("---- %s\n%s" % (name, f.read()[-3000:]))

    def spawn(self, args, log, user=None):
        cmd = (["runuser", "-u", user, "--"] if user else []) + args
        out = open(os.path.join(self.dir, log), "ab")
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        out.close()
        self.procs.append(p)
        return p

    def _etcd(self):
        d = os.path.join(self.dir, "etcd")
        os.makedirs(d)
        c, p = "http://127.0.0.1:%d" % self.etcd_port, "http://127.0.0.1:%d" % self.etcd_peer
        self.spawn(["etcd", "--name", "e1", "--data-dir", d, "--listen-client-urls", c,
                    "--advertise-client-urls", c, "--listen-peer-urls", p,
                    "--initial-advertise-peer-urls", p, "--initial-cluster", "e1=" + p,
                    "--initial-cluster-state", "new"], "etcd.log")
        wait(lambda: requests.get(c + "/health", timeout=2).json()["health"] == "true", 30,
             "etcd")

    def _patroni(self, name):
        pg_port, api_port = free_port(), free_port()
        data = os.path.join(self.dir, name)
        os.makedirs(data)
        shutil.chown(data, "postgres", "postgres")
        os.chmod(data, 0o700)
        cfg = {
            "scope": "shark-%d" % os.getpid(),
            "name": name,
            "restapi": {"listen": "127.0.0.1:%d" % api_port,
                        "connect_address": "127.0.0.1:%d" % api_port},
            "etcd3": {"hosts": "127.0.0.1:%d" % self.etcd_port},
            "bootstrap": {
                "dcs": {
                    "ttl": 10, "loop_wait": 1, "retry_timeout": 4,
                    "maximum_lag_on_failover": 1048576,
                    "synchronous_mode": True,
                    "postgresql": {"use_pg_rewind": True, "parameters": {
                        "synchronous_commit": "on", "wal_level": "replica",
                        "hot_standby": "on", "max_wal_senders": 10,
                        "max_replication_slots": 10, "wal_keep_size": "128MB",
                        "max_connections": 200}},
                },
                "initdb": [{"encoding": "UTF8"}, "no-locale", {"auth": "scram-sha-256"}],
            },
            "postgresql": {
                "listen": "127.0.0.1:%d" % pg_port,
                "connect_address": "127.0.0.1:%d" % pg_port,
                "data_dir": os.path.join(data, "data"),
                "bin_dir": pg_bindir(),
                "pgpass": os.path.join(data, "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": self.password},
                    "replication": {"username": "replicator", "password": self.password},
                    "rewind": {"username": "rewinder", "password": self.password},
                },
                "parameters": {"unix_socket_directories": data},
                "pg_hba": ["local all all trust",
                           "host replication replicator 127.0.0.1/32 scram-sha-256",
                           "host all all 127.0.0.1/32 scram-sha-256"],
            },
        }
        path = os.path.join(data, "patroni.yml")
        with open(path, "w") as f:
            json.dump(cfg, f)  # JSON is YAML
        shutil.chown(path, "postgres", "postgres")
        proc = self.spawn(["patroni", path], name + ".log", user="postgres")
        self.members[name] = {"pg": pg_port, "api": api_port, "data": data, "proc": proc}

    def role(self, name):
        r = requests.get("http://127.0.0.1:%d/patroni" % self.members[name]["api"], timeout=2)
        return r.json().get("role") if r.json().get("state") == "running" else None

    def cluster(self):
        api = self.members["pg1"]["api"] if self.members["pg1"]["proc"].poll() is None else \
            self.members["pg2"]["api"]
        return requests.get("http://127.0.0.1:%d/cluster" % api, timeout=2).json()["members"]

    def sync_standby(self):
        for m in self.cluster():
            if m["role"] == "sync_standby" and m["state"] in ("running", "streaming"):
                return m["name"]
        return None

    def leader(self):
        for m in self.cluster():
            if m["role"] == "leader" and m["state"] == "running":
                return m["name"]
        return None

    def conninfo(self, db="shark", only=None):
        names = [only] if only else list(self.members)
        return ("host=%s port=%s dbname=%s user=postgres password=%s "
                "target_session_attrs=read-write connect_timeout=2") % (
            ",".join("127.0.0.1" for _ in names),
            ",".join(str(self.members[n]["pg"]) for n in names), db, self.password)

    def psql(self, sql, db="shark", only=None):
        r = subprocess.run(["psql", self.conninfo(db, only), "-X", "-Atc", sql],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def kill_member(self, name):
        """The machine dies: Patroni and its PostgreSQL, with no goodbye."""
        m = self.members[name]
        pid_file = os.path.join(m["data"], "data", "postmaster.pid")
        with open(pid_file) as f:
            pm = int(f.readline())
        os.killpg(m["proc"].pid, signal.SIGKILL)
        try:
            os.killpg(pm, signal.SIGKILL)  # postgres runs in its own group
        except ProcessLookupError:
            pass
        try:
            os.kill(pm, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
        # PostgreSQL children of a killed Patroni left in other groups.
        for m in self.members.values():
            try:
                with open(os.path.join(m["data"], "data", "postmaster.pid")) as f:
                    os.kill(int(f.readline()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def ha():
    if os.geteuid() != 0:
        pytest.fail("the Patroni test runs PostgreSQL as the postgres user: needs root")
    h = Ha()
    yield h
    h.close()


def claims(tok):
    part = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_failover_loses_no_answered_token(ha, tmp_path):
    primary = ha.leader()
    standby = ha.sync_standby()
    assert primary and standby and primary != standby
    ha.psql("CREATE DATABASE shark", "postgres", only=primary)
    port = free_port()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHARK_")}
    log = open(tmp_path / "shark.log", "wb")
    shark = subprocess.Popen([SHARK_BIN, "serve", "--listen", "127.0.0.1:%d" % port,
                              "--data-dir", str(data), "--db", ha.conninfo(),
                              "--rate-limit", "0", "--threads", "1", "--db-pool", "3"],
                             stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)
    log.close()
    base = "http://127.0.0.1:%d" % port
    try:
        wait(lambda: requests.get(base + "/readyz", timeout=2).status_code == 200, 60,
             "shark ready")
        with open(data / "admin.key.firstboot") as f:
            admin = {"Authorization": "Bearer " + f.read().strip()}
        r = requests.post(base + "/oauth/register", timeout=T, headers=admin, json={
            "client_name": "ha", "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic", "scope": "mcp:read"})
        assert r.status_code == 201, r.text
        auth = (r.json()["client_id"], r.json()["client_secret"])

        answered, others, stop = [], [], threading.Event()
        lock = threading.Lock()
        killed_at = [None]
        first_after = [None]

        def load():
            s = requests.Session()
            while not stop.is_set():
                try:
                    r = s.post(base + "/oauth/token", auth=auth, timeout=T,
                               data={"grant_type": "client_credentials"})
                except requests.RequestException as e:
                    with lock:
                        others.append(repr(e))
                    continue
                with lock:
                    if r.status_code == 200:
                        answered.append(r.json()["access_token"])
                        if killed_at[0] is not None and first_after[0] is None:
                            first_after[0] = time.monotonic()
                    else:
                        others.append(r.status_code)
                if r.status_code != 200:
                    time.sleep(0.05)

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            wait(lambda: len(answered) >= 50, 60, "load running")
            with lock:
                before = len(answered)
                killed_at[0] = time.monotonic()
                # Only what is answered from here on counts as "after".
                mark = len(answered)
            ha.kill_member(primary)
            wait(lambda: first_after[0] is not None and len(answered) >= mark + 50, 120,
                 "tokens after the failover")
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        took = first_after[0] - killed_at[0]
        print("\nfailover: first 200 %.2f s after the primary was killed; %d answered before, "
              "%d after; %d refused meanwhile (%s)" % (
                  took, before, len(answered) - mark, len(others), sorted(set(map(str, others)))))
        assert ha.leader() == standby
        jtis = [claims(t)["jti"] for t in answered]
        have = set(ha.psql("SELECT jti FROM oauth_tokens WHERE client_id = '%s'" % auth[0],
                           only=standby).split())
        missing = [j for j in jtis if j not in have]
        assert missing == [], "%d of %d answered tokens lost in the failover" % (
            len(missing), len(jtis))
        # Refusals during the outage are 503s with Retry-After, never anything else.
        assert set(others) <= {503}, sorted(set(map(str, others)))
        r = requests.post(base + "/oauth/introspect", auth=auth, timeout=T,
                          data={"token": answered[0]})
        assert r.status_code == 200 and r.json()["active"] is True
    finally:
        shark.kill()
        shark.wait(10)
