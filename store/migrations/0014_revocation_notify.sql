-- Revoked access tokens are kept in memory by every shark process
-- (store/revoked.c) so a token check costs no round trip. Every statement
-- that revokes tokens notifies shark_revoked with "<jti> <exp unix s>" lines,
-- split so no payload nears the 8000-byte limit; the committing connection
-- gets its own notifications before the COMMIT completes, other processes
-- milliseconds later. A statement revoking more than 1000 tokens (a bulk
-- revoke-by-pattern) sends one "reload" instead: readers then check the
-- database until they have reloaded the set, which is cheaper than thousands
-- of payloads parsed by every connection of every process. Already-expired
-- tokens need no entry: their signature check refuses them anyway.
-- Statement-level with transition tables, so a bulk revocation costs one
-- trigger call, not one per row.
CREATE FUNCTION shark_tokens_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    chunk text := '';
    line text;
    n int;
BEGIN
    SELECT count(*) INTO n FROM revoked_new nw JOIN revoked_old o USING (jti, expires_at)
        WHERE o.revoked_at IS NULL AND nw.revoked_at IS NOT NULL AND nw.expires_at > now();
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    IF n > 1000 THEN
        PERFORM pg_notify('shark_revoked', 'reload');
        RETURN NULL;
    END IF;
    FOR line IN SELECT nw.jti || ' ' || extract(epoch FROM nw.expires_at)::bigint
        FROM revoked_new nw JOIN revoked_old o USING (jti, expires_at)
        WHERE o.revoked_at IS NULL AND nw.revoked_at IS NOT NULL AND nw.expires_at > now()
    LOOP
        IF length(chunk) + length(line) >= 7900 THEN
            PERFORM pg_notify('shark_revoked', chunk);
            chunk := '';
        END IF;
        chunk := chunk || line || E'\n';
    END LOOP;
    PERFORM pg_notify('shark_revoked', chunk);
    RETURN NULL;
END
$$;

CREATE TRIGGER oauth_tokens_revoked AFTER UPDATE ON oauth_tokens
    REFERENCING OLD TABLE AS revoked_old NEW TABLE AS revoked_new
    FOR EACH STATEMENT EXECUTE FUNCTION shark_tokens_revoked();
