#!/usr/bin/env python3
"""bench/issue_statement.py: PostgreSQL CPU of store/batch.c's issuing
statement alone, per token, by batch size and kind of record (client
credentials, or an exchange whose parent must be checked). Starts shark on a
throwaway embedded database for its schema, then on one connection of its own
PREPAREs the statement as store/batch.c has it (or as each given copy of
batch.c has it, to compare variants side by side) and EXECUTEs it with fresh
records, reading the backend's CPU time from /proc/<pid>/schedstat.

    python3 bench/issue_statement.py [--shark build/shark] [--rounds 3] [batch.c ...]

Each statement's first executions are batches of one, as on a node that has
just started; the plan cache's generic and custom plan counts are printed at
the end (a statement planned anew for every batch pays for it in every row).
Needs python3-psycopg2. The numbers are for comparing variants on one
machine at one time, not absolute: bench/run measures the whole request."""
import argparse
import json
import os
import random
import re
import string
import sys
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import Server  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def statement(path):
    """The SQL of batch_issue in a copy of store/batch.c (its C literals joined)."""
    src = open(path).read()
    a = src.index("static store_stmt batch_issue")
    b = src.index("NCOLS, 0}", a)
    lits = re.findall(r'"((?:[^"\\]|\\.)*)"', src[a:b])
    return "".join(lits[1:]).replace('\\"', '"').replace("\\\\", "\\")


def rid(n=22):
    return "".join(random.choice(string.ascii_letters + string.digits) for _ in range(n))


def cpu_ns(pid):
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shark", default=os.path.join(HERE, "..", "build", "shark"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("variants", nargs="*", default=[os.path.join(HERE, "..", "store", "batch.c")])
    args = ap.parse_args()
    s = Server(os.path.abspath(args.shark))
    try:
        app = json.loads(s.request("POST", "/api/v1/apps", {"name": "i", "scopes": ["mcp:read"]})[1])
        ag = json.loads(s.request("POST", "/api/v1/agents", {"app_id": app["id"], "name": "i",
                                                             "scopes": ["mcp:read"]})[1])
        cid = ag["id"]
        for _ in range(50):  # parents for the exchanges
            st, _ = s.request("POST", "/oauth/token", admin=False, auth=(cid, ag["client_secret"]),
                              form={"grant_type": "client_credentials"})
            assert st == 200
        # marks of other clients, so the parent's mark lookup reads a real index
        s.sql("INSERT INTO revocation_watermarks (kind, subject_id, revoked_before) "
              "SELECT 'client', 'other_' || g, now() FROM generate_series(1, 200) g")
        parents = [p.split() for p in s.sql(
            "SELECT jti || ' ' || extract(epoch FROM expires_at)::bigint FROM oauth_tokens "
            "WHERE client_id = '%s'" % cid).split("\n")]
        conn = psycopg2.connect(s.ci, password=s.pg_env["PGPASSWORD"])
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SET synchronous_commit = off")  # CPU, not the WAL flush
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        exp = str(int(time.time()) + 3600)

        def records(k, exchange):
            cols = [[] for _ in range(20)]
            for _ in range(k):
                p = random.choice(parents) if exchange else [None, None]
                row = ["tok_" + rid(), cid, cid, None, "mcp:read",
                       "jkt" + rid(40) if exchange else None, None,
                       json.dumps({"sub": cid}) if exchange else None,
                       "dpop:" + rid() if exchange else None, "600", exp,
                       "oauth.token_exchanged" if exchange else "oauth.token_issued", cid,
                       "agent", "{}", "req_" + rid(), "127.0.0.1", p[0], p[1], None]
                for c in range(20):
                    cols[c].append(row[c])
            return cols

        def call(i):
            return "EXECUTE s%d(" % i + ",".join(["%s"] * 20) + ")"
        names = [os.path.relpath(v) for v in args.variants]
        for i, v in enumerate(args.variants):
            cur.execute("PREPARE s%d(%s) AS %s" % (i, ",".join(["text[]"] * 20), statement(v)))
            for _ in range(10):
                cur.execute(call(i), records(1, False))
        print("PostgreSQL CPU per token of the issuing statement, us (rounds: %d)" % args.rounds)
        for k, exchange in ((1, False), (8, False), (1, True), (8, True)):
            n = 800 if k == 1 else 1500 // k
            got = {name: [] for name in names}
            for _ in range(args.rounds):
                for i, name in enumerate(names):
                    batches = [records(k, exchange) for _ in range(n)]
                    c0 = cpu_ns(pid)
                    for b in batches:
                        cur.execute(call(i), b)
                    got[name].append((cpu_ns(pid) - c0) / 1000 / (n * k))
            for name in names:
                print("  batch %d %-21s %-40s %s" % (
                    k, "exchange (parent)" if exchange else "client credentials", name,
                    " ".join("%.1f" % x for x in got[name])))
        cur.execute("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements "
                    "ORDER BY name")
        for name, g, c in cur.fetchall():
            print("  %s: %d generic plans, %d custom plans" % (names[int(name[1:])], g, c))
    finally:
        s.stop()


if __name__ == "__main__":
    main()
