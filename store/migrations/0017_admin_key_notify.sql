-- Admin keys that checked out are remembered per loop (store/system.c) until
-- the credentials generation moves; a changed or removed admin key moves it
-- on every node, like a changed client (migration 0013).
CREATE TRIGGER admin_keys_changed AFTER UPDATE OR DELETE OR TRUNCATE ON admin_keys
    FOR EACH STATEMENT EXECUTE FUNCTION shark_clients_changed();
