-- Retention of what nothing reads any more, in bounded batches (issue 18).
-- The upkeep job of every node calls shark_purge_expired each second with a
-- chunk size, and again at once while it reports full chunks, so a backlog
-- drains without one long statement; SKIP LOCKED keeps nodes off each other's
-- rows. A day's grace after expiry keeps every row a check or a replay
-- detection may still need: a code or refresh token past its expiry is
-- refused anyway, a refresh grant needs its live session row, and a device
-- code or PAR request is dead at expiry.
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);
CREATE INDEX auth_requests_expires ON auth_requests (expires_at);
CREATE INDEX device_codes_expires ON device_codes (expires_at);
CREATE INDEX sessions_expires ON sessions (absolute_expires_at);
CREATE INDEX sessions_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL;
-- Finished deliveries by age: what --webhook-retention drops (attempts go
-- with them, ON DELETE CASCADE).
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (created_at)
    WHERE status IN ('delivered', 'failed');

-- Deletes at most `lim` rows of each kind; returns the largest count any
-- kind had, so a caller repeats while it equals lim. webhook_days <= 0 keeps
-- deliveries forever.
CREATE FUNCTION shark_purge_expired(lim integer, webhook_days integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    most integer := 0;
BEGIN
    DELETE FROM auth_codes WHERE code_hash IN (SELECT code_hash FROM auth_codes
        WHERE expires_at < now() - interval '1 day' LIMIT lim FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    most := greatest(most, n);
    DELETE FROM auth_requests WHERE id IN (SELECT id FROM auth_requests
        WHERE expires_at < now() - interval '1 day' LIMIT lim FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    most := greatest(most, n);
    DELETE FROM device_codes WHERE device_code_hash IN (SELECT device_code_hash FROM device_codes
        WHERE expires_at < now() - interval '1 day' LIMIT lim FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    most := greatest(most, n);
    DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM refresh_tokens
        WHERE expires_at < now() - interval '1 day' LIMIT lim FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    most := greatest(most, n);
    DELETE FROM sessions WHERE id_hash IN (SELECT id_hash FROM sessions
        WHERE absolute_expires_at < now() - interval '1 day' LIMIT lim FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    most := greatest(most, n);
    DELETE FROM sessions WHERE id_hash IN (SELECT id_hash FROM sessions
        WHERE ended_at < now() - interval '1 day' LIMIT lim FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    most := greatest(most, n);
    DELETE FROM vault_connect_states WHERE state_hash IN (SELECT state_hash
        FROM vault_connect_states WHERE expires_at < now() - interval '1 day'
        LIMIT lim FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    most := greatest(most, n);
    DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle
        WHERE expires_at < now() - interval '1 day' LIMIT lim FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    most := greatest(most, n);
    DELETE FROM device_attempts WHERE ctid IN (SELECT ctid FROM device_attempts
        WHERE at < now() - interval '1 day' LIMIT lim FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    most := greatest(most, n);
    IF webhook_days > 0 THEN
        DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries
            WHERE status IN ('delivered', 'failed')
              AND created_at < now() - webhook_days * interval '1 day'
            LIMIT lim FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        most := greatest(most, n);
    END IF;
    RETURN most;
END
$$;
