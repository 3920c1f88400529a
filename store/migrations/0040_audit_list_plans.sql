-- Audit queries stay flat whatever the data (issue 18, item 6). Measured at
-- 1M rows (bench/audit_explain.py), two things kept the first page from
-- being flat:
--
-- * Generic plans. After five runs PostgreSQL may keep a prepared
--   statement's generic plan, costed for a typical actor (a few rows): for an
--   actor with most of the rows it then reads all of them and sorts. The
--   listing is planned on every call instead, with the filters' values
--   (shark_audit_list runs its statement with EXECUTE), which costs well under
--   a millisecond of planning and lets each filter drop out of the statement.
-- * A rare event (or prefix) walked the time index of the other events: the
--   planner expects a rare name's rows spread evenly through time and takes
--   the index that is already in time order. That index is now one only the
--   listing without an event filter can use (its predicate names actor_type,
--   which no other statement mentions); an event is read from the event
--   index, a prefix by one index probe per event name it covers (a skip scan)
--   and that name's newest rows.
--
-- An actor's token events and its other events in indexes of their own (the
-- same 24 bytes per token as before), so that an actor with no token events
-- (an admin key) asked for one, or an agent asked for its few other events,
-- reads only what it asks for; and one more for an actor together with an
-- event name or prefix: the other events only, so not a byte more per token.
DROP INDEX audit_events_actor;
CREATE INDEX audit_events_actor ON audit_events (hashtextextended(actor_id, 0), created_at)
    WHERE actor_id IS NOT NULL
      AND event IN ('oauth.token_issued', 'oauth.token_exchanged', 'oauth.token_refreshed');
CREATE INDEX audit_events_actor_other
    ON audit_events (hashtextextended(actor_id, 0), created_at)
    WHERE actor_id IS NOT NULL
      AND event NOT IN ('oauth.token_issued', 'oauth.token_exchanged', 'oauth.token_refreshed');
CREATE INDEX audit_events_actor_event
    ON audit_events (hashtextextended(actor_id, 0), event text_pattern_ops, created_at)
    WHERE actor_id IS NOT NULL
      AND event NOT IN ('oauth.token_issued', 'oauth.token_exchanged', 'oauth.token_refreshed');
-- A token event's target (its jti) through a BRIN index on its first 15
-- characters, instead of a B-tree entry (about 80 bytes of WAL and 33 of
-- index per token): a jti starts with "tok_" and the issue time in
-- milliseconds, and token events are appended in about that order, so each
-- range of 32 heap pages covers a narrow span of jtis, and a lookup reads the
-- one or two ranges that can hold it (and the newest pages, until
-- autovacuum summarizes them), then compares the text. Byte order ("C"),
-- whatever the database's collation, so the spans stay narrow.
DROP INDEX audit_events_token_target;
CREATE INDEX audit_events_token_target ON audit_events
    USING brin ((left(target_id, 15) COLLATE "C"))
    WITH (pages_per_range = 32, autosummarize = on)
    WHERE event IN ('oauth.token_issued', 'oauth.token_exchanged', 'oauth.token_refreshed');
-- The other events' time index, for the listing without an event filter only
-- (see above: actor_type is always set).
DROP INDEX audit_events_created;
CREATE INDEX audit_events_created ON audit_events (created_at)
    WHERE event NOT IN ('oauth.token_issued', 'oauth.token_exchanged', 'oauth.token_refreshed')
      AND actor_type IS NOT NULL;

