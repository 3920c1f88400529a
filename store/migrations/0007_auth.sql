-- Interactive flows: sessions, authorization codes, pending authorization
-- requests (consent, PAR), refresh tokens and device codes.

ALTER TABLE users
    ADD COLUMN failed_logins  int NOT NULL DEFAULT 0,
    ADD COLUMN locked_until   timestamptz;

CREATE TABLE sessions (
    id_hash              text PRIMARY KEY,            -- SHA-256 of the cookie value
    user_id              text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    public_id            text NOT NULL UNIQUE,        -- ses_…: how the API names it
    csrf_token           text NOT NULL,
    auth_time            timestamptz NOT NULL DEFAULT now(),
    last_seen_at         timestamptz NOT NULL DEFAULT now(),
    idle_expires_at      timestamptz NOT NULL,
    absolute_expires_at  timestamptz NOT NULL,
    client_ip            text,
    user_agent           text,
    ended_at             timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id) WHERE ended_at IS NULL;

-- An authorization request waiting for login/consent, or pushed (PAR).
CREATE TABLE auth_requests (
    id          text PRIMARY KEY,                     -- areq_…; PAR request_uri suffix
    client_id   text NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    params      jsonb NOT NULL,                       -- validated request parameters
    pushed      boolean NOT NULL DEFAULT false,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

CREATE TABLE auth_codes (
    code_hash       text PRIMARY KEY,
    client_id       text NOT NULL,
    user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri    text NOT NULL,
    scope           text NOT NULL DEFAULT '',
    code_challenge  text NOT NULL,
    nonce           text,
    resource        text,
    auth_time       timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    issued_jti      text,                             -- revoked if the code is replayed
    family_id       text
);

CREATE TABLE refresh_tokens (
    token_hash  text PRIMARY KEY,                     -- SHA-256 of the token
    family_id   text NOT NULL,                        -- one per grant; reuse revokes it whole
    client_id   text NOT NULL,
    user_id     text,
    subject     text NOT NULL,
    scope       text NOT NULL DEFAULT '',
    jkt         text,                                 -- DPoP-bound (public clients)
    audience    text,
    auth_time   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE device_codes (
    device_code_hash  text PRIMARY KEY,
    user_code         text NOT NULL UNIQUE,           -- XXXXXXXX, stored without the dash
    client_id         text NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    scope             text NOT NULL DEFAULT '',
    status            text NOT NULL DEFAULT 'pending', -- pending | approved | denied | used
    user_id           text REFERENCES users (id) ON DELETE CASCADE,
    auth_time         timestamptz,
    interval_s        int NOT NULL DEFAULT 5,
    last_poll_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL
);
