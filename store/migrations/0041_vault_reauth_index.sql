-- The vault connections listing's needs_reauth=true filter (issue 17): few
-- connections need re-authorisation, so read off vault_connections_created a
-- page of them costs a scan of every connection between them (a sort of
-- the whole table in a generic plan). This partial index holds only those
-- rows, in the listing's keyset order; old nodes never filter on the flag
-- and are unaffected.
CREATE INDEX vault_connections_reauth ON vault_connections (created_at, id) WHERE needs_reauth;
