/*
 * embed: the private PostgreSQL cluster `shark serve` runs when no --db is
 * given. It lives in <data-dir>/pg (initdb on first boot), listens only on a
 * unix socket inside <data-dir>/pg/run (never TCP), and is stopped by
 * store_embed_stop. When shark runs as root, initdb and postgres run as the
 * `postgres` system user (PostgreSQL refuses root). No connection is
 * trusted: the `shark` role has a generated password kept in
 * <data-dir>/pg/password (0600), pg_hba.conf is rewritten at every start to
 * demand it (scram-sha-256), and a cluster made before that (trust) gets its
 * password set on start, through a peer-authenticated connection of shark's
 * own OS user. Binaries come from
 * `pg_config --bindir`; when they are missing the error names the package.
 * A stale postmaster.pid or socket lock left by a crash (a dead or zombie
 * owner) is cleared. Start and stop block; call them from the main thread.
 *
 * Supervision: a thread reaps the postmaster and, when it dies, kills its
 * leftover backends, clears the stale locks and starts it again with
 * exponential backoff (250 ms doubling to 30 s, reset after a minute up),
 * logging every death and attempt. The counters below are safe to read
 * from any thread.
 */
#ifndef SHARK_STORE_EMBED_H
#define SHARK_STORE_EMBED_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct store_embed store_embed;

/* Starts (initialising on first use) the cluster under data_dir and waits
 * until it accepts connections. On success returns the handle and writes a
 * libpq conninfo for it (password included) into conninfo (size len). On
 * failure returns NULL with a human-readable reason in err (size errlen). */
store_embed *store_embed_start(const char *data_dir, char *conninfo, size_t len,
                               char *err, size_t errlen);

/* Fast shutdown (SIGINT), waits for the postmaster to exit, frees. */
void store_embed_stop(store_embed *e);

/* Postmaster pid, for tests and logs; 0 while it is down. */
pid_t store_embed_pid(const store_embed *e);
/* False from the moment the postmaster is found dead until a restart
 * accepts connections; true for NULL (no embedded cluster). */
bool store_embed_up(const store_embed *e);
/* Deaths seen and restarts that succeeded since start (0 for NULL). */
long store_embed_deaths(const store_embed *e);
long store_embed_restarts(const store_embed *e);

#endif
