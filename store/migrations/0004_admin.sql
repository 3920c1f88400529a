-- Applications, users, agents (OAuth clients of kind 'agent') and consents.

CREATE TABLE apps (
    id             text PRIMARY KEY,                    -- app_…
    name           text NOT NULL,
    description    text NOT NULL DEFAULT '',
    scopes         text[] NOT NULL DEFAULT '{}',        -- what its agents may be given
    redirect_uris  text[] NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id              text PRIMARY KEY,                   -- usr_…
    email           text NOT NULL,
    name            text NOT NULL DEFAULT '',
    password_hash   text,                               -- argon2id; NULL until a password is set
    email_verified  boolean NOT NULL DEFAULT false,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

ALTER TABLE oauth_clients
    ADD COLUMN app_id      text REFERENCES apps (id),
    ADD COLUMN created_by  text REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN description text NOT NULL DEFAULT '';
CREATE INDEX oauth_clients_app ON oauth_clients (app_id) WHERE app_id IS NOT NULL;
CREATE INDEX oauth_clients_creator ON oauth_clients (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX oauth_clients_kind ON oauth_clients (kind, created_at DESC);

-- A user's standing permission for a client to act with these scopes.
CREATE TABLE consents (
    id          text PRIMARY KEY,                       -- cns_…
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   text NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    scopes      text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE UNIQUE INDEX consents_live ON consents (user_id, client_id) WHERE revoked_at IS NULL;

CREATE INDEX oauth_tokens_revoked ON oauth_tokens (revoked_at) WHERE revoked_at IS NOT NULL;

-- The API's JSON shape of an agent and of an app, defined once.
CREATE FUNCTION shark_agent_json(c oauth_clients) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', c.client_id, 'client_id', c.client_id, 'app_id', c.app_id,
        'name', c.name, 'description', c.description, 'scopes', to_jsonb(c.scopes),
        'status', c.status, 'created_by', c.created_by, 'dpop_jkt', c.dpop_jkt,
        'grant_types', to_jsonb(c.grant_types), 'created_at', c.created_at,
        'updated_at', c.updated_at)
$$;

CREATE FUNCTION shark_app_json(a apps) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', a.id, 'name', a.name, 'description', a.description,
        'scopes', to_jsonb(a.scopes), 'redirect_uris', to_jsonb(a.redirect_uris),
        'created_at', a.created_at, 'updated_at', a.updated_at)
$$;
