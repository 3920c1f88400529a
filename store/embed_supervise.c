/*
 * The embedded cluster's supervisor thread (embed.h, embed_int.h): it reaps
 * the postmaster and, when it dies, kills its leftover backends, clears the
 * stale locks and starts it again with exponential backoff, logging every
 * death and attempt, until store_embed_stop sets `stopping`.
 */
#include "embed_int.h"

#include "../core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>

/* Restart backoff: doubles per failed start up to the cap; a cluster that
 * stayed up this long since its last start begins again at the minimum. */
#define RESTART_MIN_MS 250
#define RESTART_MAX_MS 30000
#define RESTART_STABLE_MS 60000
#define SUPERVISE_TICK_MS 50

/* Sleeps up to ms, returning early (true) once the handle is stopping. */
static bool nap(store_embed *e, long ms)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&e->mu);
    while (!atomic_load(&e->stopping) &&
           pthread_cond_timedwait(&e->cv, &e->mu, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&e->mu);
    return atomic_load(&e->stopping);
}

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* One restart attempt: 0 with the new postmaster running and accepting. */
static int restart_once(store_embed *e, char *err, size_t errlen)
{
    store_embed_clear_stale(e->p->pidfile);
    store_embed_clear_socket_lock(e->p->run);
    pid_t pid = store_embed_postgres_start(e->p, &e->ra, err, errlen);
    if (pid < 0)
        return -1;
    int rc = store_embed_wait_ready(pid, e->p, &e->stopping, err, errlen);
    if (rc == 0) {
        atomic_store(&e->pid, pid);
        return 0;
    }
    if (rc != -2)
        store_embed_stop_pid(pid);
    return -1;
}

void *store_embed_supervise(void *arg)
{
    store_embed *e = arg;
    long backoff = RESTART_MIN_MS, started = mono_ms();
    char err[512], detail[64];
    int status;

    while (!atomic_load(&e->stopping)) {
        pid_t pid = atomic_load(&e->pid);
        if (waitpid(pid, &status, WNOHANG) != pid) {
            nap(e, SUPERVISE_TICK_MS);
            continue;
        }
        atomic_store(&e->up, false);
        atomic_store(&e->pid, 0);
        atomic_fetch_add(&e->deaths, 1);
        if (WIFSIGNALED(status))
            snprintf(detail, sizeof(detail), "killed by signal %d", WTERMSIG(status));
        else
            snprintf(detail, sizeof(detail), "exit status %d", WEXITSTATUS(status));
        log_msg(LOG_ERROR, "embedded PostgreSQL died; restarting", "reason", detail, NULL);
        store_embed_kill_orphans(pid);
        if (mono_ms() - started >= RESTART_STABLE_MS)
            backoff = RESTART_MIN_MS;
        for (;;) {
            if (nap(e, backoff))
                return NULL;
            if (restart_once(e, err, sizeof(err)) == 0)
                break;
            if (atomic_load(&e->stopping))
                return NULL;
            backoff = backoff * 2 > RESTART_MAX_MS ? RESTART_MAX_MS : backoff * 2;
            snprintf(detail, sizeof(detail), "%ld", backoff);
            log_msg(LOG_ERROR, "embedded PostgreSQL restart failed", "error", err,
                    "next_attempt_ms", detail, NULL);
        }
        started = mono_ms();
        atomic_fetch_add(&e->restarts, 1);
        atomic_store(&e->up, true);
        snprintf(detail, sizeof(detail), "%d", (int)atomic_load(&e->pid));
        log_msg(LOG_WARN, "embedded PostgreSQL restarted", "pid", detail, NULL);
    }
    return NULL;
}
