-- Signing keys by purpose: 'tokens' keys sign access tokens (and id_tokens
-- by default); an 'id_token' key (RS256, which OpenID Connect requires) signs
-- only the id_tokens of clients registered with
-- id_token_signed_response_alg RS256, and never verifies an access token.
-- id_token keys are written with created_at at the epoch, so that nodes of
-- the previous version (newest unretired key = active) never sign with one.
ALTER TABLE signing_keys ADD COLUMN purpose text NOT NULL DEFAULT 'tokens';

-- Clients that may introspect any token (resource servers); set with the
-- admin key on agents only.
ALTER TABLE oauth_clients ADD COLUMN resource_server boolean NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION shark_agent_json(c oauth_clients) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', c.client_id, 'client_id', c.client_id, 'app_id', c.app_id,
        'name', c.name, 'description', c.description, 'scopes', to_jsonb(c.scopes),
        'status', c.status, 'created_by', c.created_by, 'dpop_jkt', c.dpop_jkt,
        'grant_types', to_jsonb(c.grant_types), 'resource_server', c.resource_server,
        'created_at', c.created_at, 'updated_at', c.updated_at)
$$;

-- The key a client address is counted under by the throttles below: IPv4
-- as is (also when written IPv4-mapped), IPv6 by /64, since one host
-- commonly holds a whole /64.
CREATE FUNCTION shark_addr_key(ip text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN lower(ip) LIKE '::ffff:%.%' THEN substr(ip, 8)
        WHEN family(ip::inet) = 6 THEN network(set_masklen(ip::inet, 64))::text
        ELSE host(ip::inet) END
$$;

-- Password sign-in throttling, decided in the database so it holds across
-- nodes and concurrent requests: one counter per (account, address) pair
-- and one per account, keyed by the SHA-256 of the lower-cased email
-- whether or not such an account exists (unknown and real accounts behave
-- alike). An attempt is counted before its password is checked.
CREATE TABLE login_throttle (
    key         text PRIMARY KEY,            -- 'p:<email hash>:<address>' | 'a:<email hash>'
    n           int NOT NULL,                -- attempts counted since the window opened
    expires_at  timestamptz NOT NULL         -- the counter lapses then (renewed by attempts)
);
CREATE INDEX login_throttle_expires ON login_throttle (expires_at);

-- Wrong device user codes count per user and per client address (its
-- shark_addr_key), on every route that takes a user code.
ALTER TABLE device_attempts ADD COLUMN addr_key text;
CREATE INDEX device_attempts_addr ON device_attempts (addr_key, at) WHERE addr_key IS NOT NULL;
CREATE INDEX device_attempts_at ON device_attempts (at);
