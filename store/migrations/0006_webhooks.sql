-- Webhooks: endpoints, a durable outbox of deliveries filled by a trigger on
-- audit_events (so an event is queued in the same transaction as the change
-- that caused it), and one row per delivery attempt.

CREATE TABLE webhooks (
    id             text PRIMARY KEY,                     -- whk_…
    url            text NOT NULL,
    events         text[] NOT NULL,                      -- canonical names, 'prefix.*' or '*'
    description    text NOT NULL DEFAULT '',
    enabled        boolean NOT NULL DEFAULT true,
    secret_sealed  bytea NOT NULL,                       -- the 32 signing-key bytes, sealed (AD = id)
    failing_since  timestamptz,                          -- start of the current run of failures
    disabled_at    timestamptz,                          -- set when failures disabled it
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id                text PRIMARY KEY,                  -- whd_…; the webhook-id header, stable across retries
    webhook_id        text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id          text,                              -- audit_… (NULL for webhook.test)
    event             text NOT NULL,
    payload           jsonb NOT NULL,                    -- the body sent: {type, timestamp, data}
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'sending', 'retrying', 'delivered', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,        -- counted when claimed
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    locked_until      timestamptz,                       -- a 'sending' row past this was orphaned by a crash
    last_status_code  integer,
    last_error        text,
    delivered_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX webhook_deliveries_locked ON webhook_deliveries (locked_until)
    WHERE status = 'sending';
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    id             bigserial PRIMARY KEY,
    delivery_id    text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt        integer NOT NULL,
    status_code    integer,                              -- NULL when no response arrived
    latency_ms     integer NOT NULL,
    response_body  text,                                 -- first 1 KB
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);

-- Does a subscription's filter list take this event? Filters are exact
-- canonical names, 'category.*' (every event whose name starts with
-- 'category.') or '*'. Aliases were normalised when the filter was saved.
CREATE FUNCTION shark_webhook_matches(filters text[], ev text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$
    SELECT EXISTS (SELECT 1 FROM unnest(filters) f
                   WHERE f = '*' OR f = ev
                      OR (right(f, 2) = '.*' AND starts_with(ev, left(f, -1))))
$$;

CREATE FUNCTION shark_utc(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- The outbox: one pending delivery per enabled subscriber of the event,
-- written by the inserting transaction itself, then a wake-up for the
-- delivery loops (notifications are sent at commit and collapse per
-- transaction, so a burst of events costs one wake-up).
CREATE FUNCTION shark_webhook_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (id, webhook_id, event_id, event, payload)
    SELECT shark_id('whd_'), w.id, NEW.id, NEW.event,
           jsonb_build_object('type', NEW.event, 'timestamp', shark_utc(NEW.created_at),
               'data', jsonb_build_object('id', NEW.id, 'event', NEW.event,
                   'actor_id', NEW.actor_id, 'actor_type', NEW.actor_type,
                   'target_id', NEW.target_id, 'metadata', NEW.metadata,
                   'created_at', shark_utc(NEW.created_at)))
    FROM webhooks w
    WHERE w.enabled AND shark_webhook_matches(w.events, NEW.event);
    IF FOUND THEN
        PERFORM pg_notify('shark_webhooks', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER audit_events_webhooks AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION shark_webhook_enqueue();

-- The API's JSON shape of an endpoint (never the secret) and of a delivery.
CREATE FUNCTION shark_webhook_json(w webhooks) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', w.id, 'url', w.url, 'events', to_jsonb(w.events),
        'description', w.description, 'enabled', w.enabled,
        'failing_since', w.failing_since, 'disabled_at', w.disabled_at,
        'created_at', w.created_at, 'updated_at', w.updated_at)
$$;

CREATE FUNCTION shark_delivery_json(d webhook_deliveries) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', d.id, 'webhook_id', d.webhook_id, 'event_id', d.event_id,
        'event', d.event, 'status', d.status, 'attempts', d.attempts,
        'last_status_code', d.last_status_code, 'last_error', d.last_error,
        'next_attempt_at', d.next_attempt_at, 'delivered_at', d.delivered_at,
        'created_at', d.created_at, 'updated_at', d.updated_at)
$$;
