/*
 * store-private: the parts of the embedded cluster (embed.h) that its three
 * units share. embed.c runs the cluster's life: paths, initdb, the password
 * and pg_hba.conf, starting and stopping, the shark database. embed_os.c
 * holds the file, process and lock helpers it needs (finding the binaries,
 * the `postgres` user, spawning a child, stopping a pid, clearing stale
 * locks). embed_supervise.c is the thread that reaps and restarts the
 * postmaster. Each function that can fail returns 0 (or a pid), or -1 with a
 * reason in err (size errlen); none of them logs but the supervisor and the
 * lock clean-up.
 */
#ifndef SHARK_STORE_EMBED_INT_H
#define SHARK_STORE_EMBED_INT_H

#include "embed.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PG_PORT "5432"
#define MAX_GROUPS 64

/* Every path we use, built once with length checks. */
struct paths {
    char base[PATH_MAX], pg[PATH_MAX], data[PATH_MAX], run[PATH_MAX];
    char initdb[PATH_MAX], postgres[PATH_MAX], initdb_log[PATH_MAX], pg_log[PATH_MAX];
    char pidfile[PATH_MAX], version[PATH_MAX], sockdir_opt[PATH_MAX + 32];
    char password[PATH_MAX], hba[PATH_MAX], ident[PATH_MAX], pwfile_opt[PATH_MAX + 16];
};

/* Who the children run as: ourselves, or `postgres` when we are root. */
struct runas {
    bool drop;
    uid_t uid;
    gid_t gid;
    gid_t groups[MAX_GROUPS];
    int ngroups;
};

/* The supervisor thread owns the postmaster from start to stop: it reaps
 * it, restarts it when it dies, and stops it when told. */
struct store_embed {
    struct paths *p;
    struct runas ra;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool stopping;
    atomic_int pid; /* current postmaster, 0 while down */
    atomic_bool up;
    atomic_long restarts;
    atomic_long deaths;
};

/* ---- embed.c ---- */

/* Spawns the postmaster (tied to us: it gets SIGINT when shark dies). */
pid_t store_embed_postgres_start(struct paths *p, const struct runas *ra, char *err, size_t errlen);
/* Polls until the server answers (0) or the postmaster exits (-2, reaped),
 * or `stop` (may be NULL) is set or the start-up timeout passes (-1). */
int store_embed_wait_ready(pid_t pid, const struct paths *p, const atomic_bool *stop, char *err,
                           size_t errlen);

/* ---- embed_os.c ---- */

__attribute__((format(printf, 3, 4))) void store_embed_errf(char *err, size_t errlen,
                                                            const char *fmt, ...);
/* Sleeps ms, resuming after signals. */
void store_embed_sleep_ms(long ms);
/* out = dir/name (PATH_MAX); -1 when too long. */
int store_embed_join(char *out, const char *dir, const char *name);
/* The directory of initdb and postgres (size len); -1 when there is none. */
int store_embed_find_bindir(char *out, size_t len);
/* The last few lines of a log on one line (size len), "" when unreadable. */
void store_embed_log_tail(const char *path, char *out, size_t len);
/* Fills ra: run children as `postgres` when we are root. */
int store_embed_lookup_runas(struct runas *ra, char *err, size_t errlen);
/* mkdir when missing, chmod, and chown to the child user. */
int store_embed_make_dir(const char *path, mode_t mode, const struct runas *ra, char *err,
                         size_t errlen);
/* The child user can walk down to dir. */
int store_embed_check_traversable(const char *dir, const struct runas *ra, char *err,
                                  size_t errlen);
/* Forks and execs argv as ra, in its own session, output appended to
 * log_path; with `tie` the child gets SIGINT when we die. The pid or -1. */
pid_t store_embed_spawn(char *const argv[], const char *log_path, const char *cwd,
                        const struct runas *ra, bool tie, char *err, size_t errlen);
/* SIGINT, then SIGQUIT, then SIGKILL, until pid (a child) is reaped. */
void store_embed_stop_pid(pid_t pid);
/* A stale socket lock or postmaster.pid is removed (a still running
 * postmaster of ours stopped first). */
void store_embed_clear_socket_lock(const char *run);
void store_embed_clear_stale(const char *pidfile);
/* Kills a dead postmaster's leftover backends (its process group). */
void store_embed_kill_orphans(pid_t pgid);

/* ---- embed_supervise.c ---- */

/* The supervisor thread's body (arg: the store_embed). */
void *store_embed_supervise(void *arg);

#endif
