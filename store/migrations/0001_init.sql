-- Foundation: the admin key (hash only), instance state, and the audit log.

-- Prefixed random ids (audit_…, tok_…) made in SQL, so one statement can
-- create a row and the audit event that records it.
CREATE FUNCTION shark_id(prefix text) RETURNS text
    LANGUAGE sql VOLATILE
    AS $$ SELECT prefix || replace(gen_random_uuid()::text, '-', '') $$;

CREATE TABLE admin_keys (
    id          text PRIMARY KEY,
    key_hash    text NOT NULL UNIQUE,          -- hex SHA-256 of the key; the key itself is never stored
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- One row: facts about this installation shared by every node.
CREATE TABLE system_state (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    installed_at    timestamptz NOT NULL DEFAULT now(),
    bootstrapped_at timestamptz                -- first admin-key use; ends the first-boot key reveal
);

CREATE TABLE audit_events (
    id          text PRIMARY KEY,
    event       text NOT NULL,
    actor_id    text,
    actor_type  text NOT NULL DEFAULT 'system',
    target_id   text,
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    request_id  text,
    client_ip   text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- Newest-first keyset pagination, overall and per filter.
CREATE INDEX audit_events_created ON audit_events (created_at DESC, id DESC);
CREATE INDEX audit_events_actor ON audit_events (actor_id, created_at DESC, id DESC);
CREATE INDEX audit_events_target ON audit_events (target_id, created_at DESC, id DESC);
CREATE INDEX audit_events_event ON audit_events (event text_pattern_ops, created_at DESC);
