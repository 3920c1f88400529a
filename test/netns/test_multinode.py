"""Three shark nodes on a real (virtual) network behind HAProxy, one shared
PostgreSQL (issue 19, point 4).

Namespaces: db (PostgreSQL), n1..n3 (shark), lb (Debian's HAProxy); the test
talks to each over veth and a bridge (netlab.py). Shown: a revocation on one
node is refused on the others (the time is measured and printed, asserted only
against a generous bound); a DPoP proof replayed to another node is refused;
webhooks are delivered once per event whichever node made it; a signing-key
rotation on one node is used and accepted by all; under load through HAProxy,
a node cut off (link down) and then another SIGKILLed lose nothing that was
answered.
"""
import base64
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from flows import DpopKey  # noqa: E402
from netlab import Lab, sh  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARK_BIN = os.environ.get("SHARK_BIN", os.path.join(REPO, "build", "shark"))
HOSTS = {"db": 10, "n1": 11, "n2": 12, "n3": 13, "lb": 20}
NODES = ("n1", "n2", "n3")
T = 15  # seconds for any one HTTP request


def pg_bindir():
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    if os.path.exists(os.path.join(out, "initdb")):
        return out
    return "/usr/lib/postgresql/15/bin"


def wait(pred, timeout, what, every=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return
        except requests.RequestException:
            pass
        time.sleep(every)
    raise AssertionError("%s not seen within %ss" % (what, timeout))


class Hooks(http.server.BaseHTTPRequestHandler):
    got = []
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with Hooks.lock:
            Hooks.got.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


class Cluster:
    def __init__(self):
        self.lab = Lab(HOSTS)
        self.procs = {}
        self.master = os.urandom(32).hex()
        self.password = uuid.uuid4().hex
        self.lb = "http://%s" % self.lab.ip["lb"]
        self.hooks = None
        try:
            self._postgres()
            for n in NODES:
                self.start_node(n)
            self._haproxy()
            self._receiver()
        except BaseException:
            self.close()
            raise

    def log(self, name):
        return os.path.join(self.lab.dir, name + ".log")

    def _postgres(self):
        lab, b = self.lab, pg_bindir()
        data, run = os.path.join(lab.dir, "pg"), os.path.join(lab.dir, "pgrun")
        for d in (data, run):
            os.makedirs(d)
            shutil.chown(d, "postgres", "postgres")
            os.chmod(d, 0o700)
        pw = os.path.join(lab.dir, "pgpw")
        with open(pw, "w") as f:
            f.write(self.password + "\n")
        shutil.chown(pw, "postgres", "postgres")
        sh("runuser", "-u", "postgres", "--", os.path.join(b, "initdb"), "-D", data, "-U",
           "postgres", "--auth=scram-sha-256", "--pwfile", pw, "-E", "UTF8", "--no-locale")
        with open(os.path.join(data, "pg_hba.conf"), "w") as f:
            f.write("host all all 10.213.%d.0/24 scram-sha-256\n" % lab.subnet)
        self.procs["db"] = lab.spawn("db", [
            os.path.join(b, "postgres"), "-D", data, "-c",
            "listen_addresses=" + lab.ip["db"], "-c", "unix_socket_directories=" + run,
            "-c", "max_connections=200", "-c", "shared_buffers=64MB"],
            self.log("postgres"), user="postgres")
        env = dict(os.environ, PGPASSWORD=self.password)
        wait(lambda: subprocess.run(["psql", self.conninfo("postgres"), "-Atc", "SELECT 1"],
                                    capture_output=True, env=env).returncode == 0,
             30, "PostgreSQL")
        self.psql("CREATE DATABASE shark", "postgres")

    def conninfo(self, db="shark"):
        return "host=%s port=5432 dbname=%s user=postgres password=%s connect_timeout=2" % (
            self.lab.ip["db"], db, self.password)

    def psql(self, sql, db="shark"):
        r = subprocess.run(["psql", self.conninfo(db), "-X", "-Atc", sql], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def url(self, node, path):
        return "http://%s:8080%s" % (self.lab.ip[node], path)

    def start_node(self, n):
        lab = self.lab
        data = os.path.join(lab.dir, n)
        os.makedirs(data, exist_ok=True)
        os.chmod(data, 0o700)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHARK_")}
        env["SHARK_MASTER_KEY"] = self.master
        self.procs[n] = lab.spawn(n, [
            SHARK_BIN, "serve", "--listen", lab.ip[n] + ":8080", "--data-dir", data,
            "--db", self.conninfo(), "--issuer", self.lb, "--trusted-proxy",
            lab.ip["lb"] + "/32", "--rate-limit", "0", "--threads", "1", "--db-pool", "3",
            "--webhook-allowed-hosts", lab.ip["test"], "--webhook-retry-schedule", "1,1,1"],
            self.log(n), env=env)
        wait(lambda: requests.get(self.url(n, "/readyz"), timeout=2).status_code == 200, 60,
             "%s ready" % n, every=0.2)

    def _haproxy(self):
        lab = self.lab
        cfg = os.path.join(lab.dir, "haproxy.cfg")
        servers = "\n".join("    server %s %s:8080 check" % (n, lab.ip[n]) for n in NODES)
        with open(cfg, "w") as f:
            f.write("""global
    maxconn 4000
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 300ms
    timeout client 30s
    timeout server 2s
    # A request that found no answer is sent to another node: a refused or
    # timed-out connection, an empty or missing response.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend fe
    bind %s:80
    default_backend shark
backend shark
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 250ms fall 2 rise 2
%s
""" % (lab.ip["lb"], servers))
        sh("haproxy", "-c", "-f", cfg)
        self.procs["lb"] = lab.spawn("lb", ["haproxy", "-db", "-f", cfg], self.log("haproxy"))
        wait(lambda: requests.get(self.lb + "/readyz", timeout=2).status_code == 200, 30,
             "HAProxy")

    def _receiver(self):
        self.hooks = http.server.ThreadingHTTPServer((self.lab.ip["test"], 0), Hooks)
        threading.Thread(target=self.hooks.serve_forever, daemon=True).start()
        self.hook_url = "http://%s:%d/hook" % (self.lab.ip["test"], self.hooks.server_port)

    @property
    def admin(self):
        with open(os.path.join(self.lab.dir, "n1", "admin.key.firstboot")) as f:
            return {"Authorization": "Bearer " + f.read().strip()}

    def close(self):
        if self.hooks:
            self.hooks.shutdown()
            self.hooks.server_close()
        self.lab.close()


@pytest.fixture(scope="module")
def cl():
    if os.geteuid() != 0:
        pytest.fail("the network-namespace tests need root (ip netns)")
    c = Cluster()
    yield c
    lab = c.lab
    c.close()
    assert lab.leftovers() == [], lab.leftovers()


def cc(cl, node="n1"):
    r = requests.post(cl.url(node, "/oauth/register"), timeout=T, headers=cl.admin, json={
        "client_name": "netns", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic", "scope": "mcp:read"})
    assert r.status_code == 201, r.text
    return r.json()["client_id"], r.json()["client_secret"]


def issue(base, auth, **headers):
    return requests.post(base + "/oauth/token", auth=auth, timeout=T, headers=headers,
                         data={"grant_type": "client_credentials"})


def active(base, auth, tok):
    r = requests.post(base + "/oauth/introspect", auth=auth, timeout=T, data={"token": tok})
    assert r.status_code == 200, r.text
    return r.json()["active"]


def claims(tok):
    part = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_revocation_on_one_node_is_refused_on_the_others(cl):
    auth = cc(cl)
    worst = []
    for _ in range(5):
        tok = issue(cl.url("n1", ""), auth).json()["access_token"]
        for n in ("n2", "n3"):
            assert active(cl.url(n, ""), auth, tok)
        r = requests.post(cl.url("n1", "/oauth/revoke"), auth=auth, timeout=T,
                          data={"token": tok})
        assert r.status_code == 200, r.text
        done = time.monotonic()
        seen = {}
        deadline = done + 10
        while len(seen) < 2 and time.monotonic() < deadline:
            for n in ("n2", "n3"):
                if n not in seen and not active(cl.url(n, ""), auth, tok):
                    seen[n] = (time.monotonic() - done) * 1000
        assert set(seen) == {"n2", "n3"}, "revocation not seen everywhere within 10 s"
        worst.append(max(seen.values()))
        # Once refused, refused for good, on every node.
        for n in NODES:
            assert not active(cl.url(n, ""), auth, tok)
    print("\nrevocation on n1 refused on n2 and n3 after (ms, worst of the two): %s" %
          ", ".join("%.1f" % w for w in worst))


def test_dpop_proof_replayed_to_another_node_is_refused(cl):
    auth = cc(cl)
    key = DpopKey()
    proof = key.proof(cl.lb + "/oauth/token", "POST")
    r = issue(cl.url("n1", ""), auth, DPoP=proof)
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    for n in ("n2", "n3", "n1"):
        r = issue(cl.url(n, ""), auth, DPoP=proof)
        assert r.status_code == 400, (n, r.text)
        assert r.json()["error"] == "invalid_dpop_proof", r.text
    # A fresh proof still works anywhere.
    r = issue(cl.url("n3", ""), auth, DPoP=key.proof(cl.lb + "/oauth/token", "POST"))
    assert r.status_code == 200, r.text


def test_webhooks_are_delivered_once_per_event_across_nodes(cl):
    r = requests.post(cl.url("n1", "/api/v1/admin/webhooks"), timeout=T, headers=cl.admin,
                      json={"url": cl.hook_url, "events": ["app.created"]})
    assert r.status_code == 201, r.text
    with Hooks.lock:
        Hooks.got.clear()
    made = []
    for i in range(12):
        n = NODES[i % 3]
        r = requests.post(cl.url(n, "/api/v1/apps"), timeout=T, headers=cl.admin,
                          json={"name": "hook-app-%d-%s" % (i, uuid.uuid4().hex[:6]),
                                "scopes": ["mcp:read"]})
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])

    def delivered():
        with Hooks.lock:
            return [e for e in Hooks.got if e.get("type", e.get("event")) == "app.created"]

    wait(lambda: len(delivered()) >= len(made), 60, "12 deliveries", every=0.2)
    time.sleep(3)  # anything delivered twice would have arrived by now
    got = delivered()
    ids = [e["data"]["id"] for e in got]
    assert len(ids) == len(set(ids)) == len(made), json.dumps(got)[:2000]
    assert sorted(e["data"]["target_id"] for e in got) == sorted(made)


def test_signing_key_rotation_is_seen_by_all(cl):
    auth = cc(cl)
    before = issue(cl.url("n2", ""), auth).json()["access_token"]
    r = requests.post(cl.url("n1", "/api/v1/admin/keys/rotate"), timeout=T, headers=cl.admin)
    assert r.status_code in (200, 201), r.text
    new = issue(cl.url("n1", ""), auth).json()["access_token"]
    kid = json.loads(base64.urlsafe_b64decode(new.split(".")[0] + "==").decode())["kid"]
    for n in NODES:
        wait(lambda: kid in [k["kid"] for k in requests.get(
            cl.url(n, "/.well-known/jwks.json"), timeout=T).json()["keys"]], 20,
            "the new key in %s's JWKS" % n)
        assert active(cl.url(n, ""), auth, new), n
        assert active(cl.url(n, ""), auth, before), n
        # Every node signs with the new key now.
        tok = issue(cl.url(n, ""), auth).json()["access_token"]
        head = json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "==").decode())
        wait(lambda: json.loads(base64.urlsafe_b64decode(
            issue(cl.url(n, ""), auth).json()["access_token"].split(".")[0] + "==")
            .decode())["kid"] == kid, 20, "%s signing with the new key" % n)
        del head


