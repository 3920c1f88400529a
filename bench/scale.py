#!/usr/bin/env python3
"""bench/scale.py: what revocation, listings and audit queries cost as the data
grows (issue 18). For each size N it starts shark on a throwaway embedded
database, populates N live tokens of one agent, N more spread over 1,000
"fleet" agents and one oauth.token_issued audit row per token, N more of a
third agent bound to one DPoP key, all through SQL
in the server's own shapes, then times each operation over HTTP while paced
traffic (client_credentials + introspection of another agent) runs, and
prints one table: wall time, WAL written, the traffic's p99 during the
operation against its p99 before, and the server's RSS and revoked-set size.

    python3 bench/scale.py [--shark build/shark] [--sizes 10000,100000,1000000]
                           [--pace 100]

127.0.0.1 only; everything it starts is stopped at the end. Figures: README.md.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import base64

FLEET = 1000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary):
        self.root = tempfile.mkdtemp(prefix="sharkscale.")
        os.chmod(self.root, 0o711)
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(self.root, "shark.log"), "w")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:%d" % self.port, "--data-dir", self.data,
             "--rate-limit", "0", "--log-level", "warn", "--max-connections-per-ip", "4000"],
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(600):
            try:
                if self.get("/readyz", admin=False)[0] == 200 and \
                        os.path.exists(os.path.join(self.data, "admin.key.firstboot")):
                    break
            except OSError:
                pass
            if self.proc.poll() is not None:
                sys.exit("shark exited; see " + self.log.name)
            time.sleep(0.1)
        with open(os.path.join(self.data, "admin.key.firstboot")) as f:
            self.key = f.read().strip()
        with open(os.path.join(self.data, "pg", "password")) as f:
            self.pg_env = dict(os.environ, PGPASSWORD=f.read().strip())
        self.ci = "host=%s dbname=shark user=shark" % os.path.join(self.data, "pg", "run")

    def request(self, method, path, body=None, admin=True, auth=None, form=None):
        headers = {}
        data = None
        if admin:
            headers["Authorization"] = "Bearer " + self.key
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % auth).encode()).decode()
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get(self, path, admin=True):
        return self.request("GET", path, admin=admin)

    def sql(self, q):
        r = subprocess.run(["psql", self.ci, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", q],
                           capture_output=True, text=True, env=self.pg_env, timeout=3600)
        if r.returncode != 0:
            sys.exit("psql: " + r.stderr)
        return r.stdout.strip()

    def rss_mb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0

    def metric(self, name):
        _, text = self.get("/metrics", admin=False)
        for line in text.decode().splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
        return -1

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        pm = os.path.join(self.data, "pg", "data", "postmaster.pid")
        if os.path.exists(pm):
            with open(pm) as f:
                pid = int(f.readline())
            try:
                os.kill(pid, signal.SIGTERM)
                time.sleep(1)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


class Traffic:
    """Paced client_credentials and introspection of an agent nothing revokes:
    latencies with their start times, to compare windows."""

    def __init__(self, s, cid, secret, rate):
        self.s, self.auth, self.rate = s, (cid, secret), rate
        self.samples, self.errors = [], 0
        self.stop = threading.Event()
        self.tok = json.loads(s.request("POST", "/oauth/token", admin=False, auth=self.auth,
                                        form={"grant_type": "client_credentials"})[1])["access_token"]
        self.threads = [threading.Thread(target=self.run, args=(k,), daemon=True)
                        for k in ("token", "introspect")]
        for t in self.threads:
            t.start()

    def run(self, kind):
        period = 1.0 / self.rate
        nxt = time.time()
        while not self.stop.is_set():
            t0 = time.time()
            if kind == "token":
                st, _ = self.s.request("POST", "/oauth/token", admin=False, auth=self.auth,
                                       form={"grant_type": "client_credentials"})
            else:
                st, _ = self.s.request("POST", "/oauth/introspect", admin=False, auth=self.auth,
                                       form={"token": self.tok})
            t1 = time.time()
            if st != 200:
                self.errors += 1
            self.samples.append((t0, (t1 - t0) * 1000))
            nxt += period
            time.sleep(max(0, nxt - time.time()))

    def p99(self, since, until):
        xs = sorted(ms for t, ms in self.samples if since <= t <= until)
        if not xs:
            return float("nan"), 0
        return xs[min(len(xs) - 1, int(len(xs) * 0.99))], len(xs)

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join()


def wal_lsn(s):
    return s.sql("SELECT pg_current_wal_lsn()")


def wal_since(s, lsn):
    return int(s.sql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '%s')" % lsn))


# A public P-256 key for rotate-dpop-key (any valid point will do).
NEW_KEY = {"kty": "EC", "crv": "P-256", "x": "pAHfg6GjGOERRFYh-_lATUmwPrWCwbpmuX2fJt4no4w",
           "y": "Dr8ft2TIzZpRBbXFHNl_9uQTxuzWezspo6jYmMKScSs"}


def populate_bound(s, n, agent):
    """N tokens of `agent` bound to one DPoP key (no audit rows: only the
    rotation reads them)."""
    step = 200000
    for lo in range(1, n + 1, step):
        hi = min(n, lo + step - 1)
        s.sql("INSERT INTO oauth_tokens (jti, client_id, subject, scope, jkt, expires_at, "
              "issued_at) SELECT 'tok_bound_' || g, '%s', '%s', 'mcp:read', 'jkt_old', "
              "date_trunc('second', now() + interval '40 minutes' + g * interval '1 ms'), "
              "now() - interval '20 minutes' + g * interval '1 ms' "
              "FROM generate_series(%d, %d) g" % (agent, agent, lo, hi))


def populate(s, n, agent):
    """N tokens of `agent`, N over the fleet, an audit row each, as the server writes them:
    issued a millisecond apart, expiring to the second (as the JWT's exp)."""
    s.sql("INSERT INTO oauth_clients (client_id, kind, name, description, secret_hash, "
          "auth_method, grant_types, scopes, app_id, created_by) SELECT "
          "'shark_agent_fleet_' || lpad(g::text, 4, '0'), kind, name || g, description, "
          "secret_hash, auth_method, grant_types, scopes, app_id, created_by "
          "FROM oauth_clients, generate_series(1, %d) g WHERE client_id = '%s'" % (FLEET, agent))
    for who, expr in ((agent, "'%s'" % agent),
                      ("fleet", "'shark_agent_fleet_' || lpad((1 + g %% %d)::text, 4, '0')" % FLEET)):
        step = 200000
        for lo in range(1, n + 1, step):
            hi = min(n, lo + step - 1)
            s.sql("WITH g AS (SELECT g, %s AS cid FROM generate_series(%d, %d) g), "
                  "t AS (INSERT INTO oauth_tokens (jti, client_id, subject, scope, expires_at, "
                  "issued_at) SELECT 'tok_%s_' || g, cid, cid, 'mcp:read', "
                  "date_trunc('second', now() + interval '40 minutes' + g * interval '1 ms'), "
                  "now() - interval '20 minutes' + g * interval '1 ms' FROM g) "
                  "INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "
                  "request_id, client_ip, created_at) SELECT shark_id('audit_'), "
                  "'oauth.token_issued', cid, 'agent', 'tok_%s_' || g, jsonb_build_object("
                  "'client_id', cid, 'grant_type', 'client_credentials', 'scope', 'mcp:read'), "
                  "'req_bench' || g, '127.0.0.1', now() - interval '20 minutes' + g * interval '1 ms' "
                  "FROM g"
                  % (expr, lo, hi, who, who))
    s.sql("VACUUM ANALYZE oauth_tokens")
    s.sql("VACUUM ANALYZE audit_events")
    s.sql("CHECKPOINT")


def count_tokens(s):
    """token_counts as the issuing statement writes it (migration 0035): per
    client, second of issue, expiry and key."""
    s.sql("TRUNCATE token_counts")
    s.sql("INSERT INTO token_counts (client_id, issued_sec, expires_at, jkt, stripe, n) "
          "SELECT client_id, shark_second(issued_at), expires_at, coalesce(jkt, ''), 0, count(*) "
          "FROM oauth_tokens WHERE user_id IS NULL AND revoked_at IS NULL GROUP BY 1, 2, 3, 4")
    s.sql("VACUUM ANALYZE token_counts")


def wait_folded(s):
    """Until the upkeep has folded the count rows into tallies (migration 0042),
    as a server that has been issuing them would have: seconds taken."""
    t0 = time.time()
    while int(s.sql("SELECT count(*) FROM token_counts WHERE per_sec IS NULL "
                    "AND issued_sec < now() - interval '10 seconds' AND expires_at > now()")):
        time.sleep(1)
    s.sql("VACUUM ANALYZE token_counts")
    return time.time() - t0


def run_size(binary, n, pace):
    s = Server(binary)
    rows = []
    try:
        st, b = s.request("POST", "/api/v1/apps", {"name": "scale", "scopes": ["mcp:read"]})
        app = json.loads(b)["id"]
        ag = [json.loads(s.request("POST", "/api/v1/agents",
                                   {"app_id": app, "name": "scale%d" % i, "scopes": ["mcp:read"]})[1])
              for i in range(3)]
        target, paced, keyed = ag[0], ag[1], ag[2]
        t0 = time.time()
        populate(s, n, target["id"])
        populate_bound(s, n, keyed["id"])
        count_tokens(s)
        fill_s = time.time() - t0
        fold_s = wait_folded(s)
        s.sql("VACUUM ANALYZE oauth_tokens")
        s.sql("CHECKPOINT")
        tallies = s.sql("SELECT count(*) FROM token_counts")
        traffic = Traffic(s, paced["id"], paced["client_secret"], pace)
        time.sleep(5)
        base_p99, _ = traffic.p99(time.time() - 5, time.time())

        def op(name, method, path, body=None, expect=200):
            lsn = wal_lsn(s)
            a = time.time()
            st, out = s.request(method, path, body)
            z = time.time()
            wal = wal_since(s, lsn)
            time.sleep(0.5)
            p99, k = traffic.p99(a, max(z, a + 0.5))
            if st != expect:
                out = out[:200]
            rows.append((n, name, (z - a) * 1000, wal, p99, base_p99, st))
            return out

        tid = target["id"]
        first = json.loads(op("agent tokens, first page (limit 100)", "GET",
                              "/api/v1/agents/%s/tokens" % tid))
        page = json.loads(op("agent tokens, page 2 by cursor", "GET",
                             "/api/v1/agents/%s/tokens?cursor=%s" % (tid, first["next_cursor"])))
        op("audit, first page by actor", "GET", "/api/v1/audit-logs?actor_id=%s&limit=100" % tid)
        # per-jti revocations: a tenth of the fleet's tokens in one statement (the trigger
        # asks every node to reload), then the reload runs off the loops while traffic goes on
        k = max(1, n // 10)
        before = s.metric("shark_revoked_entries")
        lsn, a = wal_lsn(s), time.time()
        s.sql("UPDATE oauth_tokens SET revoked_at = now() WHERE jti IN "
              "(SELECT 'tok_fleet_' || g FROM generate_series(1, %d) g)" % k)
        entries = -1
        for _ in range(600):
            entries = s.metric("shark_revoked_entries")
            if entries >= before + k:
                break
            time.sleep(0.1)
        z = time.time()
        time.sleep(0.5)
        p99, _ = traffic.p99(a, z + 0.5)
        entries -= before
        rows.append((n, "per-jti: %d revoked in one statement, until reloaded" % k,
                     (z - a) * 1000, wal_since(s, lsn), p99, base_p99, 200))
        op("revoke-all, dry run", "POST", "/api/v1/agents/%s/tokens/revoke-all?dry_run=true" % tid)
        op("revoke-all (%d tokens)" % n, "POST", "/api/v1/agents/%s/tokens/revoke-all" % tid)
        rot = "/api/v1/agents/%s/rotate-dpop-key" % keyed["id"]
        op("rotate-dpop-key, dry run", "POST", rot + "?dry_run=true",
           {"new_public_key_jwk": NEW_KEY})
        op("rotate-dpop-key (%d bound tokens)" % n, "POST", rot,
           {"new_public_key_jwk": NEW_KEY, "reason": "bench"})
        op("revoke-by-pattern, dry run (%d clients)" % FLEET, "POST",
           "/api/v1/admin/oauth/revoke-by-pattern?dry_run=true",
           {"client_id_pattern": "shark_agent_fleet_*", "reason": "bench"})
        op("revoke-by-pattern (%d clients, %d tokens)" % (FLEET, n), "POST",
           "/api/v1/admin/oauth/revoke-by-pattern",
           {"client_id_pattern": "shark_agent_fleet_*", "reason": "bench"})
        mem = s.metric("shark_revoked_bytes")
        traffic.close()
        return rows, {"n": n, "fill_s": fill_s, "fold_s": fold_s, "tallies": tallies,
                      "rss_mb": s.rss_mb(), "revoked_entries": entries,
                      "revoked_bytes": mem, "traffic_errors": traffic.errors,
                      "page2": len(page.get("data", [])) if isinstance(page, dict) else None}
    finally:
        s.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shark", default=os.path.join(os.path.dirname(__file__), "..", "build", "shark"))
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--pace", type=int, default=100, help="per second, each of token and introspect")
    args = ap.parse_args()
    print("%-9s %-58s %9s %10s %9s %9s %4s" % ("N", "operation", "ms", "WAL kB", "p99 ms",
                                               "base p99", "HTTP"), flush=True)
    for n in [int(x) for x in args.sizes.split(",")]:
        print("== N = %d" % n, file=sys.stderr, flush=True)
        rows, i = run_size(os.path.abspath(args.shark), n, args.pace)
        for n, name, ms, wal, p99, base, st in rows:
            print("%-9d %-58s %9.1f %10.1f %9.1f %9.1f %4d" % (n, name, ms, wal / 1024, p99, base,
                                                               st))
        per = i["revoked_bytes"] / i["revoked_entries"] if i["revoked_entries"] > 0 else 0
        print("N=%d: populated in %.1f s; count rows folded by the upkeep in %.1f s into %s rows; "
              "shark RSS %.1f MB; revoked set %d jtis added, table "
              "%d bytes (%.1f B/entry); paced traffic errors %d" % (
                  i["n"], i["fill_s"], i["fold_s"], i["tallies"], i["rss_mb"],
                  i["revoked_entries"], i["revoked_bytes"],
                  per, i["traffic_errors"]), flush=True)


if __name__ == "__main__":
    main()
