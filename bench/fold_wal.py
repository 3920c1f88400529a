#!/usr/bin/env python3
"""bench/fold_wal.py: what folding token counts into tallies (migration 0042)
costs in WAL when many agents each issue about one token a second, the shape
where every token has a count row of its own. It starts shark on a throwaway
embedded database, makes N agents, writes one count row a second for each
(as the issuing statement would for one token) for S seconds, and reports
the WAL of those writes and the WAL of everything else in the meantime (the
upkeep's fold, mostly), per token, and how many rows are left unfolded.

    python3 bench/fold_wal.py [--shark build/shark] [--agents 1000] [--seconds 48]

127.0.0.1 only; the server is stopped at the end. Figures: README.md.
"""
import argparse
import json
import os
import time

import scale


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shark", default=os.path.join(os.path.dirname(__file__), "..", "build", "shark"))
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=48)
    args = ap.parse_args()
    s = scale.Server(os.path.abspath(args.shark))
    try:
        st, b = s.request("POST", "/api/v1/apps", {"name": "fold", "scopes": ["mcp:read"]})
        app = json.loads(b)["id"]
        agent = json.loads(s.request("POST", "/api/v1/agents", {"app_id": app, "name": "fold",
                                                                "scopes": ["mcp:read"]})[1])
        s.sql("INSERT INTO oauth_clients (client_id, kind, name, description, secret_hash, "
              "auth_method, grant_types, scopes, app_id, created_by) SELECT "
              "'shark_agent_fleet_' || lpad(g::text, 5, '0'), kind, name || g, description, "
              "secret_hash, auth_method, grant_types, scopes, app_id, created_by "
              "FROM oauth_clients, generate_series(1, %d) g WHERE client_id = '%s'"
              % (args.agents, agent["id"]))
        start = scale.wal_lsn(s)
        writes = 0
        for _ in range(args.seconds):
            t0 = time.time()
            lsn = scale.wal_lsn(s)
            s.sql("INSERT INTO token_counts (client_id, issued_sec, expires_at, jkt, stripe, n) "
                  "SELECT 'shark_agent_fleet_' || lpad(g::text, 5, '0'), shark_second(now()), "
                  "shark_second(now()) + interval '1 hour', '', 1, 1 "
                  "FROM generate_series(1, %d) g" % args.agents)
            writes += scale.wal_since(s, lsn)
            time.sleep(max(0, 1 - (time.time() - t0)))
        time.sleep(12)  # the last block settles and folds
        total = scale.wal_since(s, start)
        tokens = args.agents * args.seconds
        fine, tallies = s.sql("SELECT count(*) FILTER (WHERE per_sec IS NULL), "
                              "count(*) FILTER (WHERE per_sec IS NOT NULL) "
                              "FROM token_counts").split("|")
        print("%d agents x %d s = %d tokens: count-row writes %.0f B of WAL per token, "
              "everything else (the fold) %.0f B; %s rows unfolded, %s tallies"
              % (args.agents, args.seconds, tokens, writes / tokens, (total - writes) / tokens,
                 fine, tallies))
    finally:
        s.stop()


if __name__ == "__main__":
    main()
