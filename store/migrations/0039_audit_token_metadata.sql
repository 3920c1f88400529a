-- Fewer bytes per token (issue 18, item 4): a token event's metadata repeats
-- what its row already says. Stored, it leaves out client_id (the row's
-- actor_id), grant_type when it is the event's own grant (client_credentials
-- for oauth.token_issued, token exchange for oauth.token_exchanged,
-- refresh_token for oauth.token_refreshed) and, after an exchange, the act
-- hop's actor_id (again the actor): 113 -> 26 bytes for a client-credentials
-- token. Every reader (store/audit.c's listings and the webhook payload
-- below) puts them back with shark_audit_metadata, so the API answers the
-- same JSON (jsonb keeps its keys in one order whatever order they are added
-- in). A row is compact exactly when it is a token event without client_id:
-- the server has always written client_id into those, and compacts only a row
-- whose client_id is its actor. A node of the previous version reading the
-- new rows during a rollout shows their metadata without the three keys.

-- The grant a token event implies; NULL for any other event.
CREATE FUNCTION shark_audit_grant(event text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE event
        WHEN 'oauth.token_issued' THEN 'client_credentials'
        WHEN 'oauth.token_exchanged' THEN 'urn:ietf:params:oauth:grant-type:token-exchange'
        WHEN 'oauth.token_refreshed' THEN 'refresh_token'
    END
$$;

-- What is stored (a NULL in the key array removes nothing).
CREATE FUNCTION shark_audit_compact(event text, actor text, m jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN shark_audit_grant(event) IS NULL OR actor IS NULL
             OR m->>'client_id' IS DISTINCT FROM actor THEN m
        ELSE m - ARRAY['client_id',
                       CASE WHEN m->>'grant_type' = shark_audit_grant(event) THEN 'grant_type' END,
                       CASE WHEN m ? 'chain_depth' AND m->>'actor_id' = actor THEN 'actor_id' END]
    END
$$;

-- What is answered: the inverse of shark_audit_compact (an exchange's hop is
-- the one token event with chain_depth).
CREATE FUNCTION shark_audit_metadata(event text, actor text, m jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN shark_audit_grant(event) IS NULL OR actor IS NULL OR m ? 'client_id' THEN m
        ELSE m || jsonb_build_object('client_id', actor)
               || CASE WHEN m ? 'grant_type' THEN '{}'::jsonb
                       ELSE jsonb_build_object('grant_type', shark_audit_grant(event)) END
               || CASE WHEN m ? 'chain_depth' AND NOT m ? 'actor_id'
                       THEN jsonb_build_object('actor_id', actor) ELSE '{}'::jsonb END
    END
$$;

-- The outbox trigger of 0015, with the metadata answered in full.
CREATE OR REPLACE FUNCTION shark_webhook_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhooks WHERE enabled) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_deliveries (id, webhook_id, event_id, event, payload)
    SELECT shark_id('whd_'), w.id, e.id, e.event,
           jsonb_build_object('type', e.event, 'timestamp', shark_utc(e.created_at),
               'data', jsonb_build_object('id', e.id, 'event', e.event,
                   'actor_id', e.actor_id, 'actor_type', e.actor_type,
                   'target_id', e.target_id,
                   'metadata', shark_audit_metadata(e.event, e.actor_id, e.metadata),
                   'created_at', shark_utc(e.created_at)))
    FROM new_events e JOIN webhooks w
      ON w.enabled AND shark_webhook_matches(w.events, e.event)
    ORDER BY e.created_at, e.id;
    IF FOUND THEN
        PERFORM pg_notify('shark_webhooks', '');
    END IF;
    RETURN NULL;
END
$$;
