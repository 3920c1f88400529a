-- A token event's jti is found through a BRIN index (0040), which skips
-- only the page ranges it has summarized; any range it has not, it reads
-- whole. Autovacuum summarizes a range when the next one starts
-- (autosummarize), but only when it next visits the database (a minute or
-- more), so under heavy issuance a lookup by jti read every page appended
-- since: 16-18 ms after a minute at 1,000 tokens/s (issue 18, item 6). The
-- upkeep calls this every few seconds instead.
--
-- It summarizes the ranges behind the insert point only, one range at a
-- time (brin_summarize_range): brin_summarize_new_values would also
-- summarize the range still being filled, and then every token inserted into
-- it would update its summary (a WAL record per token, where an unsummarized
-- range costs none); and it walks the whole revmap of the partition, which
-- grows with the month. The insert point is the page of the partition's
-- newest event; the range before it is left alone too, as other connections
-- may still be filling its last pages. In a partition whose month is over,
-- every range goes, the last partial one too (nothing more arrives there, and
-- VACUUM never summarizes a partial range). From there it goes back range
-- by range to the first one summarized already (ranges are appended and
-- summarized in order), at most a bounded number (VACUUM summarizes whatever
-- lies further back): a call costs the new ranges and one lookup.
--
-- Locks: each range takes SHARE UPDATE EXCLUSIVE on the partition and its
-- index, which inserts and reads do not wait for, but VACUUM and ANALYZE of
-- that partition, and another caller, do. So one node at a time does it (the
-- others skip the round), and a partition that autovacuum holds is skipped
-- rather than waited for. WAL: two small BRIN records per range summarized
-- (about 1,000 token events), none per token.
CREATE FUNCTION shark_audit_summarize() RETURNS integer
LANGUAGE plpgsql SET lock_timeout = '100ms' AS $fn$
DECLARE
    lookback constant integer := 1024; -- ranges: 32,768 pages at 32 a range
    p record;
    ppr integer;
    blocks bigint;
    newest bigint;
    hi bigint;
    r bigint;
    done integer := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7344) THEN
        RETURN 0;
    END IF;
    FOR p IN
        SELECT i.indexrelid AS idx, i.indrelid AS part, ix.reloptions,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                             'TO \(''([^'']+)''\)'))[1]::timestamptz AS part_end
        FROM pg_inherits ti
        JOIN pg_index i ON i.indexrelid = ti.inhrelid
        JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_class ix ON ix.oid = i.indexrelid
        WHERE ti.inhparent = 'audit_events_token_target'::regclass
    LOOP
        BEGIN
            EXECUTE format('LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE NOWAIT',
                           p.part::regclass);
        EXCEPTION WHEN lock_not_available OR undefined_table THEN
            CONTINUE; -- held, or dropped since (retention)
        END;
        ppr := coalesce((SELECT option_value::integer FROM pg_options_to_table(p.reloptions)
                         WHERE option_name = 'pages_per_range'), 128);
        blocks := pg_relation_size(p.part) / current_setting('block_size')::integer;
        IF blocks = 0 THEN
            CONTINUE;
        END IF;
        IF p.part_end IS NOT NULL AND p.part_end <= now() THEN
            hi := (blocks - 1) / ppr; -- over: the partial last range too
        ELSE
            EXECUTE format(
                'SELECT max((ctid::text::point)[0])::bigint FROM ('
                '(SELECT ctid FROM %1$s WHERE event = ''oauth.token_issued'' '
                ' ORDER BY created_at DESC LIMIT 1) UNION ALL '
                '(SELECT ctid FROM %1$s WHERE event = ''oauth.token_exchanged'' '
                ' ORDER BY created_at DESC LIMIT 1) UNION ALL '
                '(SELECT ctid FROM %1$s WHERE event = ''oauth.token_refreshed'' '
                ' ORDER BY created_at DESC LIMIT 1)) n', p.part::regclass) INTO newest;
            IF newest IS NULL THEN
                CONTINUE; -- no token events
            END IF;
            -- the range of the newest event and the one before it stay as they are
            hi := newest / ppr - 2;
        END IF;
        -- back from there to the first range summarized already
        r := hi;
        WHILE r >= greatest(0, hi - lookback) LOOP
            EXIT WHEN brin_summarize_range(p.idx, r * ppr) = 0;
            done := done + 1;
            r := r - 1;
        END LOOP;
    END LOOP;
    RETURN done;
END
$fn$;