def test_node_cut_off_and_node_killed_under_load(cl):
    auth = cc(cl)
    answered, failed, stop = [], [], threading.Event()
    lock = threading.Lock()

    def load():
        s = requests.Session()
        while not stop.is_set():
            try:
                r = s.post(cl.lb + "/oauth/token", auth=auth, timeout=T,
                           data={"grant_type": "client_credentials"})
                with lock:
                    if r.status_code == 200:
                        answered.append(r.json()["access_token"])
                    else:
                        failed.append(r.status_code)
            except requests.RequestException as e:
                with lock:
                    failed.append(repr(e))

    threads = [threading.Thread(target=load) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        cl.lab.link("n2", False)  # cut off: packets to n2 go nowhere
        time.sleep(3)
        cl.procs["n3"].send_signal(signal.SIGKILL)
        time.sleep(3)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    n_answered, n_failed = len(answered), len(failed)
    print("\nunder load: %d answered 200, %d not (%s)" % (n_answered, n_failed,
                                                         sorted(set(map(str, failed)))))
    with open(cl.log("haproxy"), errors="replace") as f:
        for line in f:
            if " 200 " not in line and "/oauth/token" in line:
                print("haproxy: " + line.strip())
    assert n_answered > 0
    # Every token answered is in the database and good on the surviving node.
    jtis = [claims(t)["jti"] for t in answered]
    have = set(cl.psql("SELECT jti FROM oauth_tokens WHERE client_id = '%s'" % auth[0])
               .split())
    missing = [j for j in jtis if j not in have]
    assert missing == [], "%d answered tokens are not stored" % len(missing)
    for t in answered[:: max(1, n_answered // 30)]:
        assert active(cl.url("n1", ""), auth, t)
    # HAProxy re-sends what never reached a node (refused, reset); a request
    # in flight on the node whose link went down ends in 504 at `timeout
    # server` (HAProxy 2.6 did not re-send those POSTs: "sH--", 0 retries in
    # its log). So at most the requests in flight at each fault may fail, and
    # their clients must retry; none of them was answered 200.
    assert n_failed <= 2 * len(threads), failed[:10]
    # The cut-off node comes back and serves the same data.
    cl.lab.link("n2", True)
    wait(lambda: requests.get(cl.url("n2", "/readyz"), timeout=2).status_code == 200, 60,
         "n2 back", every=0.2)
    assert active(cl.url("n2", ""), auth, answered[-1])
