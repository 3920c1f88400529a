/*
 * listen: one database connection that LISTENs on a channel and wakes its
 * owner on each notification, for a loop that wants to hear of new rows at
 * once instead of at its next poll. Only a latency optimisation: while the
 * connection is down, callers must still find their work by polling.
 *
 * Belongs to one loop's thread. The connect (PQconnectdb blocks) runs on the
 * uv thread pool; store_listen_check starts one when the connection is down.
 */
#ifndef SHARK_STORE_LISTEN_H
#define SHARK_STORE_LISTEN_H

#include <uv.h>

typedef struct store_listener store_listener;

/* `cb` runs on the loop after each batch of notifications and after every
 * (re)connect (what was notified while not listening was missed). channel
 * is a plain identifier ([a-z_]). Nothing connects until the first
 * store_listen_check. NULL when out of memory or the channel is bad. */
store_listener *store_listen_new(uv_loop_t *loop, const char *conninfo, const char *channel,
                                 void (*cb)(void *ud), void *ud);
/* Connects in the background if not connected and no connect is out. */
void store_listen_check(store_listener *l);
/* Closes the connection; callbacks stop at once. A connect still out frees
 * the rest when it ends (the loop runs until then). */
void store_listen_free(store_listener *l);

#endif
