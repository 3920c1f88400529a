-- Nodes announce themselves (issue 18): every shark records, every few
-- seconds, the revocation features it understands and how far its clock is
-- from the database's. Two uses:
-- - mixed versions: while a live node does not understand a kind of mark, a
--   revocation of that kind also stamps revoked_at on each token, as before
--   marks, so that node refuses them too (shark_marks_unsafe);
-- - clock skew: a mark's time is the database's clock, a token's iat its
--   issuer's; a check decides in memory only outside the largest skew of
--   any live node and asks the database inside it (store/revoked.c).
-- features: bit 1 client/user/grant marks (0026), bit 2 key marks (0036).
-- clock_offset_ms: the database's clock minus the node's; clock_error_ms
-- bounds the measurement (half its round trip).
CREATE TABLE shark_nodes (
    node_id          text PRIMARY KEY,
    features         integer NOT NULL,
    clock_offset_ms  integer,
    clock_error_ms   integer,
    seen_at          timestamptz NOT NULL
);

-- A node's heartbeat: records it, forgets nodes gone a day, and answers the
-- database's clock (epoch ms, sampled while the call runs) and the largest
-- skew of the nodes seen in the last 30 seconds.
CREATE FUNCTION shark_heartbeat(node text, feat integer, off_ms integer, err_ms integer,
                                OUT db_ms bigint, OUT skew_ms integer)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO shark_nodes (node_id, features, clock_offset_ms, clock_error_ms, seen_at)
    VALUES (node, feat, off_ms, err_ms, now())
    ON CONFLICT (node_id) DO UPDATE SET features = excluded.features,
        clock_offset_ms = excluded.clock_offset_ms, clock_error_ms = excluded.clock_error_ms,
        seen_at = excluded.seen_at;
    DELETE FROM shark_nodes WHERE seen_at < now() - interval '1 day';
    SELECT coalesce(max(abs(clock_offset_ms) + coalesce(clock_error_ms, 0)), 0) INTO skew_ms
    FROM shark_nodes WHERE seen_at > now() - interval '30 seconds';
    db_ms := floor(extract(epoch FROM clock_timestamp()) * 1000);
END
$$;

-- Whether a live node may not understand marks with feature bit `feat`. A
-- node of the version before this one announces nothing; its connections
-- are the ones with libpq's default empty application_name (this version's
-- are "shark"), and it understood client, user and grant marks already.
CREATE FUNCTION shark_marks_unsafe(feat integer) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM shark_nodes WHERE seen_at > now() - interval '30 seconds'
                   AND features & feat = 0)
        OR (feat > 1 AND EXISTS (SELECT 1 FROM pg_stat_activity
                                 WHERE datname = current_database() AND usename = current_user
                                   AND backend_type = 'client backend' AND application_name = ''))
$$;

