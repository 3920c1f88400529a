-- OAuth: signing keys, clients (DCR clients and, later, agents), issued
-- tokens, DPoP replay records and revocation watermarks.

CREATE TABLE signing_keys (
    id             text PRIMARY KEY,            -- key_…; the JWS kid
    alg            text NOT NULL,
    private_sealed bytea NOT NULL,              -- PKCS#8 sealed under the master key, AD = id
    public_jwk     jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    retired_at     timestamptz,                 -- stopped signing
    publish_until  timestamptz                  -- leaves the JWKS once its last token expired
);

CREATE TABLE oauth_clients (
    client_id               text PRIMARY KEY,
    kind                    text NOT NULL DEFAULT 'dcr',   -- dcr | agent
    name                    text NOT NULL DEFAULT '',
    secret_hash             text,                          -- hex SHA-256; NULL for none/private_key_jwt
    prev_secret_hash        text,                          -- accepted until prev_secret_expires
    prev_secret_expires     timestamptz,
    auth_method             text NOT NULL,
    grant_types             text[] NOT NULL,
    response_types          text[] NOT NULL DEFAULT '{}',
    redirect_uris           text[] NOT NULL DEFAULT '{}',
    scopes                  text[] NOT NULL DEFAULT '{}',  -- what the client may ask for
    jwks                    jsonb,
    dpop_jkt                text,                          -- when set, only proofs from this key get tokens
    registration_token_hash text,
    metadata                jsonb NOT NULL DEFAULT '{}'::jsonb,
    status                  text NOT NULL DEFAULT 'active', -- active | disabled
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);

-- One row per issued access token, so tokens can be listed and revoked.
-- Partitioned by day of expiry: expired days are dropped whole, so the table
-- never bloats and purging takes no long locks.
CREATE TABLE oauth_tokens (
    jti         text NOT NULL,
    client_id   text NOT NULL,
    subject     text NOT NULL,
    user_id     text,
    scope       text NOT NULL DEFAULT '',
    jkt         text,
    audience    text,
    act         jsonb,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    PRIMARY KEY (jti, expires_at)
) PARTITION BY RANGE (expires_at);
CREATE INDEX oauth_tokens_jti ON oauth_tokens (jti);
CREATE INDEX oauth_tokens_client ON oauth_tokens (client_id, expires_at);
CREATE INDEX oauth_tokens_user ON oauth_tokens (user_id, expires_at) WHERE user_id IS NOT NULL;

-- DPoP proof (and client assertion) jtis seen, until the proof could no
-- longer be accepted anyway; shared by every node.
CREATE TABLE oauth_replay (
    key         text PRIMARY KEY,               -- "dpop:<jkt>:<jti>" / "assert:<client>:<jti>"
    expires_at  timestamptz NOT NULL
);
CREATE INDEX oauth_replay_expires ON oauth_replay (expires_at);

-- "Every token of this subject issued before T is revoked": one row revokes
-- any number of tokens (agents, users, clients).
CREATE TABLE revocation_watermarks (
    kind            text NOT NULL,              -- client | user
    subject_id      text NOT NULL,
    revoked_before  timestamptz NOT NULL,
    PRIMARY KEY (kind, subject_id)
);

-- Keeps daily partitions from yesterday to a week ahead and drops the ones
-- whose tokens all expired more than a day ago. Safe to run from any node at
-- any time (serialised by an advisory lock).
CREATE FUNCTION shark_maintain_tokens() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d date;
    part text;
BEGIN
    PERFORM pg_advisory_xact_lock(7301);
    FOR i IN -1..7 LOOP
        d := (now() AT TIME ZONE 'UTC')::date + i;
        part := 'oauth_tokens_' || to_char(d, 'YYYYMMDD');
        IF to_regclass(part) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF oauth_tokens FOR VALUES FROM (%L) TO (%L)',
                           part, (d::timestamp AT TIME ZONE 'UTC'),
                           ((d + 1)::timestamp AT TIME ZONE 'UTC'));
        END IF;
    END LOOP;
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'oauth_tokens'::regclass
          AND c.relname < 'oauth_tokens_' || to_char((now() AT TIME ZONE 'UTC')::date - 1, 'YYYYMMDD')
    LOOP
        EXECUTE format('DROP TABLE %I', part);
    END LOOP;
    DELETE FROM oauth_replay WHERE key IN
        (SELECT key FROM oauth_replay WHERE expires_at < now() LIMIT 10000);
END $$;

SELECT shark_maintain_tokens();
