-- audit_events partitioned by month of created_at, so --audit-retention drops
-- whole partitions instead of deleting rows (issue 18). The existing table
-- becomes the first partition, holding everything before next month, and
-- is dropped like any other once all of it is older than the retention.
-- Fewer bytes per event (issue 18, item 4; every token writes one): the
-- indexes end with created_at, no longer with the 38-byte id as well (a
-- keyset page sorts the rare equal timestamps by id itself), and the primary
-- key goes: nothing looks an event up by id alone, ids are
-- unique by construction (shark_id), and its index was ~55 bytes and a WAL
-- record of every token's event (issue 18, item 4); listings page on
-- (created_at, id) through the other indexes. The two triggers move to the
-- parent, which routes them to every partition.
DROP TRIGGER audit_events_webhooks ON audit_events;
DROP TRIGGER audit_events_client_request_id ON audit_events;
ALTER TABLE audit_events RENAME TO audit_events_before;
ALTER TABLE audit_events_before DROP CONSTRAINT audit_events_pkey;
DROP INDEX audit_events_created, audit_events_actor, audit_events_target;
ALTER INDEX audit_events_event RENAME TO audit_events_before_event;

CREATE TABLE audit_events (
    id                 text NOT NULL,
    event              text NOT NULL,
    actor_id           text,
    actor_type         text NOT NULL DEFAULT 'system',
    target_id          text,
    metadata           jsonb NOT NULL DEFAULT '{}'::jsonb,
    request_id         text,
    client_ip          text,
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    client_request_id  text
) PARTITION BY RANGE (created_at);

DO $$
BEGIN
    EXECUTE format('ALTER TABLE audit_events ATTACH PARTITION audit_events_before '
                   'FOR VALUES FROM (MINVALUE) TO (%L)',
                   (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')
                       AT TIME ZONE 'UTC');
END $$;

-- The small ANALYZE sample of 0019, on the parent and so on every partition.
DO $$
DECLARE
    col record;
BEGIN
    FOR col IN SELECT attname FROM pg_attribute
               WHERE attrelid = 'audit_events'::regclass AND attnum > 0 AND NOT attisdropped
    LOOP
        EXECUTE format('ALTER TABLE audit_events ALTER COLUMN %I SET STATISTICS 10', col.attname);
    END LOOP;
END $$;

-- Ascending keys, as 0018 measured: inserts append at the right end.
CREATE INDEX audit_events_created ON audit_events (created_at);
CREATE INDEX audit_events_actor ON audit_events (actor_id, created_at);
CREATE INDEX audit_events_target ON audit_events (target_id, created_at);
CREATE INDEX audit_events_event ON audit_events (event text_pattern_ops, created_at);

CREATE TRIGGER audit_events_webhooks AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION shark_webhook_enqueue();
CREATE TRIGGER audit_events_client_request_id BEFORE INSERT ON audit_events
    FOR EACH ROW WHEN (strpos(NEW.request_id, ' ') > 0)
    EXECUTE FUNCTION shark_audit_client_request_id();

-- Keeps monthly partitions (UTC) up to two months ahead, each with the small
-- ANALYZE sample of 0019, and, when retention_days > 0, drops those whose
-- every row is older than that. Any node, any time (advisory lock).
CREATE FUNCTION shark_maintain_audit(retention_days integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    m timestamp;
    part text;
    col record;
    dropped integer := 0;
    hi timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(7302);
    FOR i IN 0..2 LOOP
        m := date_trunc('month', now() AT TIME ZONE 'UTC') + i * interval '1 month';
        part := 'audit_events_' || to_char(m, 'YYYYMM');
        IF to_regclass(part) IS NULL THEN
            BEGIN
                EXECUTE format('CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
                               part, m AT TIME ZONE 'UTC', (m + interval '1 month') AT TIME ZONE 'UTC');
            EXCEPTION WHEN invalid_object_definition THEN
                CONTINUE; -- the month is inside the first partition
            END;
            FOR col IN SELECT attname FROM pg_attribute
                       WHERE attrelid = part::regclass AND attnum > 0 AND NOT attisdropped
            LOOP
                EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET STATISTICS 10', part, col.attname);
            END LOOP;
        END IF;
    END LOOP;
    IF retention_days > 0 THEN
        FOR part, hi IN
            SELECT c.relname, (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                            'TO \(''([^'']+)''\)'))[1]::timestamptz
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'audit_events'::regclass
        LOOP
            IF hi IS NOT NULL AND hi <= now() - retention_days * interval '1 day' THEN
                EXECUTE format('DROP TABLE %I', part);
                dropped := dropped + 1;
            END IF;
        END LOOP;
    END IF;
    RETURN dropped;
END
$$;

SELECT shark_maintain_audit(0);