-- Live own tokens of the clients `cids` no mark covers yet, all of them
-- (other_than NULL) or those bound to a key other than other_than: 0036's
-- shark_client_live for many clients in one statement, each client's marks
-- read once instead of per row (a pattern over 1,000 clients took 1.5 s).
CREATE FUNCTION shark_clients_live(cids text[], other_than text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    WITH m AS (
        SELECT s.cid, p.revoked_before AS p, k.keep_jkt AS keep, k.revoked_before AS kr,
               coalesce(k.bound_before, '-infinity') AS kb,
               ARRAY(SELECT shark_second(x) FROM unnest(ARRAY[p.revoked_before, k.revoked_before,
                     k.bound_before]) x WHERE x IS NOT NULL) AS edges
        FROM (SELECT DISTINCT cid FROM unnest(cids) cid) s
        LEFT JOIN revocation_watermarks p ON p.kind = 'client' AND p.subject_id = s.cid
        LEFT JOIN revocation_watermarks k ON k.kind = 'key' AND k.subject_id = s.cid),
    rows AS (
        SELECT coalesce(sum(c.n), 0) AS n FROM m JOIN token_counts c ON c.client_id = m.cid
        WHERE c.expires_at > now() AND c.issued_sec > coalesce(shark_second(m.p), '-infinity')
          AND NOT c.issued_sec = ANY (m.edges)
          AND (other_than IS NULL OR (c.jkt <> '' AND c.jkt <> other_than))
          AND NOT (c.jkt <> '' AND m.kr IS NOT NULL AND (c.issued_sec <= m.kb
                   OR (c.jkt IS DISTINCT FROM m.keep AND c.issued_sec <= m.kr)))),
    edge AS (
        SELECT count(*) AS n FROM m JOIN oauth_tokens t ON t.client_id = m.cid
        WHERE cardinality(m.edges) > 0 AND t.user_id IS NULL AND t.revoked_at IS NULL
          AND t.expires_at = ANY (ARRAY(SELECT DISTINCT c.expires_at FROM token_counts c
              WHERE c.client_id = m.cid AND c.issued_sec = ANY (m.edges)
                AND c.expires_at > now()))
          AND shark_second(t.issued_at) = ANY (m.edges) AND (m.p IS NULL OR t.issued_at > m.p)
          AND (other_than IS NULL OR (t.jkt IS NOT NULL AND t.jkt <> other_than))
          AND NOT (t.jkt IS NOT NULL AND m.kr IS NOT NULL AND (t.issued_at <= m.kb
                   OR (t.jkt IS DISTINCT FROM m.keep AND t.issued_at <= m.kr)))),
    ppl AS (
        SELECT count(*) AS n FROM m JOIN oauth_tokens t ON t.client_id = m.cid
        WHERE t.user_id IS NOT NULL AND t.revoked_at IS NULL AND t.expires_at > now()
          AND (m.p IS NULL OR t.issued_at > m.p)
          AND (other_than IS NULL OR (t.jkt IS NOT NULL AND t.jkt <> other_than))
          AND NOT shark_token_marked(t.client_id, t.user_id, t.jkt, t.issued_at))
    SELECT rows.n + edge.n + ppl.n FROM rows, edge, ppl
$$;

-- 0036's, stamping the covered tokens too while a node would miss the mark.
CREATE OR REPLACE FUNCTION shark_revoke_mark(k text, subj text[], dry boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF k NOT IN ('client', 'user', 'grant') THEN
        RAISE EXCEPTION 'unknown watermark kind %', k USING ERRCODE = '22023';
    END IF;
    IF k = 'client' THEN
        n := shark_clients_live(subj, NULL);
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
    IF shark_marks_unsafe(1) THEN
        UPDATE oauth_tokens t SET revoked_at = now()
        WHERE t.revoked_at IS NULL AND t.expires_at > now()
          AND CASE k WHEN 'client' THEN t.client_id = ANY (subj)
                     WHEN 'user' THEN t.user_id = ANY (subj)
                     ELSE t.user_id || ' ' || t.client_id = ANY (subj) END;
    END IF;
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

-- 0036's, likewise; refresh tokens bound to another key are stamped always
-- (an agent has none; a refresh token's introspection reads revoked_at).
CREATE OR REPLACE FUNCTION shark_revoke_key(cid text, keep text, dry boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint := shark_clients_live(ARRAY[cid], keep);
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
    IF shark_marks_unsafe(2) THEN
        UPDATE oauth_tokens t SET revoked_at = now()
        WHERE t.client_id = cid AND t.revoked_at IS NULL AND t.expires_at > now()
          AND shark_key_marked(cid, t.jkt, t.issued_at);
    END IF;
    UPDATE refresh_tokens SET revoked_at = now()
    WHERE client_id = cid AND jkt IS NOT NULL AND jkt <> keep AND revoked_at IS NULL;
    UPDATE oauth_tokens c SET revoked_at = now()
    WHERE c.parent_jti IS NOT NULL AND c.revoked_at IS NULL AND c.expires_at > now()
      AND NOT shark_token_marked(c.client_id, c.user_id, c.jkt, c.issued_at)
      AND EXISTS (SELECT 1 FROM oauth_tokens p WHERE p.jti = c.parent_jti AND p.client_id = cid
                  AND shark_key_marked(cid, p.jkt, p.issued_at));
    RETURN n;
END
$$;

DROP FUNCTION shark_client_live(text, text);