-- The statement for a combination of filters (which of them are set, and
-- the event or prefix), its parameters $1..$9 those of shark_audit_list
-- below: one per combination, each leading with the condition its index
-- holds. bench/audit_explain.py plans and times it as shark_audit_list does.
CREATE FUNCTION shark_audit_sql(actor text, target text, ev text, prefix text)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $fn$
DECLARE
    tokens constant text[] := ARRAY['oauth.token_issued', 'oauth.token_exchanged',
                                    'oauth.token_refreshed'];
    is_token constant text := ' event = ANY (ARRAY[''oauth.token_issued'', '
                              '''oauth.token_exchanged'', ''oauth.token_refreshed'']) ';
    not_token constant text := ' event NOT IN (''oauth.token_issued'', '
                               '''oauth.token_exchanged'', ''oauth.token_refreshed'') ';
    by_actor constant text := ' hashtextextended(actor_id, 0) = hashtextextended($1, 0) '
                              'AND actor_id = $1 ';
    filters constant text :=
        ' AND ($1 IS NULL OR actor_id = $1) AND ($2 IS NULL OR target_id = $2)'
        ' AND ($3 IS NULL OR event = $3) AND ($4 IS NULL OR starts_with(event, $4))'
        ' AND created_at >= coalesce($5, ''-infinity'') AND created_at < coalesce($6, ''infinity'')'
        ' AND (created_at, id) < (coalesce(''epoch''::timestamptz + $7 * interval ''1 microsecond'','
        ' ''infinity''), coalesce($8, ''''))';
    page constant text := ' ORDER BY created_at DESC, id DESC LIMIT $9';
    -- the names of the other events under the prefix, one index probe each
    names constant text := 'WITH RECURSIVE n(event) AS ('
        'SELECT (SELECT event FROM audit_events WHERE event ~>=~ $4 AND' || not_token
        || 'ORDER BY event USING ~<~ LIMIT 1) UNION ALL '
        'SELECT (SELECT event FROM audit_events WHERE event ~>~ n.event AND' || not_token
        || 'ORDER BY event USING ~<~ LIMIT 1) FROM n WHERE starts_with(n.event, $4)) '
        'SELECT event FROM n WHERE starts_with(event, $4)';
    lead text[] := '{}';
    parts text[] := '{}';
    t text;
BEGIN
    IF actor IS NOT NULL AND ev IS NOT NULL THEN
        lead := ARRAY[by_actor || 'AND event = $3 AND'
                      || CASE WHEN ev = ANY (tokens) THEN is_token ELSE not_token END];
    ELSIF actor IS NOT NULL AND prefix IS NOT NULL THEN
        -- the actor's token events off their index; its other events by name
        IF EXISTS (SELECT 1 FROM unnest(tokens) n WHERE starts_with(n, prefix)) THEN
            lead := ARRAY[by_actor || 'AND' || is_token];
        END IF;
        parts := ARRAY['(SELECT x.* FROM (' || names || ') n CROSS JOIN LATERAL '
                       '(SELECT * FROM audit_events WHERE' || by_actor
                       || 'AND event = n.event AND' || not_token || filters || page || ') x)'];
    ELSIF actor IS NOT NULL THEN
        lead := ARRAY[by_actor || 'AND' || is_token, by_actor || 'AND' || not_token];
    ELSIF target IS NOT NULL THEN
        -- a jti has one token event: no order to keep there
        parts := ARRAY['(SELECT * FROM audit_events WHERE left(target_id, 15) COLLATE "C" = '
                       'left($2, 15) '
                       'AND target_id = $2 AND' || is_token || filters || ')'];
        lead := ARRAY['target_id = $2 AND' || not_token];
    ELSIF ev IS NOT NULL THEN
        lead := ARRAY['event = $3' || CASE WHEN ev = ANY (tokens) THEN '' ELSE ' AND' || not_token END];
    ELSE
        FOREACH t IN ARRAY tokens LOOP
            IF prefix IS NULL OR starts_with(t, prefix) THEN
                lead := lead || ('event = ' || quote_literal(t));
            END IF;
        END LOOP;
        IF prefix IS NULL THEN
            lead := lead || ('actor_type IS NOT NULL AND' || not_token);
        ELSE
            parts := ARRAY['(SELECT x.* FROM (' || names || ') n CROSS JOIN LATERAL '
                           '(SELECT * FROM audit_events WHERE event = n.event AND' || not_token
                           || filters || page || ') x)'];
        END IF;
    END IF;
    FOREACH t IN ARRAY lead LOOP
        parts := parts || ('(SELECT * FROM audit_events WHERE ' || t || filters || page || ')');
    END LOOP;
    RETURN 'SELECT json_build_object(''id'', id, ''event'', event, ''actor_id'', actor_id, '
        '''actor_type'', actor_type, ''target_id'', target_id, '
        '''metadata'', shark_audit_metadata(event, actor_id, metadata), '
        '''request_id'', request_id, ''client_request_id'', client_request_id, '
        '''client_ip'', client_ip, ''created_at'', to_char(created_at AT TIME ZONE ''UTC'', '
        '''YYYY-MM-DD"T"HH24:MI:SS.US"Z"''))::text AS item, '
        '((extract(epoch FROM created_at) * 1000000)::numeric)::bigint AS ts_us, id FROM ('
        || array_to_string(parts, ' UNION ALL ')
        || ') e ORDER BY created_at DESC, id DESC LIMIT $9';
END
$fn$;

-- The newest `lim` events that pass the filters (NULL switches one off),
-- before the keyset position (cursor_ts microseconds since the epoch,
-- cursor_id), as store/audit.h describes; rows of equal created_at are
-- ordered by id on top. EXECUTE plans the statement with these values.
-- Without a sort where an index gives the order: with one, the planner reads
-- every row of an actor or event it expects to have few (two filters it
-- takes for independent, an empty partition it scans unordered) and sorts
-- them, which at 1M rows was 30 times the reads for 101 rows, growing with
-- the data. The penalty it then puts on the sort it cannot avoid (the merge
-- of a prefix's event names) would start the JIT compiler: off.
CREATE FUNCTION shark_audit_list(actor text, target text, ev text, prefix text,
                                 since timestamptz, until timestamptz,
                                 cursor_ts bigint, cursor_id text, lim integer)
RETURNS TABLE (item text, ts_us bigint, id text)
LANGUAGE plpgsql STABLE SET enable_sort = off SET jit = off AS $fn$
BEGIN
    RETURN QUERY EXECUTE shark_audit_sql(actor, target, ev, prefix)
        USING actor, target, ev, prefix, since, until, cursor_ts, cursor_id, lim;
END
$fn$;
