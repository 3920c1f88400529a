-- A client-credentials token's subject is its client: storing it again cost
-- ~35 B a token in the heap and in WAL (issue 18 item 4). This version writes
-- NULL when subject = client_id and every reader takes
-- coalesce(subject, client_id), so the API answers the same.
--
-- A node of the version before reads subject raw (the token chain). So a
-- node leaves the subject out only while every live node announces feature
-- bit 4 ("reads a NULL subject as the client") in shark_nodes (0037); its
-- heartbeat tells it, and until then, or while any live node lacks the bit,
-- it writes the subject as before.
ALTER TABLE oauth_tokens ALTER COLUMN subject DROP NOT NULL;

-- 0037's, also answering `common`: the feature bits every live node
-- announces. A connection with libpq's empty application_name is a node
-- that predates shark_nodes (see shark_marks_unsafe): it knew bit 1 only.
DROP FUNCTION shark_heartbeat(text, integer, integer, integer);
CREATE FUNCTION shark_heartbeat(node text, feat integer, off_ms integer, err_ms integer,
                                OUT db_ms bigint, OUT skew_ms integer, OUT common integer)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO shark_nodes (node_id, features, clock_offset_ms, clock_error_ms, seen_at)
    VALUES (node, feat, off_ms, err_ms, now())
    ON CONFLICT (node_id) DO UPDATE SET features = excluded.features,
        clock_offset_ms = excluded.clock_offset_ms, clock_error_ms = excluded.clock_error_ms,
        seen_at = excluded.seen_at;
    DELETE FROM shark_nodes WHERE seen_at < now() - interval '1 day';
    SELECT coalesce(max(abs(clock_offset_ms) + coalesce(clock_error_ms, 0)), 0),
           coalesce(bit_and(features), 0)
    INTO skew_ms, common
    FROM shark_nodes WHERE seen_at > now() - interval '30 seconds';
    IF EXISTS (SELECT 1 FROM pg_stat_activity
               WHERE datname = current_database() AND usename = current_user
                 AND backend_type = 'client backend' AND application_name = '') THEN
        common := common & 1;
    END IF;
    db_ms := floor(extract(epoch FROM clock_timestamp()) * 1000);
END
$$;
