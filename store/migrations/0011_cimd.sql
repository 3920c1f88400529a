-- Client ID Metadata Documents: clients whose client_id is an https URL are
-- kept as rows of kind 'cimd', refreshed when their cached document expires.
ALTER TABLE oauth_clients ADD COLUMN metadata_expires_at timestamptz;
