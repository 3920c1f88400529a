#!/usr/bin/env python3
"""bench/vault_reauth.py: what the vault connections listing's needs_reauth
filter costs as connections grow (issue 17). For each size N it starts shark
on a throwaway embedded database (bench/scale.py's Server), populates N
connections (N/4 users, four providers each, a millisecond apart) of which
one in 200 needs re-authorisation, all of one provider, and times over HTTP
the first page of each filter, with each statement's plan from auto_explain
on the server's own connections (bench/listings.py's way).

    python3 bench/vault_reauth.py [--shark build/shark] [--sizes 100000,1000000] [--without-index]

--without-index drops migration 0041's partial index first, for contrast.

127.0.0.1 only; everything it starts is stopped at the end. Figures: README.md.
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from listings import explain_on, plan_of  # noqa: E402
from scale import Server  # noqa: E402

PROVIDERS = ("google_gmail", "microsoft", "slack", "notion")


def populate(s, n):
    s.sql("INSERT INTO users (id, email) SELECT 'usr_b' || g, 'b' || g || '@bench.test' "
          "FROM generate_series(1, %d) g" % (n // 4 + 1))
    # g = 200k falls on the fourth provider: those needing re-authorisation
    # are all notion's, and slack has none.
    s.sql("INSERT INTO vault_connections (id, user_id, provider_id, needs_reauth, created_at) "
          "SELECT 'conn_b' || lpad(g::text, 8, '0'), 'usr_b' || (1 + (g - 1) / 4), "
          "(ARRAY[%s])[1 + (g - 1) %% 4], g %% 200 = 0, "
          "now() - interval '1 day' + g * interval '1 ms' FROM generate_series(1, %d) g"
          % (", ".join("'%s'" % p for p in PROVIDERS), n))
    s.sql("VACUUM ANALYZE vault_connections")
    s.sql("CHECKPOINT")


def run_size(binary, n, without_index):
    s = Server(binary)
    rows = []
    try:
        populate(s, n)
        if without_index:
            s.sql("DROP INDEX vault_connections_reauth")
        explain_on(s)
        log = os.path.join(s.data, "pg", "postgres.log")
        base = "/api/v1/vault/connections?limit=100"
        ops = [
            ("all, first page", base),
            ("needs_reauth=false", base + "&needs_reauth=false"),
            ("needs_reauth=true", base + "&needs_reauth=true"),
            ("needs_reauth=true, notion (all of them)", base + "&needs_reauth=true&provider_id=notion"),
            ("needs_reauth=true, slack (none)", base + "&needs_reauth=true&provider_id=slack"),
            ("needs_reauth=true, one user", base + "&needs_reauth=true&user_id=usr_b50"),
        ]
        for name, path in ops:
            times, plan = [], None
            for _ in range(5):
                at = os.path.getsize(log)
                a = time.time()
                st, body = s.get(path)
                times.append((time.time() - a) * 1000)
                if st != 200:
                    sys.exit("%s: HTTP %d %s" % (path, st, body[:200]))
                time.sleep(0.05)  # auto_explain writes the plan after the answer
                plan = plan_of(log, at) or plan
            rows.append((n, name, statistics.median(times), plan, len(json.loads(body)["data"])))
        return rows
    finally:
        s.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shark", default=os.path.join(os.path.dirname(__file__), "..", "build", "shark"))
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--without-index", action="store_true")
    args = ap.parse_args()
    print("%-8s %-42s %8s %8s %8s %4s  %s" % ("N", "page", "HTTP ms", "exec ms", "buffers",
                                              "rows", "index (seq scans)"), flush=True)
    for n in [int(x) for x in args.sizes.split(",")]:
        for n, name, ms, plan, k in run_size(os.path.abspath(args.shark), n, args.without_index):
            ex, bufs, idx, seq = plan if plan else (float("nan"), 0, [], [])
            print("%-8d %-42s %8.1f %8.2f %8d %4d  %s%s" % (
                n, name, ms, ex, bufs, k, ", ".join(idx) or "-",
                " (seq: %s)" % ", ".join(seq) if seq else ""), flush=True)


if __name__ == "__main__":
    main()
