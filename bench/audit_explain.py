#!/usr/bin/env python3
"""bench/audit_explain.py: does each filter combination of GET /api/v1/audit-logs
read its first page through an index that fits it, whatever the data (issue 18,
item 6)? Starts shark on a throwaway embedded database, fills audit_events with
N rows through SQL in the server's shapes (generate_series, in time order), then
runs, for each filter combination, the statement shark_audit_list (migration
0040) plans for it with the filters' values: EXPLAIN (ANALYZE, BUFFERS) of that
statement (its execution and planning time, buffers, the indexes it read), and
the time of the call of shark_audit_list itself, planning included, which is
what the server waits for.

The data mixes three distributions in one table:
  * hot:  one agent ("shark_agent_hot") with 60% of all rows (token events), and
          three old agent.secret_rotated events of its own near the start;
  * many: 30% over 10,000 agents (shark_agent_m00000..m09999);
  * old:  one agent ("shark_agent_old") whose 1,000 events are the oldest rows,
          under N - 1,000 newer rows of others;
  plus 10% admin events (20 kinds, 5 admin keys, targets among the agents) and
  five vault.connection_created events among the oldest rows. Of the token
  events 1% are exchanges and 0.5% refreshes. A token event's target is a jti in
  the server's shape (its first digits the issue time) and its id the server's.

Then heavy issuance (--heavy SECONDS, default 60): --rate rows a second (1,000)
appended in tenths of a second, each its own transaction, while the server runs
as it does (its upkeep included), and every 10 s the lookup of an old and of the
newest jti: a BRIN index reads every range it has not summarized yet.

    python3 bench/audit_explain.py [--shark build/shark] [-n 1000000]
        [--heavy 60] [--rate 1000] [--only-heavy]

127.0.0.1 only; everything it starts is stopped at the end. Figures: README.md.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import Server  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ADMIN_EVENTS = ["agent.created", "agent.updated", "agent.deleted", "agent.secret_rotated",
                "agent.tokens_revoked_all", "app.created", "app.updated", "user.created",
                "user.updated", "user.deleted", "webhook.created", "webhook.updated",
                "oauth.token_revoked", "oauth.consent_granted", "system.started",
                "admin.key_created", "vault.provider_created", "session.revoked",
                "app.deleted", "oauth.client_registered"]


B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def create_jti(s):
    """bench_jti(ms, h): a jti in the server's shape (protocol/token.c's token_new_jti):
    "tok_" and the 22 base62 digits of 48 bits of milliseconds then 80 random bits, so
    its first digits are the issue time. The first 11 digits are those of
    floor(ms * 2^80 / 62^11) plus a random part below one millisecond's step (23,232);
    the other 11 come from h."""
    top = ("(((ms::numeric * 1208925819614629174706176) / 52036560683837093888)::bigint"
           " + abs(h) % 23232)")
    high = " || ".join("substr('%s', (%s / %d %% 62)::int + 1, 1)" % (B62, top, 62 ** k)
                       for k in range(10, -1, -1))
    low = " || ".join("substr('%s', (abs(hashint8(h + %d)) %% 62)::int + 1, 1)" % (B62, k)
                      for k in range(11))
    s.sql("CREATE FUNCTION bench_jti(ms bigint, h bigint) RETURNS text LANGUAGE sql IMMUTABLE "
          "AS $$ SELECT 'tok_' || %s || %s $$" % (high, low))


def rows_sql(lo, hi, t):
    """The INSERT of rows lo..hi, row g created at t (an SQL expression in g). A token
    event's target is its jti, issued 0-2 ms before the event is written, and its id is
    the server's ("audit_" and the jti's 22 digits)."""
    admin = "ARRAY[%s]" % ",".join("'%s'" % e for e in ADMIN_EVENTS)
    # r: which kind of row g is, from a hash of g (deterministic, spread evenly)
    return (
        "WITH g AS (SELECT g, abs(hashint4(g)::bigint) %% 1000 AS r, "
        "abs(hashint4(g + 7)::bigint) AS h, %s AS t FROM generate_series(%d, %d) g), "
        "k AS (SELECT g, h, r, t, CASE "
        "  WHEN g <= 1000 THEN 'old' WHEN g IN (1500, 2500, 3500) THEN 'hot_rare' "
        "  WHEN g IN (1200, 2200, 3200, 4200, 5200) THEN 'vault' "
        "  WHEN r < 600 THEN 'hot' WHEN r < 900 THEN 'many' ELSE 'admin' END AS kind "
        "  FROM g), "
        "e AS (SELECT g, t, kind, "
        "  CASE kind WHEN 'admin' THEN (%s)[1 + h %% 20] "
        "    WHEN 'hot_rare' THEN 'agent.secret_rotated' "
        "    WHEN 'vault' THEN 'vault.connection_created' "
        "    ELSE CASE WHEN h %% 1000 < 10 THEN 'oauth.token_exchanged' "
        "              WHEN h %% 1000 < 15 THEN 'oauth.token_refreshed' "
        "              ELSE 'oauth.token_issued' END END AS event, "
        "  CASE kind WHEN 'old' THEN 'shark_agent_old' WHEN 'hot' THEN 'shark_agent_hot' "
        "    WHEN 'hot_rare' THEN 'shark_agent_hot' "
        "    WHEN 'many' THEN 'shark_agent_m' || lpad((h %% 10000)::text, 5, '0') "
        "    ELSE 'admk_' || (h %% 5) END AS actor, "
        "  'shark_agent_m' || lpad((h %% 10000)::text, 5, '0') AS agent, "
        "  bench_jti((extract(epoch FROM t) * 1000)::bigint - h %% 3, h * 7919 + g) AS jti "
        "  FROM k), "
        "x AS (SELECT *, event LIKE 'oauth.token_%%' AND event <> 'oauth.token_revoked' "
        "  AS is_token FROM e) "
        "INSERT INTO audit_events (id, event, actor_id, actor_type, target_id, metadata, "
        "  request_id, client_ip, created_at) "
        "SELECT CASE WHEN is_token THEN 'audit_' || substr(jti, 5) ELSE shark_id('audit_') END, "
        "  event, actor, CASE WHEN actor LIKE 'admk_%%' THEN 'admin' ELSE 'agent' END, "
        "  CASE WHEN is_token THEN jti ELSE agent END, "
        "  CASE WHEN is_token THEN '{\"scope\": \"mcp:read\"}'::jsonb "
        "    ELSE jsonb_build_object('name', agent) END, "
        "  'req_bench' || g, '127.0.0.1', t FROM x" % (t, lo, hi, admin))


def populate(s, n):
    """N rows, a millisecond apart from N ms ago (the order the server appends them),
    then vacuumed and analyzed."""
    step = 500000
    create_jti(s)
    for lo in range(1, n + 1, step):
        hi = min(n, lo + step - 1)
        s.sql(rows_sql(lo, hi, "now() - %d * interval '1 ms' + g * interval '1 ms'" % n))
        print("  %d rows" % hi, flush=True)
    s.sql("VACUUM ANALYZE audit_events")
    s.sql("CHECKPOINT")


class Issuance(threading.Thread):
    """Appends rate rows a second from row `first` on, a tenth of a second's worth per
    statement (each its own transaction), the way heavy issuance writes token events,
    through one psql session; stop() ends it. `next` is the next row's number."""

    def __init__(self, s, first, rate):
        super().__init__(daemon=True)
        self.s, self.next, self.step = s, first, rate // 10
        self.halt = threading.Event()
        self.psql = subprocess.Popen(["psql", s.ci, "-X", "-q", "-v", "ON_ERROR_STOP=1"],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     env=s.pg_env, text=True)

    def run(self):
        t0 = time.time()
        i = 0
        while not self.halt.is_set():
            self.psql.stdin.write(rows_sql(self.next, self.next + self.step - 1,
                                           "clock_timestamp()") + ";\n")
            self.psql.stdin.flush()
            self.next += self.step
            i += 1
            self.halt.wait(max(0.0, t0 + i * 0.1 - time.time()))

    def stop(self):
        self.halt.set()
        self.join()
        self.psql.stdin.close()
        self.psql.wait()


