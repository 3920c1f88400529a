-- How many live tokens a client's mark newly covers, without visiting them.
-- revoked_count used to count every covered token (1.4 s at 1M tokens of one
-- agent). A client's own tokens (user_id NULL: the agent's millions) are
-- counted as they are written instead: token_counts holds, per client, second
-- of issue, expiry and DPoP key ('' unbound), how many were issued minus how
-- many were revoked one by one since. A mark's count then sums the rows issued after the previous
-- mark's second and still unexpired (one per second of traffic and
-- connection, not per token), plus an exact look at the tokens of that one
-- boundary second. Tokens acting for a person are counted as before, through
-- an index of their own: they are bounded by people, not by an agent's rate.
--
-- stripe is the writing backend's pid, so two connections writing tokens of
-- one client in the same second never wait on each other's row.
CREATE TABLE token_counts (
    client_id   text NOT NULL,
    issued_sec  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    jkt         text NOT NULL,
    stripe      integer NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (client_id, issued_sec, expires_at, jkt, stripe)
) WITH (fillfactor = 70);

-- The whole second holding t, whatever the session's time zone.
CREATE FUNCTION shark_second(t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT to_timestamp(floor(extract(epoch FROM t))) $$;

CREATE INDEX oauth_tokens_client_person ON oauth_tokens (client_id, expires_at)
    WHERE user_id IS NOT NULL;

-- The statement that writes issued tokens (store/batch.c) adds to the count
-- in the same statement, one row per client, expiry and key of its batch: a
-- trigger doing it cost a third more PostgreSQL time per token. Tokens
-- written another way (a node of the version before, during a rollout) are
-- revoked by marks all the same but missing from the counts.

-- A token revoked by its jti (RFC 7009, a cascade) leaves the count.
CREATE FUNCTION shark_tokens_uncounted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO token_counts AS c (client_id, issued_sec, expires_at, jkt, stripe, n)
    SELECT nw.client_id, shark_second(nw.issued_at), nw.expires_at, coalesce(nw.jkt, ''),
           pg_backend_pid(), -count(*)
    FROM uncounted_new nw JOIN uncounted_old o USING (jti, expires_at)
    WHERE o.revoked_at IS NULL AND nw.revoked_at IS NOT NULL AND nw.user_id IS NULL
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (client_id, issued_sec, expires_at, jkt, stripe) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END
$$;
ALTER FUNCTION shark_tokens_uncounted() SET enable_nestloop = off;

CREATE TRIGGER oauth_tokens_uncounted AFTER UPDATE ON oauth_tokens
    REFERENCING OLD TABLE AS uncounted_old NEW TABLE AS uncounted_new
    FOR EACH STATEMENT EXECUTE FUNCTION shark_tokens_uncounted();

-- The tokens already there.
INSERT INTO token_counts (client_id, issued_sec, expires_at, jkt, stripe, n)
SELECT client_id, shark_second(issued_at), expires_at, coalesce(jkt, ''), 0, count(*)
FROM oauth_tokens WHERE user_id IS NULL AND revoked_at IS NULL AND expires_at > now()
GROUP BY 1, 2, 3, 4;

-- Rows whose tokens have all expired, a bounded batch per call (the upkeep).
CREATE FUNCTION shark_purge_token_counts(lim integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM token_counts WHERE ctid IN (SELECT ctid FROM token_counts
        WHERE expires_at < now() - interval '1 minute' LIMIT lim FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
CREATE INDEX token_counts_expires ON token_counts (expires_at);

-- Live tokens of client `cid` a mark would newly cover, `prev` being its
-- current mark's time (NULL: none).
CREATE FUNCTION shark_client_live(cid text, prev timestamptz) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT (SELECT coalesce(sum(c.n), 0) FROM token_counts c WHERE c.client_id = cid
            AND c.expires_at > now() AND c.issued_sec > coalesce(shark_second(prev), '-infinity'))
         + CASE WHEN prev IS NULL THEN 0 ELSE (
            SELECT count(*) FROM oauth_tokens t WHERE t.client_id = cid AND t.user_id IS NULL
              AND t.revoked_at IS NULL AND t.issued_at > prev
              AND t.issued_at < shark_second(prev) + interval '1 second'
              AND t.expires_at = ANY (ARRAY(SELECT DISTINCT c.expires_at FROM token_counts c
                  WHERE c.client_id = cid AND c.issued_sec = shark_second(prev)
                    AND c.expires_at > now()))) END
         + (SELECT count(*) FROM oauth_tokens t WHERE t.client_id = cid
            AND t.user_id IS NOT NULL AND t.revoked_at IS NULL AND t.expires_at > now()
            AND (prev IS NULL OR t.issued_at > prev)
            AND NOT shark_token_marked(t.client_id, t.user_id, t.issued_at))
$$;

-- As in 0026, with a client mark's count from token_counts.
CREATE OR REPLACE FUNCTION shark_revoke_mark(k text, subj text[], dry boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF k NOT IN ('client', 'user', 'grant') THEN
        RAISE EXCEPTION 'unknown watermark kind %', k USING ERRCODE = '22023';
    END IF;
    IF k = 'client' THEN
        SELECT coalesce(sum(shark_client_live(s.cid, w.revoked_before)), 0) INTO n
        FROM (SELECT DISTINCT cid FROM unnest(subj) cid) s
        LEFT JOIN revocation_watermarks w ON w.kind = 'client' AND w.subject_id = s.cid;
    ELSE
        SELECT count(*) INTO n FROM oauth_tokens t
        LEFT JOIN revocation_watermarks w ON w.kind = 'client' AND w.subject_id = t.client_id
        WHERE t.revoked_at IS NULL AND t.expires_at > now()
          AND CASE k WHEN 'user' THEN t.user_id = ANY (subj)
                     ELSE t.user_id IS NOT NULL AND t.user_id || ' ' || t.client_id = ANY (subj) END
          AND (w.revoked_before IS NULL OR t.issued_at > w.revoked_before)
          AND NOT shark_token_marked(t.client_id, t.user_id, t.issued_at);
    END IF;
    IF dry THEN
        RETURN n;
    END IF;
    INSERT INTO revocation_watermarks (kind, subject_id, revoked_before)
    SELECT DISTINCT k, s, now() FROM unnest(subj) s
    ON CONFLICT (kind, subject_id) DO UPDATE
        SET revoked_before = greatest(revocation_watermarks.revoked_before, excluded.revoked_before);
    UPDATE oauth_tokens c SET revoked_at = now()
    WHERE c.parent_jti IS NOT NULL AND c.revoked_at IS NULL AND c.expires_at > now()
      AND NOT shark_token_marked(c.client_id, c.user_id, c.issued_at)
      AND EXISTS (SELECT 1 FROM oauth_tokens p WHERE p.jti = c.parent_jti
                  AND CASE k WHEN 'client' THEN p.client_id = ANY (subj)
                             WHEN 'user' THEN p.user_id = ANY (subj)
                             ELSE p.user_id || ' ' || p.client_id = ANY (subj) END);
    RETURN n;
END
$$;
