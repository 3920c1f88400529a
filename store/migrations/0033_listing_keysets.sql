-- Every admin listing pages by keyset, newest first by (created_at, id)
-- (issue 18 item 5): a page is read backwards off an index that ends with
-- those two columns, after the equality of the filter it leads with, so the
-- first page and a deep one cost the same. Ascending keys, as 0018 explains.
-- Indexes replaced here kept their names and lead with the same columns, so
-- an older node's statements find them as before.
DROP INDEX oauth_clients_kind, oauth_clients_app, oauth_clients_creator,
    dcr_initial_tokens_created, vault_connections_provider, sessions_user;
CREATE INDEX oauth_clients_kind ON oauth_clients (kind, created_at, client_id);
CREATE INDEX oauth_clients_app ON oauth_clients (app_id, created_at, client_id)
    WHERE app_id IS NOT NULL;
CREATE INDEX oauth_clients_creator ON oauth_clients (created_by, created_at, client_id)
    WHERE created_by IS NOT NULL;
CREATE INDEX dcr_initial_tokens_created ON dcr_initial_tokens (created_at, id);
CREATE INDEX vault_connections_provider ON vault_connections (provider_id, created_at, id);
CREATE INDEX sessions_user ON sessions (user_id, auth_time, public_id) WHERE ended_at IS NULL;
CREATE INDEX apps_created ON apps (created_at, id);
CREATE INDEX users_created ON users (created_at, id);
CREATE INDEX consents_user_created ON consents (user_id, created_at, id) WHERE revoked_at IS NULL;
CREATE INDEX webhooks_created ON webhooks (created_at, id);
CREATE INDEX vault_providers_created ON vault_providers (created_at, id);
CREATE INDEX vault_connections_created ON vault_connections (created_at, id);
CREATE INDEX vault_connections_user_created ON vault_connections (user_id, created_at, id);
