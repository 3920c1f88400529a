#!/usr/bin/env python3
"""bench/bytes_per_token.py: what one client-credentials token costs in the
database and in WAL, with its oauth.token_issued audit event (issue 18,
item 4). Starts shark on a throwaway embedded database, issues N tokens
(8 connections), then reports per token: WAL bytes (pg_current_wal_lsn before
and after, and pg_waldump --stats over that range by record type), and
table + index bytes of oauth_tokens and audit_events.

    python3 bench/bytes_per_token.py [--shark build/shark] [-n 5000]

Run it against two builds for before/after figures (README.md).
"""
import argparse
import glob
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import Server  # noqa: E402


def waldump(s, start, end):
    bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    pgwal = os.path.join(s.data, "pg", "data", "pg_wal")
    r = subprocess.run([os.path.join(bindir, "pg_waldump"), "--stats=record", "-p", pgwal,
                        "-s", start, "-e", end], capture_output=True, text=True, timeout=300)
    return r.stdout if r.returncode == 0 else r.stderr


def rel_sizes(s):
    """{name: bytes} of each heap and index of oauth_tokens and audit_events, partitions
    summed under the parent's name (an index by the parent index it attaches to)."""
    out = {}
    q = ("SELECT coalesce(pi.inhparent::regclass::text, i.indexrelid::regclass::text), "
         "pg_relation_size(i.indexrelid) FROM pg_index i "
         "LEFT JOIN pg_inherits pi ON pi.inhrelid = i.indexrelid "
         "WHERE i.indrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent IN "
         "('oauth_tokens'::regclass, 'audit_events'::regclass)) "
         "UNION ALL SELECT p.inhparent::regclass::text || ' (heap)', pg_relation_size(p.inhrelid) "
         "FROM pg_inherits p WHERE p.inhparent IN ('oauth_tokens'::regclass, "
         "'audit_events'::regclass)")
    for line in s.sql(q).splitlines():
        name, size = line.rsplit("|", 1)
        out[name] = out.get(name, 0) + int(size)
    return out


def rel_growth(s, before, after):
    return sorted(((k, v - before.get(k, 0)) for k, v in after.items()), key=lambda kv: kv[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shark", default=os.path.join(os.path.dirname(__file__), "..", "build", "shark"))
    ap.add_argument("-n", type=int, default=5000)
    args = ap.parse_args()
    s = Server(os.path.abspath(args.shark))
    try:
        app = json.loads(s.request("POST", "/api/v1/apps", {"name": "b", "scopes": ["mcp:read"]})[1])
        ag = json.loads(s.request("POST", "/api/v1/agents", {"app_id": app["id"], "name": "b",
                                                             "scopes": ["mcp:read"]})[1])
        auth = (ag["id"], ag["client_secret"])

        def one(_):
            st, _ = s.request("POST", "/oauth/token", admin=False, auth=auth,
                              form={"grant_type": "client_credentials"})
            assert st == 200

        with ThreadPoolExecutor(8) as ex:  # warm: the first batch pays for catalog work
            list(ex.map(one, range(200)))
        s.sql("CHECKPOINT")
        size_sql = ("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "WHERE c.oid = '{0}'::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits "
                    "WHERE inhparent = '{0}'::regclass)")
        sizes0 = [int(s.sql(size_sql.format(t))) for t in ("oauth_tokens", "audit_events")]
        rels0 = rel_sizes(s)
        start = s.sql("SELECT pg_current_wal_lsn()")
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(one, range(args.n)))
        end = s.sql("SELECT pg_current_wal_lsn()")
        wal = int(s.sql("SELECT pg_wal_lsn_diff('%s', '%s')" % (end, start)))
        s.sql("VACUUM oauth_tokens")
        s.sql("VACUUM audit_events")
        sizes1 = [int(s.sql(size_sql.format(t))) for t in ("oauth_tokens", "audit_events")]
        n = args.n
        print("shark %s: %d tokens" % (os.path.abspath(args.shark), n))
        print("WAL per token: %.0f B (incl. full-page images after the checkpoint)" % (wal / n))
        print("oauth_tokens per token: %.0f B; audit_events per token: %.0f B (tables + indexes)"
              % ((sizes1[0] - sizes0[0]) / n, (sizes1[1] - sizes0[1]) / n))
        # Per relation (heap, each index) of both tables' partitions, summed over partitions
        # by the parent's index name; the growth over the run, per token.
        print("per relation, B per token (growth over the run):")
        for name, grew in rel_growth(s, rels0, rel_sizes(s)):
            print("  %-40s %6.1f" % (name, grew / n))
        print("audit row columns, mean B (pg_column_size) of the run's events:")
        print(s.sql("SELECT 'id ' || round(avg(pg_column_size(id)), 1) || ', event ' || "
                    "round(avg(pg_column_size(event)), 1) || ', actor_id ' || "
                    "round(avg(pg_column_size(actor_id)), 1) || ', target_id ' || "
                    "round(avg(pg_column_size(target_id)), 1) || ', metadata ' || "
                    "round(avg(pg_column_size(metadata)), 1) || ', request_id ' || "
                    "round(avg(coalesce(pg_column_size(request_id), 0)), 1) || ', row ' || "
                    "round(avg(pg_column_size(a.*)), 1) FROM audit_events a "
                    "WHERE event = 'oauth.token_issued'"))
        print(waldump(s, start, end))
    finally:
        s.stop()


if __name__ == "__main__":
    main()
