-- Token vault: third-party OAuth providers, users' connections to them with
-- their tokens sealed under the master key, pending connect flows, and which
-- agent fetched from which connection (for the disconnect cascade).

CREATE TABLE vault_providers (
    id                    text PRIMARY KEY,              -- slug: google_gmail, my_crm, ...
    name                  text NOT NULL,
    builtin               boolean NOT NULL DEFAULT false,
    authorize_url         text NOT NULL,
    token_url             text NOT NULL,
    revoke_url            text,                          -- RFC 7009-style; NULL when the provider has none
    scopes                text[] NOT NULL DEFAULT '{}',  -- asked for in the connect flow
    scope_separator       text NOT NULL DEFAULT ' ',     -- Linear wants commas
    authorize_params      text NOT NULL DEFAULT '',      -- extra query (access_type=offline, ...)
    auth_style            text NOT NULL DEFAULT 'basic' CHECK (auth_style IN ('basic', 'post')),
    rotates_refresh       boolean NOT NULL DEFAULT false,
    client_id             text,                          -- the deployment's registration
    client_secret_sealed  bytea,                         -- sealed under the master key, AD = id
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- Built-in templates: the providers' documented endpoints. A deployment adds
-- its own client_id / client_secret with PATCH.
INSERT INTO vault_providers (id, name, builtin, authorize_url, token_url, revoke_url, scopes,
                             scope_separator, authorize_params, auth_style, rotates_refresh) VALUES
('google_gmail', 'Gmail', true, 'https://accounts.google.com/o/oauth2/v2/auth',
 'https://oauth2.googleapis.com/token', 'https://oauth2.googleapis.com/revoke',
 '{https://www.googleapis.com/auth/gmail.readonly,https://www.googleapis.com/auth/gmail.send}',
 ' ', 'access_type=offline&prompt=consent&include_granted_scopes=true', 'post', false),
('google_calendar', 'Google Calendar', true, 'https://accounts.google.com/o/oauth2/v2/auth',
 'https://oauth2.googleapis.com/token', 'https://oauth2.googleapis.com/revoke',
 '{https://www.googleapis.com/auth/calendar}',
 ' ', 'access_type=offline&prompt=consent&include_granted_scopes=true', 'post', false),
('google_drive', 'Google Drive', true, 'https://accounts.google.com/o/oauth2/v2/auth',
 'https://oauth2.googleapis.com/token', 'https://oauth2.googleapis.com/revoke',
 '{https://www.googleapis.com/auth/drive.file}',
 ' ', 'access_type=offline&prompt=consent&include_granted_scopes=true', 'post', false),
('microsoft', 'Microsoft 365', true,
 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize',
 'https://login.microsoftonline.com/common/oauth2/v2.0/token', NULL,
 '{offline_access,User.Read,Mail.ReadWrite,Calendars.ReadWrite,Files.ReadWrite}',
 ' ', '', 'post', true),
('slack', 'Slack', true, 'https://slack.com/oauth/v2/authorize',
 'https://slack.com/api/oauth.v2.access', 'https://slack.com/api/auth.revoke',
 '{channels:read,chat:write}', ',', '', 'post', true),
('linear', 'Linear', true, 'https://linear.app/oauth/authorize',
 'https://api.linear.app/oauth/token', 'https://api.linear.app/oauth/revoke',
 '{read,write}', ',', 'prompt=consent', 'post', true),
('jira', 'Jira', true, 'https://auth.atlassian.com/authorize',
 'https://auth.atlassian.com/oauth/token', NULL,
 '{read:jira-work,write:jira-work,read:jira-user,offline_access}',
 ' ', 'audience=api.atlassian.com&prompt=consent', 'post', true),
('notion', 'Notion', true, 'https://api.notion.com/v1/oauth/authorize',
 'https://api.notion.com/v1/oauth/token', NULL, '{}', ' ', 'owner=user', 'basic', true);

CREATE TABLE vault_connections (
    id                 text PRIMARY KEY,                 -- conn_…
    user_id            text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id        text NOT NULL REFERENCES vault_providers (id),
    scopes             text[] NOT NULL DEFAULT '{}',     -- as granted
    -- Sealed under the master key with AD "<id>|<provider_id>": never plaintext.
    access_sealed      bytea,
    access_expires_at  timestamptz,                      -- NULL: the provider gave no lifetime
    refresh_sealed     bytea,
    needs_reauth       boolean NOT NULL DEFAULT false,   -- the provider refused the refresh token
    -- Single-flight refresh across threads and processes: a fetch that sets
    -- refreshing_until owns the refresh; refresh_gen counts finished attempts
    -- so waiters tell a new token from a failed attempt.
    refreshing_until   timestamptz,
    refresh_gen        bigint NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX vault_connections_user_provider ON vault_connections (user_id, provider_id);
CREATE INDEX vault_connections_provider ON vault_connections (provider_id, created_at DESC);

-- A connect flow between the redirect to the provider and its callback.
CREATE TABLE vault_connect_states (
    state_hash     text PRIMARY KEY,                     -- SHA-256 of the state parameter
    user_id        text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id    text NOT NULL REFERENCES vault_providers (id) ON DELETE CASCADE,
    code_verifier  text NOT NULL,                        -- PKCE; useless without the provider's code
    scopes         text[] NOT NULL DEFAULT '{}',
    expires_at     timestamptz NOT NULL
);
CREATE INDEX vault_connect_states_expires ON vault_connect_states (expires_at);

-- Which agent fetched from which connection: the disconnect cascade revokes
-- these agents' tokens.
CREATE TABLE vault_access (
    connection_id  text NOT NULL REFERENCES vault_connections (id) ON DELETE CASCADE,
    client_id      text NOT NULL,
    first_at       timestamptz NOT NULL DEFAULT now(),
    last_at        timestamptz NOT NULL DEFAULT now(),
    fetches        bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (connection_id, client_id)
);

CREATE FUNCTION shark_vault_provider_json(p vault_providers) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', p.id, 'name', p.name, 'builtin', p.builtin,
        'authorize_url', p.authorize_url, 'token_url', p.token_url, 'revoke_url', p.revoke_url,
        'scopes', to_jsonb(p.scopes), 'scope_separator', p.scope_separator,
        'authorize_params', p.authorize_params, 'auth_style', p.auth_style,
        'rotates_refresh_tokens', p.rotates_refresh, 'client_id', p.client_id,
        'client_secret_set', p.client_secret_sealed IS NOT NULL,
        'created_at', p.created_at, 'updated_at', p.updated_at)
$$;

CREATE FUNCTION shark_vault_connection_json(c vault_connections) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', c.id, 'user_id', c.user_id, 'provider_id', c.provider_id,
        'provider_name', (SELECT name FROM vault_providers WHERE id = c.provider_id),
        'scopes', to_jsonb(c.scopes), 'expires_at', c.access_expires_at,
        'needs_reauth', c.needs_reauth, 'created_at', c.created_at, 'updated_at', c.updated_at)
$$;