def lit(v, cast=""):
    return "NULL" if v is None else "'%s'%s" % (v.replace("'", "''"), cast)


def explain(s, params):
    """The statement shark_audit_list runs for these filters, planned with their values
    as its EXECUTE plans it: (execution ms, planning ms, buffers, rows, index names); the
    call of shark_audit_list itself, planning included (ms); and the heap pages a BRIN
    index could not rule out (its unsummarized ranges and those that may hold the jti)."""
    sql = s.sql("SELECT shark_audit_sql(%s)" % ", ".join(lit(v) for v in params[:4]))
    types = ["text", "text", "text", "text", "timestamptz", "timestamptz", "bigint", "text",
             "integer"]
    vals = ", ".join(lit(v, "::" + t) for v, t in zip(params, types))
    # one session: a first run warms its caches (the server's connections are long-lived),
    # then the best of three
    # with the settings shark_audit_list runs it with
    sets = s.sql("SELECT string_agg('SET ' || replace(c, '=', ' = '), '; ') FROM pg_proc, "
                 "unnest(proconfig) c WHERE proname = 'shark_audit_list'")
    plan = s.sql("%s; SET plan_cache_mode = force_custom_plan; PREPARE p(%s) AS %s; EXECUTE p(%s); "
                 % (sets, ", ".join(types), sql, vals)
                 + "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE p(%s); " % vals * 3)
    runs = [json.loads(j)[0] for j in re.findall(r"^\[.*?^\]$", plan, re.S | re.M)]
    top = runs[-1]
    indexes = set()

    lossy = [0]

    def walk(node):
        if "Index Name" in node:
            indexes.add(node["Index Name"])
        lossy[0] += node.get("Lossy Heap Blocks", 0)
        for child in node.get("Plans", []):
            walk(child)
    walk(top["Plan"])
    buf = top["Plan"].get("Shared Hit Blocks", 0) + top["Plan"].get("Shared Read Blocks", 0)
    call = s.sql("SELECT count(*) FROM shark_audit_list(%s); " % vals
                 + "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM shark_audit_list(%s); " % vals * 3)
    calls = [json.loads(j)[0] for j in re.findall(r"^\[.*?^\]$", call, re.S | re.M)]
    return (min(r["Execution Time"] for r in runs), min(r["Planning Time"] for r in runs), buf,
            top["Plan"]["Actual Rows"], sorted(indexes), min(c["Execution Time"] for c in calls),
            lossy[0])


