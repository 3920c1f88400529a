-- Token counts folded into tallies (issue 18): token_counts (0035) holds a
-- row per client, second of issue, expiry, key and connection. An agent that
-- issues about one token a second has a row per token, so a pattern over
-- 1,000 such agents summed a million rows (1.7 s at 1M tokens).
--
-- The upkeep now folds settled rows (their second is over, so no batch adds
-- to them again) into tally rows: per client, key, segment of issue time
-- and 64-second window of expiry, the count by second of expiry (per_sec;
-- element i counts the tokens expiring at expires_at + i - 1 seconds). A
-- tally is told apart by stripe -1; issued_sec holds its segment's start.
--
-- Segments end at the client's mark times (client mark, key mark and its
-- bound_before): a fine row whose second holds one is never folded, and a
-- tally gathers only seconds between the same two marks, so each tally lies
-- wholly on one side of every mark and is decided by its segment's start as
-- a fine row is by its second. A later mark is taken now, after every
-- second already folded, so it never falls inside a tally. The expiry edge
-- stays exact through per_sec.
--
-- A connection writes only its current second's row (store/batch.c); the
-- per-jti trigger adds its negative counts to the tally when the second is
-- settled and to a fine row otherwise. Rows and tallies are all deltas, and
-- folding moves rows (DELETE ... RETURNING into the tally in one statement),
-- so nothing is counted twice. Nodes of the version before write fine rows
-- as ever and never fold.
ALTER TABLE token_counts ADD COLUMN per_sec integer[];

CREATE INDEX token_counts_unfolded ON token_counts (issued_sec) WHERE per_sec IS NULL;

CREATE FUNCTION shark_tally_add(a integer[], b integer[]) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i)
    FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i)
$$;

-- A client's mark times, to the second (what splits its segments).
CREATE FUNCTION shark_count_edges(cid text) RETURNS timestamptz[] LANGUAGE sql STABLE AS $$
    SELECT ARRAY(SELECT shark_second(revoked_before) FROM revocation_watermarks
                 WHERE kind IN ('client', 'key') AND subject_id = cid
                 UNION SELECT shark_second(bound_before) FROM revocation_watermarks
                 WHERE kind = 'key' AND subject_id = cid AND bound_before IS NOT NULL)
$$;

-- Seconds before this are settled: no batch adds to their rows again, and
-- no mark can fall in them any more. The last whole 8 seconds less 2, so a
-- slow agent's tally is rewritten once per 8-second block, not per token
-- (WAL per token of 1,000 agents issuing one a second each: 282 B for the
-- fold at 4-second blocks, 186 B at 8; a count reads up to 11 seconds of
-- fine rows).
CREATE FUNCTION shark_settled() RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT to_timestamp(floor(extract(epoch FROM now()) / 8) * 8) - interval '2 seconds'
$$;

-- Adds count deltas of settled seconds, none holding a mark, to tallies;
-- answers how many tally rows it wrote.
CREATE FUNCTION shark_tally_in(cids text[], secs timestamptz[], exps timestamptz[],
                               jkts text[], ns bigint[]) RETURNS integer LANGUAGE sql AS $$
    WITH r AS (SELECT * FROM unnest(cids, secs, exps, jkts, ns) AS r(cid, sec, ex, k, n)),
    keyed AS (
        SELECT r.cid, r.k, r.n,
               coalesce((SELECT max(x) + interval '1 second'
                         FROM unnest(shark_count_edges(r.cid)) x WHERE x < r.sec), 'epoch') AS seg,
               to_timestamp(floor(extract(epoch FROM r.ex) / 64) * 64) AS base,
               (floor(extract(epoch FROM r.ex))::bigint % 64)::integer AS off
        FROM r),
    by_sec AS (SELECT cid, k, seg, base, off, sum(n) AS n FROM keyed GROUP BY 1, 2, 3, 4, 5),
    tally AS (
        SELECT cid, k, seg, base, sum(n) AS n,
               (SELECT array_agg(coalesce(m.v, 0)::integer ORDER BY i)
                FROM generate_series(0, 63) i
                LEFT JOIN unnest(array_agg(off), array_agg(n)) AS m(o, v) ON m.o = i) AS per
        FROM by_sec GROUP BY 1, 2, 3, 4),
    put AS (
        INSERT INTO token_counts AS c (client_id, issued_sec, expires_at, jkt, stripe, n, per_sec)
        SELECT cid, seg, base, k, -1, n, per FROM tally ORDER BY 1, 2, 3, 4
        ON CONFLICT (client_id, issued_sec, expires_at, jkt, stripe) DO UPDATE
            SET n = c.n + excluded.n, per_sec = shark_tally_add(c.per_sec, excluded.per_sec)
        RETURNING 1)
    SELECT count(*)::integer FROM put
$$;

