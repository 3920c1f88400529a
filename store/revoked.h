/*
 * store/revoked: what this process knows is revoked, kept in memory so a
 * token check costs no round trip: the individually revoked access-token
 * jtis (until they expire) and the watermarks of bulk revocations ("tokens
 * of client X / user U / the grant of U to X issued up to T", migration
 * 0026; "tokens of X bound to a key other than K issued up to T", 0036). Fed by the shark_revoked
 * notifications of migrations 0014 and 0026, which every pool connection listens for, and reloaded
 * whenever a notification may have been missed (a connection dropped or started listening). A
 * reload runs on its own thread and connection and is swapped in whole; a check never waits for it
 * (it answers UNKNOWN meanwhile).
 *
 * A revocation made through any pool of this process is in the set before
 * the callback of the statement (or COMMIT) that made it runs; one made by
 * another process when its notification arrives, milliseconds later.
 */
#ifndef SHARK_STORE_REVOKED_H
#define SHARK_STORE_REVOKED_H

#include <stdint.h>

enum store_revoked {
    STORE_REVOKED_NO, /* not revoked, as far as any revocation up to now goes */
    STORE_REVOKED_YES,
    STORE_REVOKED_UNKNOWN, /* ask the database: the set may be missing revocations,
                              or a watermark fell within the clocks' skew of the
                              token's iat */
};

/* What a check needs of a verified access token. user_id: the person the
 * token acts for (NULL for a client's own token); jkt: its cnf.jkt (NULL
 * when not DPoP-bound). */
typedef struct store_revoked_token {
    const char *jti, *client_id, *user_id, *jkt;
    int64_t iat;
} store_revoked_token;

/* Where reloads connect; until it is called every check answers UNKNOWN.
 * Once, before the loops start. */
void store_revoked_start(const char *conninfo);

/* Whether the token is revoked. A stale set starts a reload. Any thread,
 * never blocks. */
enum store_revoked store_revoked_check(const store_revoked_token *t);

/* The largest offset, in ms, between the database's clock and any live
 * node's (store/nodes.c). A watermark's time is the database's and a token's
 * iat its issuer's: within that many seconds (at least one) of a watermark
 * a check answers UNKNOWN, for the database to decide on its own clock. */
void store_revoked_skew(int64_t ms);
int64_t store_revoked_skew_s(void);

/* Entries held and bytes allocated for them, for /metrics and tests. */
void store_revoked_stats(uint64_t *entries, uint64_t *bytes);

/* For store/pool.c: the notification channel, a payload received on it, and
 * a possible gap in what was received (a connection dropped or began
 * listening). */
#define STORE_REVOKED_CHANNEL "shark_revoked"
void store_revoked_notified(const char *payload);
void store_revoked_gap(void);

#endif
