"""Shared helpers for the SharkAuth integration suite.

Everything here drives the real `shark` binary over real sockets against a real
PostgreSQL (the embedded cluster, or a throwaway external one).  Nothing is mocked.
"""
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARK_BIN = os.environ.get("SHARK_BIN", os.path.join(REPO, "build", "shark"))
KEY_RE = re.compile(r"sk_live_[0-9A-Za-z]{43}")

_live_sharks = []
_live_clusters = []


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_tmp_root(prefix="shark-it-"):
    """A temp parent dir traversable by the postgres user (we run as root)."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o711)
    return d


def pg_bindir():
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                             check=True).stdout.strip()
        if os.path.exists(os.path.join(out, "initdb")):
            return out
    except (OSError, subprocess.CalledProcessError):
        pass
    return "/usr/lib/postgresql/15/bin"


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); look at /proc.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_pid_gone(pid, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def read_postmaster_pid(pgdata):
    try:
        with open(os.path.join(pgdata, "postmaster.pid")) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


class Shark:
    """One `shark serve` process with its own data dir and port."""

    def __init__(self, data_dir=None, rate_limit="0", extra=(), db=None, env=None,
                 tmp_root=None, listen_host="127.0.0.1"):
        self.tmp_root = tmp_root or make_tmp_root()
        self.data_dir = data_dir or os.path.join(self.tmp_root, "data")
        self.port = free_port()
        self.host = listen_host
        self.rate_limit = rate_limit
        self.extra = list(extra)
        self.db = db
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("SHARK_"):
                del self.env[k]
        if env:
            self.env.update(env)
        self.proc = None
        self.starts = 0
        self.stdout_path = None
        self.stderr_path = None
        _live_sharks.append(self)

    # -- process control -------------------------------------------------
    def args(self):
        a = [SHARK_BIN, "serve", "--listen", "%s:%d" % (self.host, self.port),
             "--data-dir", self.data_dir]
        if self.rate_limit is not None:
            a += ["--rate-limit", str(self.rate_limit)]
        if self.db:
            a += ["--db", self.db]
        return a + self.extra

    def spawn(self):
        """Start the process without waiting for it to become healthy."""
        self.starts += 1
        self.stdout_path = os.path.join(self.tmp_root, "stdout.%d.log" % self.starts)
        self.stderr_path = os.path.join(self.tmp_root, "stderr.%d.log" % self.starts)
        out = open(self.stdout_path, "wb")
        err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.args(), stdout=out, stderr=err, env=self.env,
                                     stdin=subprocess.DEVNULL)
        out.close()
        err.close()
        return self

    def start(self, timeout=60):
        self.spawn()
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("shark exited with %s during start:\n%s" %
                                   (self.proc.returncode, self.stderr()[-4000:]))
            try:
                r = requests.get(self.url("/healthz"), timeout=2)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("shark not healthy after %ss:\n%s" % (timeout, self.stderr()[-4000:]))

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                r = requests.get(self.url("/readyz"), timeout=2)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("shark not ready after %ss" % timeout)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signal and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError("shark did not exit within %ss of %s" % (timeout, sig))

    def restart(self, timeout=60):
        rc = self.stop()
        assert rc == 0, "exit code %s\n%s" % (rc, self.stderr()[-3000:])
        self.wait_embedded_pg_gone()
        return self.start(timeout)

    @property
    def pgdata(self):
        return os.path.join(self.data_dir, "pg", "data")

    @property
    def pg_socket_dir(self):
        return os.path.join(self.data_dir, "pg", "run")

    def embedded_pg_pid(self):
        return read_postmaster_pid(self.pgdata)

    def wait_embedded_pg_gone(self, timeout=15):
        pid = self.embedded_pg_pid()
        if pid is not None:
            wait_pid_gone(pid, timeout)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        pid = self.embedded_pg_pid()
        if pid is not None and pid_alive(pid):
            try:
                os.kill(pid, signal.SIGQUIT)
            except OSError:
                pass
            if not wait_pid_gone(pid, 10):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.tmp_root, ignore_errors=True)

    # -- accessors ---------------------------------------------------------
    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def stdout(self, n=None):
        return _read(self.stdout_path if n is None else
                     os.path.join(self.tmp_root, "stdout.%d.log" % n))

    def stderr(self, n=None):
        return _read(self.stderr_path if n is None else
                     os.path.join(self.tmp_root, "stderr.%d.log" % n))

    def all_stderr(self):
        return "".join(self.stderr(i) for i in range(1, self.starts + 1))

    def log_records(self):
        recs = []
        for line in self.stderr().splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                recs.append(json.loads(line))
            except ValueError:
                recs.append({"_unparsed": line})
        return recs

    @property
    def key_file(self):
        return os.path.join(self.data_dir, "admin.key.firstboot")

    @property
    def admin_key(self):
        with open(self.key_file) as f:
            return f.read().strip()

    def auth(self, key=None):
        return {"Authorization": "Bearer " + (key or self.admin_key)}

    def get(self, path, admin=False, **kw):
        kw.setdefault("timeout", 15)
        if admin:
            kw.setdefault("headers", {}).update(self.auth())
        return requests.get(self.url(path), **kw)

    def request(self, method, path, admin=False, **kw):
        kw.setdefault("timeout", 15)
        if admin:
            kw.setdefault("headers", {}).update(self.auth())
        return requests.request(method, self.url(path), **kw)

    @property
    def pg_password(self):
        """The embedded cluster's password (store/embed.c keeps it in pg/password)."""
        try:
            with open(os.path.join(self.data_dir, "pg", "password")) as f:
                return f.read().strip()
        except OSError:
            return None

    def pg_env(self):
        """The environment for psql/pg_dump against the embedded cluster."""
        e = dict(os.environ)
        if self.pg_password:
            e["PGPASSWORD"] = self.pg_password
        return e

    def psql(self, sql, conninfo=None):
        ci = conninfo or "host=%s dbname=shark user=shark" % self.pg_socket_dir
        r = subprocess.run(["psql", ci, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True, timeout=30,
                           env=None if conninfo else self.pg_env())
        assert r.returncode == 0, r.stderr
        return r.stdout


def loopback_cert(directory, name="tls"):
    """A self-signed P-256 certificate for 127.0.0.1 (subjectAltName IP), valid
    one day: (cert path, key path) in directory."""
    cert = os.path.join(directory, name + "-cert.pem")
    key = os.path.join(directory, name + "-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def start_tls_shark():
    """A shark serving HTTPS with a loopback_cert, started and healthy; its
    .base is the https URL and .cert the certificate to verify it with."""
    s = Shark()
    cert, key = loopback_cert(s.tmp_root)
    s.extra = ["--tls-cert", cert, "--tls-key", key]
    s.spawn()
    base = "https://127.0.0.1:%d" % s.port
    deadline = time.time() + 60
    while True:
        try:
            if requests.get(base + "/healthz", verify=cert, timeout=2).status_code == 200:
                break
        except requests.RequestException:
            if time.time() > deadline or s.proc.poll() is not None:
                raise RuntimeError("TLS shark did not start:\n" + s.stderr()[-3000:])
            time.sleep(0.2)
    s.base, s.cert = base, cert
    return s


def _read(path):
    if not path or not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


class PgCluster:
    """A throwaway external PostgreSQL cluster on a unix socket, run as `postgres`."""

    def __init__(self):
        self.root = make_tmp_root("shark-pg-")
        self.pgdata = os.path.join(self.root, "pgdata")
        self.sockdir = os.path.join(self.root, "sock")
        self.port = free_port()
        self.bindir = pg_bindir()
        self.proc = None
        pw = pwd.getpwnam("postgres")
        for d, mode in ((self.sockdir, 0o755), (self.pgdata, 0o700)):
            os.mkdir(d)
            os.chown(d, pw.pw_uid, pw.pw_gid)
            os.chmod(d, mode)
        self.logfile = os.path.join(self.root, "pg.log")
        _live_clusters.append(self)
        r = subprocess.run(["runuser", "-u", "postgres", "--",
                            os.path.join(self.bindir, "initdb"), "-D", self.pgdata,
                            "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"],
                           capture_output=True, text=True, cwd="/")
        assert r.returncode == 0, r.stderr

    def conninfo(self, dbname="postgres"):
        return "host=%s port=%d user=postgres dbname=%s" % (self.sockdir, self.port, dbname)

    def start(self, timeout=30):
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            ["runuser", "-u", "postgres", "--", os.path.join(self.bindir, "postgres"),
             "-D", self.pgdata, "-k", self.sockdir, "-p", str(self.port),
             "-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=200"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd="/")
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = subprocess.run(["psql", self.conninfo(), "-X", "-Atc", "select 1"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError("postgres did not start:\n" + _read(self.logfile)[-3000:])

    def postmaster_pid(self):
        return read_postmaster_pid(self.pgdata)

    def kill(self, sig=signal.SIGQUIT, timeout=15):
        pid = self.postmaster_pid()
        if pid is not None and pid_alive(pid):
            os.kill(pid, sig)
            wait_pid_gone(pid, timeout)
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # SIGQUIT (immediate) leaves the pid file; remove it so start() is clean.
        # Also wait for any orphaned backends to notice the postmaster's death.
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = subprocess.run(["pgrep", "-f", "-u", "postgres", "--", "-D %s" % self.pgdata],
                               capture_output=True)
            if r.returncode != 0:
                break
            time.sleep(0.1)

    def psql(self, sql, dbname="postgres"):
        r = subprocess.run(["psql", self.conninfo(dbname), "-X", "-A", "-t", "-v",
                            "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


# -- raw sockets ------------------------------------------------------------

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers, self.body[:200])


class RawConn:
    """A plain TCP connection for pipelining, slow clients and malformed input."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def settimeout(self, t):
        self.sock.settimeout(t)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by server")
        self.buf += chunk

    def _read_line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read_n(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, head=False):
        status_line = self._read_line().decode("latin-1")
        parts = status_line.split(" ", 2)
        assert parts[0] == "HTTP/1.1", status_line
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        while True:
            line = self._read_line().decode("latin-1")
            if line == "":
                break
            k, v = line.split(":", 1)
            headers.append((k.strip(), v.strip()))
        resp = Response(status, reason, headers, b"")
        if head or status in (100, 204, 304):
            return resp
        te = resp.header("Transfer-Encoding")
        if te and "chunked" in te.lower():
            body = b""
            while True:
                size = int(self._read_line().split(b";")[0], 16)
                if size == 0:
                    while self._read_line() != b"":
                        pass
                    break
                body += self._read_n(size)
                self._read_n(2)
            resp.body = body
        elif resp.header("Content-Length") is not None:
            resp.body = self._read_n(int(resp.header("Content-Length")))
        else:
            try:
                while True:
                    self._fill()
            except EOFError:
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def is_closed(self, timeout=5):
        """True if the server closed the connection (EOF/RST) with no further bytes."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        if data:
            self.buf += data
            return False
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def http_req(method, path, headers=None, body=b"", host="localhost"):
    if isinstance(body, str):
        body = body.encode()
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host]
    hdrs = dict(headers or {})
    if body and not any(k.lower() == "content-length" for k in hdrs) and \
            not any(k.lower() == "transfer-encoding" for k in hdrs):
        hdrs["Content-Length"] = str(len(body))
    for k, v in hdrs.items():
        lines.append("%s: %s" % (k, v))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def assert_api_error(resp_json, code, request_id=None):
    assert set(resp_json.keys()) == {"error"}, resp_json
    err = resp_json["error"]
    assert isinstance(err, dict), resp_json
    assert err["code"] == code, resp_json
    assert isinstance(err.get("message"), str) and err["message"], resp_json
    assert isinstance(err.get("request_id"), str) and err["request_id"], resp_json
    if request_id is not None:
        assert err["request_id"] == request_id


def assert_oauth_error(resp_json, error):
    assert resp_json.get("error") == error, resp_json
    assert isinstance(resp_json.get("error_description"), str), resp_json


# -- fixtures -----------------------------------------------------------------

@pytest.fixture(scope="session", autouse=True)
def _check_binary():
    if not os.access(SHARK_BIN, os.X_OK):
        pytest.exit("shark binary not found at %s (build it or set SHARK_BIN)" % SHARK_BIN, 2)
    yield
    for s in list(_live_sharks):
        s.cleanup()
    for c in list(_live_clusters):
        c.cleanup()


@pytest.fixture
def shark_factory():
    """Create (not start) servers; every one is killed and removed at teardown."""
    made = []

    def make(**kw):
        s = Shark(**kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.cleanup()


@pytest.fixture(scope="module")
def shark():
    """A shared embedded-PostgreSQL server with rate limiting off."""
    s = Shark()
    s.start()
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def pg_cluster():
    c = PgCluster()
    c.start()
    yield c
    c.cleanup()


import secret_guard  # noqa: E402


def pytest_configure(config):
    """Records the secrets tests see and keeps server logs for the last test
    (secret_guard.py; it runs with SHARK_SECRET_GUARD=1, as test/run sets)."""
    secret_guard.install(config, Shark, PgCluster)
