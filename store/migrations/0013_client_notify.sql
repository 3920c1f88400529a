-- Client records are cached per loop (protocol/client.c). Any change to
-- oauth_clients, including rows an app's deletion cascades to, notifies
-- every shark process, whose pool connections all LISTEN on shark_clients;
-- the committing connection gets its own notification before the COMMIT
-- completes. Statement-level: one notification per statement, however many
-- rows it touched (and notifications collapse per transaction). Inserts need
-- none: a client is never cached as missing.
CREATE FUNCTION shark_clients_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('shark_clients', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER oauth_clients_changed AFTER UPDATE OR DELETE OR TRUNCATE ON oauth_clients
    FOR EACH STATEMENT EXECUTE FUNCTION shark_clients_changed();
