-- DPoP key rotation by mark (issue 18): rotating an agent's key to K at T
-- revokes "the agent's tokens bound to any key but K, issued up to T" with
-- one row of revocation_watermarks (kind 'key', subject the client_id)
-- instead of stamping each token. One row per client, so a later rotation
-- must not forget what an earlier one revoked: bound_before carries it on
-- ("every bound token issued up to this is revoked, whatever its key"), the
-- earlier mark's time when the key changes, unchanged when the same key is
-- set again. A token with jkt J issued at I is covered when
--   I <= bound_before, or J <> keep_jkt and I <= revoked_before.
ALTER TABLE revocation_watermarks ADD COLUMN keep_jkt text, ADD COLUMN bound_before timestamptz;

CREATE FUNCTION shark_key_marked(cid text, jkt text, issued timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT nullif(jkt, '') IS NOT NULL AND EXISTS (
        SELECT 1 FROM revocation_watermarks w WHERE w.kind = 'key' AND w.subject_id = cid
          AND (w.bound_before >= issued
               OR (w.keep_jkt IS DISTINCT FROM jkt AND w.revoked_before >= issued)))
$$;

-- Every mark that covers a token, its key's included. The three-argument
-- form (0026) stays for nodes of the previous version.
CREATE FUNCTION shark_token_marked(cid text, uid text, jkt text, issued timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT shark_token_marked(cid, uid, issued) OR shark_key_marked(cid, jkt, issued)
$$;

-- A key mark reaches nodes as "=k <revoked_before> <bound_before or 0>
-- <keep_jkt> <client_id>"; the other kinds as in 0026.
CREATE OR REPLACE FUNCTION shark_marks_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    chunk text := '';
    line text;
BEGIN
    FOR line IN SELECT '=' || left(kind, 1) || ' '
                       || floor(extract(epoch FROM revoked_before))::bigint || ' '
                       || CASE WHEN kind = 'key' THEN coalesce(floor(extract(epoch FROM
                              bound_before))::bigint, 0) || ' ' || keep_jkt || ' ' ELSE '' END
                       || subject_id
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

-- Live own tokens of client `cid` no mark covers yet, all of them (other_than
-- NULL) or those bound to a key other than other_than. From token_counts
-- (0035): whole seconds on one side of every mark's time are decided by the
-- row; the seconds holding a mark's time are counted token by token.
CREATE FUNCTION shark_client_live(cid text, other_than text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    p timestamptz;
    edges timestamptz[];
    n bigint;
    e bigint;
    ppl bigint;
BEGIN
    SELECT revoked_before INTO p FROM revocation_watermarks WHERE kind = 'client'
        AND subject_id = cid;
    SELECT ARRAY(SELECT shark_second(x) FROM unnest(ARRAY[p, w.revoked_before, w.bound_before]) x
                 WHERE x IS NOT NULL) INTO edges
    FROM (SELECT 1) one LEFT JOIN revocation_watermarks w ON w.kind = 'key' AND w.subject_id = cid;
    SELECT coalesce(sum(c.n), 0) INTO n FROM token_counts c
    WHERE c.client_id = cid AND c.expires_at > now()
      AND c.issued_sec > coalesce(shark_second(p), '-infinity')
      AND NOT c.issued_sec = ANY (edges)
      AND (other_than IS NULL OR (c.jkt <> '' AND c.jkt <> other_than))
      AND NOT shark_key_marked(cid, c.jkt, c.issued_sec);
    SELECT count(*) INTO e FROM oauth_tokens t
    WHERE t.client_id = cid AND t.user_id IS NULL AND t.revoked_at IS NULL
      AND t.expires_at = ANY (ARRAY(SELECT DISTINCT c.expires_at FROM token_counts c
          WHERE c.client_id = cid AND c.issued_sec = ANY (edges) AND c.expires_at > now()))
      AND shark_second(t.issued_at) = ANY (edges) AND (p IS NULL OR t.issued_at > p)
      AND (other_than IS NULL OR (t.jkt IS NOT NULL AND t.jkt <> other_than))
      AND NOT shark_key_marked(cid, t.jkt, t.issued_at);
    SELECT count(*) INTO ppl FROM oauth_tokens t
    WHERE t.client_id = cid AND t.user_id IS NOT NULL AND t.revoked_at IS NULL
      AND t.expires_at > now() AND (p IS NULL OR t.issued_at > p)
      AND (other_than IS NULL OR (t.jkt IS NOT NULL AND t.jkt <> other_than))
      AND NOT shark_token_marked(t.client_id, t.user_id, t.jkt, t.issued_at);
    RETURN n + e + ppl;
END
$$;

-- 0035's version, now with the key marks in the counts.
CREATE OR REPLACE FUNCTION shark_revoke_mark(k text, subj text[], dry boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF k NOT IN ('client', 'user', 'grant') THEN
        RAISE EXCEPTION 'unknown watermark kind %', k USING ERRCODE = '22023';
    END IF;
    IF k = 'client' THEN
        SELECT coalesce(sum(shark_client_live(s.cid, NULL)), 0) INTO n
        FROM (SELECT DISTINCT cid FROM unnest(subj) cid) s;
    ELSE
        SELECT count(*) INTO n FROM oauth_tokens t
        LEFT JOIN revocation_watermarks w ON w.kind = 'client' AND w.subject_id = t.client_id
        WHERE t.revoked_at IS NULL AND t.expires_at > now()
          AND CASE k WHEN 'user' THEN t.user_id = ANY (subj)
                     ELSE t.user_id IS NOT NULL AND t.user_id || ' ' || t.client_id = ANY (subj) END
          AND (w.revoked_before IS NULL OR t.issued_at > w.revoked_before)
          AND NOT shark_token_marked(t.client_id, t.user_id, t.jkt, t.issued_at);
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
      AND NOT shark_token_marked(c.client_id, c.user_id, c.jkt, c.issued_at)
      AND EXISTS (SELECT 1 FROM oauth_tokens p WHERE p.jti = c.parent_jti
                  AND CASE k WHEN 'client' THEN p.client_id = ANY (subj)
                             WHEN 'user' THEN p.user_id = ANY (subj)
                             ELSE p.user_id || ' ' || p.client_id = ANY (subj) END);
    RETURN n;
END
$$;

DROP FUNCTION shark_client_live(text, timestamptz);

-- Rotates client `cid`'s key mark to keep `keep` (unless `dry`) and returns
-- how many live tokens it newly covers. Tokens other clients derived by
-- exchange from covered ones are revoked row by row, as for the other marks.
CREATE FUNCTION shark_revoke_key(cid text, keep text, dry boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint := shark_client_live(cid, keep);
BEGIN
    IF dry THEN
        RETURN n;
    END IF;
    INSERT INTO revocation_watermarks AS w (kind, subject_id, revoked_before, keep_jkt)
    VALUES ('key', cid, now(), keep)
    ON CONFLICT (kind, subject_id) DO UPDATE SET
        bound_before = CASE WHEN w.keep_jkt IS NOT DISTINCT FROM excluded.keep_jkt
                            THEN w.bound_before
                            ELSE greatest(w.bound_before, w.revoked_before) END,
        keep_jkt = excluded.keep_jkt,
        revoked_before = greatest(w.revoked_before, excluded.revoked_before);
    UPDATE oauth_tokens c SET revoked_at = now()
    WHERE c.parent_jti IS NOT NULL AND c.revoked_at IS NULL AND c.expires_at > now()
      AND NOT shark_token_marked(c.client_id, c.user_id, c.jkt, c.issued_at)
      AND EXISTS (SELECT 1 FROM oauth_tokens p WHERE p.jti = c.parent_jti AND p.client_id = cid
                  AND shark_key_marked(cid, p.jkt, p.issued_at));
    RETURN n;
END
$$;

-- A refresh family revoked still spares the access tokens a mark covers.
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
          AND NOT shark_token_marked(t.client_id, t.user_id, t.jkt, t.issued_at);
    END IF;
    RETURN NULL;
END
$$;
ALTER FUNCTION shark_refresh_cascade() SET enable_nestloop = off;
