-- Revocation that reaches everything derived from what it revokes.
--
-- A token made by exchange (RFC 8693) records the jti of its subject token
-- (parent_jti); an access token minted by a refresh-token grant records its
-- family (family_id). Two statement-level triggers carry a revocation down:
-- revoking access tokens revokes their children, transitively (the nested
-- UPDATE fires the trigger again, one level per delegation hop, and stops
-- where nothing is left unrevoked); revoking refresh tokens revokes the access
-- tokens of their families. Every layer that writes revoked_at, and every
-- one that will, gets both without saying so, in the same transaction, and
-- shark_tokens_revoked (0014) notifies every node of each token they reach.
-- Both columns are NULL for client-credentials tokens, so the partial indexes
-- cost that path nothing.

ALTER TABLE oauth_tokens ADD COLUMN parent_jti text, ADD COLUMN family_id text;
ALTER TABLE oauth_tokens ALTER COLUMN parent_jti SET STATISTICS 10,
    ALTER COLUMN family_id SET STATISTICS 10;
CREATE INDEX oauth_tokens_parent ON oauth_tokens (parent_jti) WHERE parent_jti IS NOT NULL;
CREATE INDEX oauth_tokens_family ON oauth_tokens (family_id) WHERE family_id IS NOT NULL;

-- A statement trigger fires on every UPDATE, one that changed nothing too:
-- each stops before updating when nothing was newly revoked, or the nested
-- UPDATE of no rows would fire it again without end.
CREATE FUNCTION shark_tokens_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    jtis text[];
BEGIN
    SELECT array_agg(nw.jti) INTO jtis FROM cascade_new nw JOIN cascade_old o USING (jti, expires_at)
        WHERE o.revoked_at IS NULL AND nw.revoked_at IS NOT NULL;
    IF jtis IS NOT NULL THEN
        UPDATE oauth_tokens SET revoked_at = now()
        WHERE parent_jti = ANY (jtis) AND revoked_at IS NULL AND expires_at > now();
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER oauth_tokens_cascade AFTER UPDATE ON oauth_tokens
    REFERENCING OLD TABLE AS cascade_old NEW TABLE AS cascade_new
    FOR EACH STATEMENT EXECUTE FUNCTION shark_tokens_cascade();

CREATE FUNCTION shark_refresh_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    fams text[];
BEGIN
    SELECT array_agg(DISTINCT nw.family_id) INTO fams FROM refresh_new nw
        JOIN refresh_old o USING (token_hash)
        WHERE o.revoked_at IS NULL AND nw.revoked_at IS NOT NULL;
    IF fams IS NOT NULL THEN
        UPDATE oauth_tokens SET revoked_at = now()
        WHERE family_id = ANY (fams) AND revoked_at IS NULL AND expires_at > now();
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER refresh_tokens_cascade AFTER UPDATE ON refresh_tokens
    REFERENCING OLD TABLE AS refresh_old NEW TABLE AS refresh_new
    FOR EACH STATEMENT EXECUTE FUNCTION shark_refresh_cascade();

CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);

-- A person's grant without offline_access lasts as long as the browser
-- session that approved it (OIDC Core §11): the code, then each refresh
-- token of its family, carries the session's public id; logging out revokes
-- them (and, through the trigger above, the access tokens they minted).
ALTER TABLE auth_codes ADD COLUMN session_id text;
ALTER TABLE refresh_tokens ADD COLUMN session_id text;
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id) WHERE session_id IS NOT NULL;

-- A person's consent to a client, added to a live one's scopes or made anew;
-- the consent page (store_consent_grant) and device approval both call it.
-- Approving a device request is consent as the consent page is: revoking
-- the consent ends the grant. Returns the consent's id.
CREATE FUNCTION shark_consent_grant(uid text, cid text, scope text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    s text[] := ARRAY(SELECT DISTINCT x FROM regexp_split_to_table(scope, ' ') x WHERE x <> '');
    id text;
BEGIN
    UPDATE consents c SET scopes = ARRAY(SELECT DISTINCT unnest(c.scopes || s))
    WHERE c.user_id = uid AND c.client_id = cid AND c.revoked_at IS NULL RETURNING c.id INTO id;
    IF id IS NULL THEN
        INSERT INTO consents (id, user_id, client_id, scopes)
        VALUES (shark_id('cns_'), uid, cid, s) RETURNING consents.id INTO id;
    END IF;
    RETURN id;
END
$$;

-- The refresh grant now requires a live consent for a person's grant. Grants
-- made before: those whose consent was revoked (or whose person is gone)
-- were meant to end then, and do now; device grants, which made no consent
-- until now, get the one their approval stood for.
UPDATE refresh_tokens r SET revoked_at = now()
WHERE r.revoked_at IS NULL AND r.user_id IS NOT NULL
  AND (NOT EXISTS (SELECT 1 FROM users u WHERE u.id = r.user_id)
       OR (NOT EXISTS (SELECT 1 FROM consents k WHERE k.user_id = r.user_id
                       AND k.client_id = r.client_id AND k.revoked_at IS NULL)
           AND EXISTS (SELECT 1 FROM consents k WHERE k.user_id = r.user_id
                       AND k.client_id = r.client_id)));
SELECT shark_consent_grant(g.user_id, g.client_id, g.scope)
FROM (SELECT user_id, client_id, string_agg(scope, ' ') AS scope FROM refresh_tokens r
      WHERE revoked_at IS NULL AND used_at IS NULL AND expires_at > now() AND user_id IS NOT NULL
        AND EXISTS (SELECT 1 FROM oauth_clients c WHERE c.client_id = r.client_id)
        AND NOT EXISTS (SELECT 1 FROM consents k WHERE k.user_id = r.user_id
                        AND k.client_id = r.client_id)
      GROUP BY user_id, client_id) g;
