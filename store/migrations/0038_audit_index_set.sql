-- Fewer bytes per token (issue 18, item 4): every issued token writes one
-- audit event, which paid for four B-tree entries of 40-56 bytes (created_at;
-- actor_id, target_id and event as text, each with created_at). Now:
--
-- * the actor is found by a 64-bit hash of its id (hashtextextended), then
--   checked against the text: 24-byte entries instead of 48-56 whatever the
--   id's length. Each actor's entries still append at the right end of its
--   range. The target is not hashed: a token event's target is its jti,
--   which starts with the time, so its entries append at the right end of
--   the index; hashed, they would land on random pages, and after each
--   checkpoint the first change to each page writes a full page image;
-- * the three token events (one per token issued, exchanged or refreshed)
--   are in one index each on created_at alone (16 bytes) and in neither the
--   event index nor the time index of the other events: their name is the
--   index, so a listing of all events merges these three with the others'.
--   Their target index is on target_id alone: each jti has one token event.
--
-- store/audit.c has one statement per filter so each one's index fits it;
-- the older statements (`actor_id = $1`, no token branches) stay correct on
-- this schema, without an index for actor and target.
DROP INDEX audit_events_created, audit_events_actor, audit_events_target, audit_events_event;
DROP INDEX IF EXISTS audit_events_before_event;

CREATE INDEX audit_events_actor ON audit_events (hashtextextended(actor_id, 0), created_at)
    WHERE actor_id IS NOT NULL;
CREATE INDEX audit_events_target ON audit_events (target_id, created_at)
    WHERE target_id IS NOT NULL
      AND event NOT IN ('oauth.token_issued', 'oauth.token_exchanged', 'oauth.token_refreshed');
CREATE INDEX audit_events_token_target ON audit_events (target_id)
    WHERE event IN ('oauth.token_issued', 'oauth.token_exchanged', 'oauth.token_refreshed');
CREATE INDEX audit_events_token_issued ON audit_events (created_at)
    WHERE event = 'oauth.token_issued';
CREATE INDEX audit_events_token_exchanged ON audit_events (created_at)
    WHERE event = 'oauth.token_exchanged';
CREATE INDEX audit_events_token_refreshed ON audit_events (created_at)
    WHERE event = 'oauth.token_refreshed';
CREATE INDEX audit_events_created ON audit_events (created_at)
    WHERE event NOT IN ('oauth.token_issued', 'oauth.token_exchanged', 'oauth.token_refreshed');
CREATE INDEX audit_events_event ON audit_events (event text_pattern_ops, created_at)
    WHERE event NOT IN ('oauth.token_issued', 'oauth.token_exchanged', 'oauth.token_refreshed');
