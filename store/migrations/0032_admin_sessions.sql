-- Dashboard sign-in: the admin key, presented once, buys a short-lived
-- session whose cookie the browser holds (HttpOnly, SameSite=Strict). Only
-- the SHA-256 of the cookie value is stored. A session dies with the key it
-- was opened with (revoked or deleted keys end their sessions: the check
-- joins a live key, and deleting one cascades).

CREATE TABLE admin_sessions (
    id          text PRIMARY KEY,                       -- ads_…, for audit events
    token_hash  text NOT NULL UNIQUE,                   -- hex SHA-256 of the cookie value
    key_id      text NOT NULL REFERENCES admin_keys (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    client_ip   text
);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);
