-- Bulk revocation by watermark: "tokens of client X / user U / the grant of
-- user U to client C, issued up to T, are revoked" is one row of
-- revocation_watermarks (0002), however many tokens it covers. Agent
-- revoke-all, revoke-by-pattern, user revoke-agents and user deletion write
-- marks instead of stamping revoked_at on every token; every node keeps the
-- marks in memory (store/revoked.c) and checks each token against them.
--
-- kind: client (subject = client_id), user (subject = user id), grant
-- (subject = "<user id> <client_id>"). One row per subject: a later
-- revocation moves revoked_before forward, never back.
CREATE INDEX revocation_watermarks_time ON revocation_watermarks (revoked_before);

-- Whether a token with these columns is covered by a mark. Three lookups by
-- primary key; inlined by the planner.
CREATE FUNCTION shark_token_marked(cid text, uid text, issued timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM revocation_watermarks w WHERE w.kind = 'client'
                   AND w.subject_id = cid AND w.revoked_before >= issued)
        OR (uid IS NOT NULL AND (
            EXISTS (SELECT 1 FROM revocation_watermarks w WHERE w.kind = 'user'
                    AND w.subject_id = uid AND w.revoked_before >= issued)
         OR EXISTS (SELECT 1 FROM revocation_watermarks w WHERE w.kind = 'grant'
                    AND w.subject_id = uid || ' ' || cid AND w.revoked_before >= issued)))
$$;

-- Every node hears of a mark as "=<c|u|g> <revoked_before, unix s> <subject>"
-- lines on shark_revoked, the channel of per-jti revocations (0014), so one
-- gap-and-reload logic covers both. An upsert fires the INSERT and the
-- UPDATE statement triggers, each with its own transition table.
CREATE FUNCTION shark_marks_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    chunk text := '';
    line text;
BEGIN
    FOR line IN SELECT '=' || left(kind, 1) || ' '
                       || floor(extract(epoch FROM revoked_before))::bigint || ' ' || subject_id
                FROM marks_new
    LOOP
        IF length(chunk) + length(line) >= 7900 THEN
            PERFORM pg_notify('shark_revoked', chunk);
            chunk := '';
        END IF;
        chunk := chunk || line || E'\n';
    END LOOP;
    IF chunk <> '' THEN
        PERFORM pg_notify('shark_revoked', chunk);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER revocation_watermarks_inserted AFTER INSERT ON revocation_watermarks
    REFERENCING NEW TABLE AS marks_new FOR EACH STATEMENT EXECUTE FUNCTION shark_marks_notify();
CREATE TRIGGER revocation_watermarks_updated AFTER UPDATE ON revocation_watermarks
    REFERENCING NEW TABLE AS marks_new FOR EACH STATEMENT EXECUTE FUNCTION shark_marks_notify();

-- Writes a mark of `k` for each of `subj` (unless `dry`) and returns how many
-- live tokens it newly covers. Tokens derived by exchange from covered ones
-- but not covered themselves (another client acted for the subject) are
-- revoked row by row, as every per-jti revocation is: they carry parent_jti,
-- are few, and the cascade of 0020 carries that on down. Like the cascade
-- before, they are not in the count.
CREATE FUNCTION shark_revoke_mark(k text, subj text[], dry boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF k NOT IN ('client', 'user', 'grant') THEN
        RAISE EXCEPTION 'unknown watermark kind %', k USING ERRCODE = '22023';
    END IF;
    -- The client's own mark by a join, so a client's million tokens cost no
    -- lookups each; a person's tokens (user_id set) check every kind.
    SELECT count(*) INTO n FROM oauth_tokens t
    LEFT JOIN revocation_watermarks w ON w.kind = 'client' AND w.subject_id = t.client_id
    WHERE t.revoked_at IS NULL AND t.expires_at > now()
      AND CASE k WHEN 'client' THEN t.client_id = ANY (subj)
                 WHEN 'user' THEN t.user_id = ANY (subj)
                 ELSE t.user_id IS NOT NULL AND t.user_id || ' ' || t.client_id = ANY (subj) END
      AND (w.revoked_before IS NULL OR t.issued_at > w.revoked_before)
      AND (t.user_id IS NULL OR NOT shark_token_marked(t.client_id, t.user_id, t.issued_at));
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

-- A refresh family revoked (reuse, a layer) still revokes its access tokens
-- row by row (0020), except those a mark already covers: revoking a client's
-- refresh tokens beside its mark must not rewrite every access token it has.
CREATE OR REPLACE FUNCTION shark_refresh_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    fams text[];
BEGIN
    SELECT array_agg(DISTINCT nw.family_id) INTO fams FROM refresh_new nw
        JOIN refresh_old o USING (token_hash)
        WHERE o.revoked_at IS NULL AND nw.revoked_at IS NOT NULL;
    IF fams IS NOT NULL THEN
        UPDATE oauth_tokens t SET revoked_at = now()
        WHERE family_id = ANY (fams) AND revoked_at IS NULL AND expires_at > now()
          AND NOT shark_token_marked(t.client_id, t.user_id, t.issued_at);
    END IF;
    RETURN NULL;
END
$$;

-- The statement triggers of 0014 and 0020 join the old and new transition
-- tables, which carry no statistics: the planner chose nested loops, so a
-- statement revoking 5,000 tokens spent ~10 s in them and one revoking
-- 100,000 minutes (quadratic). Hash joins instead; the lookups of children
-- and families stay index scans (= ANY of an array is no join).
ALTER FUNCTION shark_tokens_revoked() SET enable_nestloop = off;
ALTER FUNCTION shark_tokens_cascade() SET enable_nestloop = off;
ALTER FUNCTION shark_refresh_cascade() SET enable_nestloop = off;
