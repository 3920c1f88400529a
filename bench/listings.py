#!/usr/bin/env python3
"""bench/listings.py: what a listing page costs as the data grows (issue 18
item 5: < 20 ms at 1M rows). For each size N it starts shark on a throwaway
embedded database (bench/scale.py's Server), populates N agents, N live
tokens of one agent and an oauth.token_issued audit row per token through
SQL in the server's own shapes, and times over HTTP the first page and a
page in the middle (by cursor, and by legacy offset for contrast) of the
agents, the agent's tokens and the audit log, the median of 5 calls each.
Each statement's plan comes from auto_explain (ANALYZE, BUFFERS) on the
server's own connections: its execution time, shared buffers hit + read,
and the index it walks (LISTINGS_PLANS=1 prints each whole plan to stderr).

    python3 bench/listings.py [--shark build/shark] [--sizes 10000,100000,1000000]

127.0.0.1 only; everything it starts is stopped at the end. Figures: README.md.
"""
import argparse
import base64
import os
import re
import statistics
import sys
import time
import json

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import Server  # noqa: E402

TS = "to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


def b64(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def populate(s, n, agent):
    """N agents cloned from `agent` a millisecond apart; N tokens of `agent`
    issued a millisecond apart and expiring to the second (the JWT's exp);
    an audit row per token."""
    step = 200000
    for lo in range(1, n + 1, step):
        hi = min(n, lo + step - 1)
        s.sql("INSERT INTO oauth_clients (client_id, kind, name, description, secret_hash, "
              "auth_method, grant_types, scopes, app_id, created_by, created_at, updated_at) "
              "SELECT 'shark_agent_b_' || lpad(g::text, 7, '0'), kind, name || g, description, "
              "secret_hash, auth_method, grant_types, scopes, app_id, created_by, "
              "now() - interval '1 day' + g * interval '1 ms', now() "
              "FROM oauth_clients, generate_series(%d, %d) g WHERE client_id = '%s'"
              % (lo, hi, agent))
        s.sql("WITH g AS (SELECT g FROM generate_series(%d, %d) g), "
              "t AS (INSERT INTO oauth_tokens (jti, client_id, subject, scope, expires_at, "
              "issued_at) SELECT 'tok_b_' || g, '%s', '%s', 'mcp:read', "
              "date_trunc('second', now() + interval '40 minutes' + g * interval '1 ms'), "
              "now() - interval '20 minutes' + g * interval '1 ms' FROM g) "
              "INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "
              "request_id, client_ip, created_at) SELECT shark_id('audit_'), "
              "'oauth.token_issued', '%s', 'agent', 'tok_b_' || g, jsonb_build_object("
              "'client_id', '%s', 'grant_type', 'client_credentials', 'scope', 'mcp:read'), "
              "'req_bench' || g, '127.0.0.1', now() - interval '20 minutes' + g * interval '1 ms' "
              "FROM g" % (lo, hi, agent, agent, agent, agent))
    for t in ("oauth_clients", "oauth_tokens", "audit_events"):
        s.sql("VACUUM ANALYZE " + t)
    s.sql("CHECKPOINT")


def explain_on(s):
    """auto_explain on every new connection of the server's role, then its
    connections are ended so the pool reopens them with it loaded."""
    s.sql("ALTER ROLE shark SET session_preload_libraries = 'auto_explain'")
    for k, v in (("log_min_duration", "0"), ("log_analyze", "on"), ("log_buffers", "on"),
                 ("log_timing", "on"), ("log_format", "text")):
        s.sql("ALTER ROLE shark SET auto_explain.%s = '%s'" % (k, v))
    s.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
          "WHERE usename = 'shark' AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
    for _ in range(100):
        if s.get("/readyz", admin=False)[0] == 200 and \
                s.get("/api/v1/apps?limit=1")[0] == 200:
            return
        time.sleep(0.2)


def plan_of(log_path, since):
    """The slowest plan auto_explain logged after byte offset `since`: (execution ms,
    shared buffers hit + read, the index scans it names)."""
    with open(log_path, errors="replace") as f:
        f.seek(since)
        text = f.read()
    best = None
    for m in re.finditer(r"duration: ([0-9.]+) ms  plan:\n(.*?)(?=\n\S|\Z)", text, re.S):
        ms, body = float(m.group(1)), m.group(2)
        if "Query Text:" not in body or "pg_stat_activity" in body:
            continue
        if best is None or ms > best[0]:
            best = (ms, body)
    if best is None:
        return None
    ms, body = best
    if os.environ.get("LISTINGS_PLANS"):
        print(body, file=sys.stderr)
    top = re.search(r"Buffers: shared((?: hit=\d+)?(?: read=\d+)?)", body)
    bufs = sum(int(x) for x in re.findall(r"(?:hit|read)=(\d+)", top.group(1))) if top else 0
    return ms, bufs, names(r"Index (?:Only )?Scan(?: Backward)? using (\w+)", body), \
        names(r"Seq Scan on (\w+)", body)


def names(pattern, body):
    """The relations or indexes a plan names, a partition's set as one
    (oauth_tokens_*_client_id_expires_at_idx x8)."""
    got = {}
    for n in re.findall(pattern, body):
        k = re.sub(r"_(\d{6,8}|before)(?=_|$)", "_*", n)
        got.setdefault(k, set()).add(n)
    return sorted(k if len(v) == 1 else "%s x%d" % (k, len(v)) for k, v in got.items())


def run_size(binary, n):
    s = Server(binary)
    rows = []
    try:
        st, b = s.request("POST", "/api/v1/apps", {"name": "listings", "scopes": ["mcp:read"]})
        app = json.loads(b)["id"]
        agent = json.loads(s.request("POST", "/api/v1/agents", {
            "app_id": app, "name": "listings", "scopes": ["mcp:read"]})[1])["id"]
        t0 = time.time()
        populate(s, n, agent)
        fill_s = time.time() - t0
        explain_on(s)
        log = os.path.join(s.data, "pg", "postgres.log")
        mid = n // 2
        agents_mid = b64(s.sql("SELECT %s || ' ' || client_id FROM oauth_clients WHERE kind = "
                               "'agent' ORDER BY created_at DESC, client_id DESC OFFSET %d LIMIT 1"
                               % (TS % "created_at", mid)))
        tokens_mid = b64(s.sql("SELECT %s || ' ' || jti FROM oauth_tokens WHERE client_id = '%s' "
                               "ORDER BY expires_at DESC, jti DESC OFFSET %d LIMIT 1"
                               % (TS % "expires_at", agent, mid)))
        audit_mid = b64(s.sql("SELECT ((extract(epoch FROM created_at) * 1000000)::numeric)::bigint"
                              " || ':' || id FROM audit_events ORDER BY created_at DESC, id DESC "
                              "OFFSET %d LIMIT 1" % mid))
        tokens = "/api/v1/agents/%s/tokens" % agent
        ops = [
            ("agents, first page", "/api/v1/agents?limit=100"),
            ("agents, first page, total=true", "/api/v1/agents?limit=100&total=true"),
            ("agents, middle page by cursor", "/api/v1/agents?limit=100&cursor=" + agents_mid),
            ("agents, middle page by offset (legacy)", "/api/v1/agents?limit=100&offset=%d" % mid),
            ("agent tokens, first page", tokens + "?limit=100"),
            ("agent tokens, first page, total=true", tokens + "?limit=100&total=true"),
            ("agent tokens, middle page by cursor", tokens + "?limit=100&cursor=" + tokens_mid),
            ("audit, first page", "/api/v1/audit-logs?limit=100"),
            ("audit, middle page by cursor", "/api/v1/audit-logs?limit=100&cursor=" + audit_mid),
            ("audit, first page by actor", "/api/v1/audit-logs?limit=100&actor_id=" + agent),
        ]
        for name, path in ops:
            times, plan = [], None
            for i in range(5):
                at = os.path.getsize(log)
                a = time.time()
                st, body = s.get(path)
                times.append((time.time() - a) * 1000)
                if st != 200:
                    sys.exit("%s: HTTP %d %s" % (path, st, body[:200]))
                time.sleep(0.05)  # auto_explain writes the plan after the answer
                plan = plan_of(log, at) or plan
            page = json.loads(body)
            rows.append((n, name, statistics.median(times), plan, len(page["data"])))
        return rows, fill_s
    finally:
        s.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shark", default=os.path.join(os.path.dirname(__file__), "..", "build", "shark"))
    ap.add_argument("--sizes", default="10000,100000,1000000")
    args = ap.parse_args()
    print("%-8s %-40s %8s %8s %8s %4s  %s" % ("N", "page", "HTTP ms", "exec ms", "buffers",
                                              "rows", "index (seq scans)"), flush=True)
    for n in [int(x) for x in args.sizes.split(",")]:
        print("== N = %d" % n, file=sys.stderr, flush=True)
        rows, fill_s = run_size(os.path.abspath(args.shark), n)
        for n, name, ms, plan, k in rows:
            ex, bufs, idx, seq = plan if plan else (float("nan"), 0, [], [])
            print("%-8d %-40s %8.1f %8.2f %8d %4d  %s%s" % (
                n, name, ms, ex, bufs, k, ", ".join(idx) or "-",
                " (seq: %s)" % ", ".join(seq) if seq else ""), flush=True)
        print("N=%d: populated in %.1f s" % (n, fill_s), flush=True)


if __name__ == "__main__":
    main()