-- Folds up to `lim` settled fine rows into tallies; answers how many moved.
CREATE FUNCTION shark_fold_token_counts(lim integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    moved integer;
    touched integer;
BEGIN
    WITH pick AS (
        SELECT c.ctid AS row_id FROM token_counts c
        WHERE c.per_sec IS NULL AND c.issued_sec < shark_settled() AND c.expires_at > now()
          AND NOT c.issued_sec = ANY (shark_count_edges(c.client_id))
        LIMIT lim FOR UPDATE SKIP LOCKED),
    gone AS (
        DELETE FROM token_counts c WHERE c.ctid = ANY (ARRAY(SELECT row_id FROM pick))
        RETURNING c.client_id, c.issued_sec, c.expires_at, c.jkt, c.n)
    SELECT count(*), shark_tally_in(array_agg(client_id), array_agg(issued_sec),
                                    array_agg(expires_at), array_agg(jkt), array_agg(n))
    INTO moved, touched FROM gone;
    RETURN moved;
END
$$;

-- 0035's, a token revoked by its jti leaving the count: in a settled second
-- straight into its tally (a bulk revocation of 100k slow agents' tokens
-- would otherwise leave 100k fine rows for the next count to read).
CREATE OR REPLACE FUNCTION shark_tokens_uncounted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched integer;
BEGIN
    WITH d AS (
        SELECT nw.client_id AS cid, shark_second(nw.issued_at) AS sec, nw.expires_at AS ex,
               coalesce(nw.jkt, '') AS k, -count(*) AS n
        FROM uncounted_new nw JOIN uncounted_old o USING (jti, expires_at)
        WHERE o.revoked_at IS NULL AND nw.revoked_at IS NOT NULL AND nw.user_id IS NULL
        GROUP BY 1, 2, 3, 4),
    s AS (
        SELECT d.*, d.sec < shark_settled() AND NOT d.sec = ANY (shark_count_edges(d.cid))
                    AS settled
        FROM d),
    fine AS (
        INSERT INTO token_counts AS c (client_id, issued_sec, expires_at, jkt, stripe, n)
        SELECT cid, sec, ex, k, pg_backend_pid(), n FROM s WHERE NOT settled ORDER BY 1, 2, 3, 4
        ON CONFLICT (client_id, issued_sec, expires_at, jkt, stripe) DO UPDATE
            SET n = c.n + excluded.n)
    SELECT shark_tally_in(array_agg(cid) FILTER (WHERE settled),
                          array_agg(sec) FILTER (WHERE settled),
                          array_agg(ex) FILTER (WHERE settled),
                          array_agg(k) FILTER (WHERE settled),
                          array_agg(n) FILTER (WHERE settled))
    INTO touched FROM s;
    RETURN NULL;
END
$$;
ALTER FUNCTION shark_tokens_uncounted() SET enable_nestloop = off;

-- A tally's expires_at is its window's first second: it goes when the whole
-- window has (fine rows keep 0035's minute).
CREATE OR REPLACE FUNCTION shark_purge_token_counts(lim integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM token_counts WHERE ctid IN (SELECT ctid FROM token_counts
        WHERE expires_at < now() - interval '2 minutes 4 seconds' LIMIT lim FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- 0037's, reading tallies: a row counts whole while its expires_at is ahead,
-- and a tally whose window holds now counts the seconds still ahead.
CREATE OR REPLACE FUNCTION shark_clients_live(cids text[], other_than text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    WITH m AS (
        SELECT s.cid, p.revoked_before AS p, k.keep_jkt AS keep, k.revoked_before AS kr,
               coalesce(k.bound_before, '-infinity') AS kb,
               ARRAY(SELECT shark_second(x) FROM unnest(ARRAY[p.revoked_before, k.revoked_before,
                     k.bound_before]) x WHERE x IS NOT NULL) AS edges
        FROM (SELECT DISTINCT cid FROM unnest(cids) cid) s
        LEFT JOIN revocation_watermarks p ON p.kind = 'client' AND p.subject_id = s.cid
        LEFT JOIN revocation_watermarks k ON k.kind = 'key' AND k.subject_id = s.cid),
    rows AS (
        SELECT coalesce(sum(CASE WHEN c.expires_at > now() THEN c.n
                                 WHEN c.per_sec IS NULL THEN 0
                                 ELSE (SELECT coalesce(sum(x), 0) FROM unnest(c.per_sec[
                                     floor(extract(epoch FROM now() - c.expires_at))::integer + 2:]) x)
                            END), 0) AS n
        FROM m JOIN token_counts c ON c.client_id = m.cid
        WHERE c.expires_at > now() - interval '64 seconds'
          AND c.issued_sec > coalesce(shark_second(m.p), '-infinity')
          AND NOT c.issued_sec = ANY (m.edges)
          AND (other_than IS NULL OR (c.jkt <> '' AND c.jkt <> other_than))
          AND NOT (c.jkt <> '' AND m.kr IS NOT NULL AND (c.issued_sec <= m.kb
                   OR (c.jkt IS DISTINCT FROM m.keep AND c.issued_sec <= m.kr)))),
    edge AS (
        SELECT count(*) AS n FROM m JOIN oauth_tokens t ON t.client_id = m.cid
        WHERE cardinality(m.edges) > 0 AND t.user_id IS NULL AND t.revoked_at IS NULL
          AND t.expires_at = ANY (ARRAY(SELECT DISTINCT c.expires_at FROM token_counts c
              WHERE c.client_id = m.cid AND c.issued_sec = ANY (m.edges)
                AND c.expires_at > now()))
          AND shark_second(t.issued_at) = ANY (m.edges) AND (m.p IS NULL OR t.issued_at > m.p)
          AND (other_than IS NULL OR (t.jkt IS NOT NULL AND t.jkt <> other_than))
          AND NOT (t.jkt IS NOT NULL AND m.kr IS NOT NULL AND (t.issued_at <= m.kb
                   OR (t.jkt IS DISTINCT FROM m.keep AND t.issued_at <= m.kr)))),
    ppl AS (
        SELECT count(*) AS n FROM m JOIN oauth_tokens t ON t.client_id = m.cid
        WHERE t.user_id IS NOT NULL AND t.revoked_at IS NULL AND t.expires_at > now()
          AND (m.p IS NULL OR t.issued_at > m.p)
          AND (other_than IS NULL OR (t.jkt IS NOT NULL AND t.jkt <> other_than))
          AND NOT shark_token_marked(t.client_id, t.user_id, t.jkt, t.issued_at))
    SELECT rows.n + edge.n + ppl.n FROM rows, edge, ppl
$$;
