/*
 * store/revoked: the revoked access-token jtis of this process, kept in
 * memory so the common token check costs no round trip. Fed by the
 * shark_revoked notifications of migration 0014, which every pool
 * connection listens for, and reloaded from the database whenever a
 * notification may have been missed (a connection dropped or started
 * listening, or a bulk revocation sent "reload" instead of its jtis).
 *
 * A revocation made through any pool of this process is in the set before
 * the callback of the statement (or COMMIT) that made it runs; one made by
 * another process when its notification arrives, milliseconds later.
 */
#ifndef SHARK_STORE_REVOKED_H
#define SHARK_STORE_REVOKED_H

#include "store.h"

enum store_revoked {
    STORE_REVOKED_NO,      /* not revoked, as far as any revocation up to now goes */
    STORE_REVOKED_YES,
    STORE_REVOKED_UNKNOWN, /* the set may be missing revocations: ask the database */
};

/* Whether jti is revoked. While the answer is UNKNOWN, a reload runs on `p`
 * (one at a time in the process). Any thread; p must be this thread's pool. */
enum store_revoked store_revoked_check(store_pool *p, const char *jti);

/* For store/pool.c: the notification channel, a payload received on it, and
 * a possible gap in what was received (a connection dropped or began
 * listening). */
#define STORE_REVOKED_CHANNEL "shark_revoked"
void store_revoked_notified(const char *payload);
void store_revoked_gap(void);

#endif