def run(s, cases, names):
    """Prints one line per (name, filters) case."""
    for name, f in cases:
        cur = f.get("cursor", (None, None))
        params = [f.get("actor"), f.get("target"), f.get("event"), f.get("prefix"),
                  f.get("since"), f.get("until"), cur[0], cur[1], "101"]
        ms, plan_ms, buf, rows, idx, call_ms, lossy = explain(s, params)
        idx = ", ".join(sorted(set(names.get(i, i).replace("audit_events_", "") for i in idx)))
        print("%-46s %6.2f ms %6.2f ms %6.2f ms %8d %5d  %s%s" % (
            name, call_ms, ms, plan_ms, buf, rows, idx,
            " (BRIN: %d pages read)" % lossy if lossy else ""), flush=True)


def heavy(s, n, seconds, rate, old_jti, names):
    """Heavy issuance: rate rows a second appended for `seconds`, with the server's
    upkeep running as it does; every 10 s the lookups by jti (an old one, the newest)."""
    print("\nheavy issuance: %d rows a second for %d s, lookups every 10 s:" % (rate, seconds))
    summarizes = s.sql("SELECT to_regprocedure('shark_audit_summarize()') IS NOT NULL") == "t"
    ins = Issuance(s, n + 1, rate)
    ins.start()
    t0 = time.time()
    try:
        for k in range(1, seconds // 10 + 1):
            time.sleep(max(0.0, t0 + 10 * k - time.time()))
            newest = s.sql("SELECT target_id FROM audit_events WHERE event = 'oauth.token_issued' "
                           "ORDER BY created_at DESC LIMIT 1")
            print("after %3.0f s (%d rows appended):" % (time.time() - t0, ins.next - n - 1))
            run(s, [("  target: an old jti", {"target": old_jti}),
                    ("  target: the newest jti", {"target": newest})], names)
            if summarizes:
                # one call of the upkeep's statement (0 when the upkeep's own holds the lock)
                print("  shark_audit_summarize(): " + s.sql(
                    "WITH t AS MATERIALIZED (SELECT clock_timestamp() AS t0), "
                    "n AS MATERIALIZED (SELECT shark_audit_summarize() AS n FROM t) "
                    "SELECT n || ' ranges in ' || round(extract(epoch FROM clock_timestamp() "
                    "- t0)::numeric * 1000, 2) || ' ms' FROM n, t"))
    finally:
        ins.stop()
    print("then:")
    run(s, [("no filter", {}), ("actor: hot (60% of rows)", {"actor": "shark_agent_hot"})], names)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shark", default=os.path.join(ROOT, "build", "shark"))
    ap.add_argument("-n", type=int, default=1000000)
    ap.add_argument("--heavy", type=int, default=60, metavar="SECONDS",
                    help="then append --rate rows a second for this long (0: not)")
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--only-heavy", action="store_true", help="skip the filter combinations")
    args = ap.parse_args()
    s = Server(os.path.abspath(args.shark))
    try:
        t0 = time.time()
        populate(s, args.n)
        print("populated %d rows in %.0f s; audit_events %s" % (
            args.n, time.time() - t0,
            s.sql("SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) "
                  "FROM pg_inherits WHERE inhparent = 'audit_events'::regclass")))
        mid, mid_end = s.sql("SELECT t || '|' || t + interval '1 minute' FROM (SELECT "
                             "created_at + %d * interval '1 ms' AS t FROM audit_events "
                             "WHERE event = 'oauth.token_issued' ORDER BY created_at LIMIT 1) f"
                             % (args.n // 2)).split("|")
        names = dict(line.split("|") for line in s.sql(
            "SELECT c.inhrelid::regclass::text, c.inhparent::regclass::text FROM pg_inherits c "
            "JOIN pg_class p ON p.oid = c.inhparent WHERE p.relkind = 'I'").splitlines())
        # the second page's position: the 101st newest row
        pos = s.sql("SELECT (extract(epoch FROM created_at) * 1000000)::numeric::bigint || '|' "
                    "|| id FROM audit_events ORDER BY created_at DESC, id DESC OFFSET 99 LIMIT 1")
        cur_ts, cur_id = pos.split("|")
        jti = s.sql("SELECT target_id FROM audit_events WHERE event = 'oauth.token_issued' "
                    "AND created_at < now() - interval '1 minute' LIMIT 1")
        cases = [
            ("no filter", {}),
            ("no filter, page 2 (cursor)", {"cursor": (cur_ts, cur_id)}),
            ("since/until: one minute mid-way", {"since": mid, "until": mid_end}),
            ("actor: hot (60% of rows)", {"actor": "shark_agent_hot"}),
            ("actor: one of 10,000", {"actor": "shark_agent_m00042"}),
            ("actor: old (under N newer rows)", {"actor": "shark_agent_old"}),
            ("actor: unknown", {"actor": "shark_agent_nobody"}),
            ("actor hot + one minute mid-way", {"actor": "shark_agent_hot", "since": mid,
                                                "until": mid_end}),
            ("actor hot + event (rare for it)", {"actor": "shark_agent_hot",
                                                 "event": "agent.secret_rotated"}),
            ("actor hot + event token_issued", {"actor": "shark_agent_hot",
                                                "event": "oauth.token_issued"}),
            ("actor hot + prefix agent.*", {"actor": "shark_agent_hot", "prefix": "agent."}),
            ("actor admin + event agent.updated", {"actor": "admk_1", "event": "agent.updated"}),
            ("actor admin + event token_issued (none)", {"actor": "admk_1",
                                                         "event": "oauth.token_issued"}),
            ("actor admin + prefix oauth.*", {"actor": "admk_1", "prefix": "oauth."}),
            ("actor admin (10% of rows / 5)", {"actor": "admk_1"}),
            ("actor hot + event token_exchanged", {"actor": "shark_agent_hot",
                                                   "event": "oauth.token_exchanged"}),
            ("target: a jti", {"target": jti}),
            ("target: an agent (admin events)", {"target": "shark_agent_m00042"}),
            ("target jti + event token_issued", {"target": jti, "event": "oauth.token_issued"}),
            ("event: oauth.token_issued", {"event": "oauth.token_issued"}),
            ("event: oauth.token_exchanged (1%)", {"event": "oauth.token_exchanged"}),
            ("event: agent.updated (0.5%)", {"event": "agent.updated"}),
            ("event: vault.connection_created (5 old rows)", {"event": "vault.connection_created"}),
            ("prefix: oauth.*", {"prefix": "oauth."}),
            ("prefix: agent.*", {"prefix": "agent."}),
            ("prefix: vault.* (5 old rows + 0.5%)", {"prefix": "vault."}),
            ("prefix: nothing matches", {"prefix": "nothing."}),
            ("event agent.updated + one minute", {"event": "agent.updated", "since": mid,
                                                  "until": mid_end}),
        ]
        print("\n%-46s %9s %9s %9s %8s %5s  %s" % (
            "filter (first page, limit 100)", "call", "exec", "plan", "buffers", "rows",
            "indexes read"))
        run(s, cases[16:17] if args.only_heavy else cases, names)
        if args.heavy:
            heavy(s, args.n, args.heavy, args.rate, jti, names)
    finally:
        s.stop()


if __name__ == "__main__":
    main()
