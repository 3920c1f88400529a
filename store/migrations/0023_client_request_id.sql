-- A client's X-Request-Id is kept beside our own request id, never in its
-- place: a client must not choose the id its audit events are filed under.
-- Every audit insert gets the request id through one parameter; the server
-- passes "<our id> <client's id>" when the client sent one (ids have no
-- spaces), and this trigger files the two apart. Rows without a client id
-- (the WHEN clause) never call the function, so the token path pays nothing.
ALTER TABLE audit_events ADD COLUMN client_request_id text;

CREATE FUNCTION shark_audit_client_request_id() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sp int := strpos(NEW.request_id, ' ');
BEGIN
    NEW.client_request_id := substr(NEW.request_id, sp + 1);
    NEW.request_id := left(NEW.request_id, sp - 1);
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_events_client_request_id BEFORE INSERT ON audit_events
    FOR EACH ROW WHEN (strpos(NEW.request_id, ' ') > 0)
    EXECUTE FUNCTION shark_audit_client_request_id();

-- Like every audit column (0019): a small ANALYZE sample.
ALTER TABLE audit_events ALTER COLUMN client_request_id SET STATISTICS 10;
