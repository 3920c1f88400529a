-- DPoP proof (and client assertion) jtis matter only while their proof could
-- still be accepted, minutes; under load thousands arrive every second. The
-- hourly upkeep purged 10,000 at most, so a busy server's table grew without
-- bound. Now every node purges every second, a bounded chunk per statement
-- (repeated while chunks come back full), skipping rows another node is
-- deleting at the same moment.
CREATE FUNCTION shark_purge_replay(lim integer) RETURNS integer LANGUAGE sql AS $$
    WITH d AS (DELETE FROM oauth_replay WHERE key IN
                   (SELECT key FROM oauth_replay WHERE expires_at < now()
                    ORDER BY expires_at LIMIT lim FOR UPDATE SKIP LOCKED)
               RETURNING 1)
    SELECT count(*)::integer FROM d
$$;

-- Partitions only; the replay purge is shark_purge_replay's.
CREATE OR REPLACE FUNCTION shark_maintain_tokens() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d date;
    part text;
BEGIN
    PERFORM pg_advisory_xact_lock(7301);
    FOR i IN -1..7 LOOP
        d := (now() AT TIME ZONE 'UTC')::date + i;
        part := 'oauth_tokens_' || to_char(d, 'YYYYMMDD');
        IF to_regclass(part) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF oauth_tokens FOR VALUES FROM (%L) TO (%L)',
                           part, (d::timestamp AT TIME ZONE 'UTC'),
                           ((d + 1)::timestamp AT TIME ZONE 'UTC'));
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
