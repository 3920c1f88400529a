-- ANALYZE samples 300 rows per unit of a table's largest statistics target:
-- 30,000 rows at the default of 100. On the tables every token writes, each
-- autovacuum ANALYZE then took a core for 0.4-1.0 s, and at half load on a
-- 2-core machine that stalled every commit behind it (token requests paced at
-- 6,000/s: p99 69-135 ms while `ANALYZE audit_events` ran, 4.6 ms without).
-- Their queries are index lookups by id, owner and time, which a 3,000-row
-- sample estimates as well; ANALYZE of audit_events fell to 0.08-0.12 s.
DO $$
DECLARE
    col record;
BEGIN
    FOR col IN
        SELECT a.attrelid::regclass AS tab, a.attname
        FROM pg_attribute a
        WHERE a.attrelid IN ('audit_events'::regclass, 'oauth_tokens'::regclass,
                             'oauth_replay'::regclass)
          AND a.attnum > 0 AND NOT a.attisdropped
    LOOP
        -- On the partitioned table this reaches every existing partition.
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS 10', col.tab, col.attname);
    END LOOP;
END $$;

-- A new partition starts with the default targets: it takes the parent's.
CREATE OR REPLACE FUNCTION shark_maintain_tokens() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d date;
    part text;
    col record;
BEGIN
    PERFORM pg_advisory_xact_lock(7301);
    FOR i IN -1..7 LOOP
        d := (now() AT TIME ZONE 'UTC')::date + i;
        part := 'oauth_tokens_' || to_char(d, 'YYYYMMDD');
        IF to_regclass(part) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF oauth_tokens FOR VALUES FROM (%L) TO (%L)',
                           part, (d::timestamp AT TIME ZONE 'UTC'),
                           ((d + 1)::timestamp AT TIME ZONE 'UTC'));
            FOR col IN
                SELECT attname, attstattarget FROM pg_attribute
                WHERE attrelid = 'oauth_tokens'::regclass AND attnum > 0 AND NOT attisdropped
                  AND attstattarget >= 0
            LOOP
                EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET STATISTICS %s',
                               part, col.attname, col.attstattarget);
            END LOOP;
        END IF;
    END LOOP;
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'oauth_tokens'::regclass
          AND c.relname < 'oauth_tokens_' || to_char((now() AT TIME ZONE 'UTC')::date - 1, 'YYYYMMDD')
    LOOP
        EXECUTE format('DROP TABLE %I', part);
    END LOOP;
END $$;
