-- Registration that cannot mint privilege (issue 13 §2): initial access
-- tokens the admin API issues (RFC 7591 §3), who each dynamic client was
-- registered by, and the resources a client may ask tokens for.

CREATE TABLE dcr_initial_tokens (
    id           text PRIMARY KEY,                 -- dcrt_…; the token itself is iat_…
    token_hash   text NOT NULL UNIQUE,             -- hex SHA-256 of the token
    description  text NOT NULL DEFAULT '',
    scopes       text[] NOT NULL DEFAULT '{}',     -- what clients registered with it may take
    grant_types  text[] NOT NULL,
    resources    text[] NOT NULL DEFAULT '{}',
    max_uses     int NOT NULL CHECK (max_uses > 0),
    uses         int NOT NULL DEFAULT 0 CHECK (uses <= max_uses),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dcr_initial_tokens_created ON dcr_initial_tokens (created_at DESC, id);

-- registered_by: 'open' (anonymous, or the static --dcr-token), 'admin', or
-- the id of the initial access token used; NULL for agents and metadata-
-- document clients. Clients registered before this policy count as open:
-- their updates and audiences follow the anonymous rules from now on.
ALTER TABLE oauth_clients
    ADD COLUMN registered_by text,
    ADD COLUMN resources     text[] NOT NULL DEFAULT '{}';
UPDATE oauth_clients SET registered_by = 'open' WHERE kind = 'dcr';

-- An app's resources are what its agents may name as resource / audience.
ALTER TABLE apps ADD COLUMN resources text[] NOT NULL DEFAULT '{}';

-- Agents' cached client records carry their app's resources, so a changed
-- app moves the client generation like a changed client (migration 0013).
CREATE TRIGGER apps_changed AFTER UPDATE OR DELETE OR TRUNCATE ON apps
    FOR EACH STATEMENT EXECUTE FUNCTION shark_clients_changed();

CREATE OR REPLACE FUNCTION shark_app_json(a apps) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', a.id, 'name', a.name, 'description', a.description,
        'scopes', to_jsonb(a.scopes), 'redirect_uris', to_jsonb(a.redirect_uris),
        'resources', to_jsonb(a.resources), 'created_at', a.created_at,
        'updated_at', a.updated_at)
$$;

CREATE FUNCTION shark_dcr_token_json(t dcr_initial_tokens) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', t.id, 'description', t.description,
        'scopes', to_jsonb(t.scopes), 'grant_types', to_jsonb(t.grant_types),
        'resources', to_jsonb(t.resources), 'max_uses', t.max_uses, 'uses', t.uses,
        'expires_at', t.expires_at, 'revoked_at', t.revoked_at, 'created_at', t.created_at)
$$;
