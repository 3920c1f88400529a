/*
 * File, process and lock helpers of the embedded cluster (embed_int.h):
 * nothing here speaks the PostgreSQL protocol. Children are spawned as the
 * `postgres` user when we are root, each in its own session and process
 * group, so a dead postmaster's backends can be found and killed.
 */
#include "embed_int.h"

#include "../core/log.h"
#include "shark_config.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STOP_TIMEOUT_MS 15000
#define STALE_TIMEOUT_MS 10000
#define ORPHAN_WAIT_MS 5000

void store_embed_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int store_embed_join(char *out, const char *dir, const char *name)
{
    return snprintf(out, PATH_MAX, "%s/%s", dir, name) < PATH_MAX ? 0 : -1;
}

void store_embed_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static bool executable(const char *dir, const char *name)
{
    char path[PATH_MAX];
    return store_embed_join(path, dir, name) == 0 && access(path, X_OK) == 0;
}

static bool has_server(const char *dir)
{
    return executable(dir, "initdb") && executable(dir, "postgres");
}

/* pg_config --bindir first; Debian keeps the server binaries outside PATH in
 * /usr/lib/postgresql/<major>/bin, so fall back to the highest major there. */
int store_embed_find_bindir(char *out, size_t len)
{
    FILE *f = popen("pg_config --bindir 2>/dev/null", "r");
    glob_t g = {0};
    long best = -1;
    int rc = -1;

    if (f) {
        if (fgets(out, (int)len, f))
            out[strcspn(out, "\r\n")] = '\0';
        else
            out[0] = '\0';
        pclose(f);
        if (out[0] && has_server(out))
            return 0;
    }
    if (glob("/usr/lib/postgresql/*/bin", GLOB_ONLYDIR, NULL, &g) != 0)
        goto fail;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        long major = strtol(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL, 10);
        if (major > best && has_server(g.gl_pathv[i])) {
            best = major;
            snprintf(out, len, "%s", g.gl_pathv[i]);
            rc = 0;
        }
    }
fail:
    globfree(&g);
    return rc;
}

/* The last few lines of a log, flattened onto one line for an error. */
void store_embed_log_tail(const char *path, char *out, size_t len)
{
    char buf[1024];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    off_t size;
    ssize_t n = 0;
    char *start;

    out[0] = '\0';
    if (fd < 0)
        return;
    size = lseek(fd, 0, SEEK_END);
    if (size > 0 &&
        lseek(fd, size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0, SEEK_SET) >= 0)
        n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    /* Keep at most the last 5 lines. */
    start = buf;
    for (int lines = 0; n > 0; n--) {
        if (buf[n - 1] == '\n' && ++lines == 5) {
            start = &buf[n];
            break;
        }
    }
    for (char *p = start; *p; p++)
        if (*p == '\n')
            *p = '|';
    /* Too long for `out`: keep the end, where the reason usually is. */
    if (strlen(start) >= len)
        start += strlen(start) - len + 1;
    memcpy(out, start, strlen(start) + 1);
}

int store_embed_lookup_runas(struct runas *ra, char *err, size_t errlen)
{
    struct passwd *pw;

    memset(ra, 0, sizeof(*ra));
    if (geteuid() != 0)
        return 0;
    pw = getpwnam("postgres");
    if (!pw) {
        store_embed_errf(err, errlen,
                         "running as root, but there is no `postgres` user to run the embedded "
                         "PostgreSQL as (install %s or create the user)",
                         SHARK_PG_PACKAGE);
        return -1;
    }
    ra->drop = true;
    ra->uid = pw->pw_uid;
    ra->gid = pw->pw_gid;
    ra->ngroups = MAX_GROUPS;
    if (getgrouplist(pw->pw_name, pw->pw_gid, ra->groups, &ra->ngroups) < 0) {
        ra->groups[0] = pw->pw_gid;
        ra->ngroups = 1;
    }
    return 0;
}

/* mkdir if missing, then give it to the child user. */
int store_embed_make_dir(const char *path, mode_t mode, const struct runas *ra, char *err,
                         size_t errlen)
{
    if (mkdir(path, mode) != 0 && errno != EEXIST)
        goto fail;
    if (ra->drop && chown(path, ra->uid, ra->gid) != 0)
        goto fail;
    if (chmod(path, mode) != 0)
        goto fail;
    return 0;
fail:
    store_embed_errf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
}

/* postgres must be able to walk down to <data_dir>/pg. */
int store_embed_check_traversable(const char *dir, const struct runas *ra, char *err, size_t errlen)
{
    char path[PATH_MAX];
    struct stat st;
    size_t len;

    if (!ra->drop)
        return 0;
    snprintf(path, sizeof(path), "%s", dir);
    for (len = strlen(path); len > 0; len = strrchr(path, '/') - path) {
        path[len] = '\0';
        if (stat(path, &st) != 0)
            continue;
        if ((st.st_mode & S_IXOTH) || (st.st_uid == ra->uid && (st.st_mode & S_IXUSR)) ||
            (st.st_gid == ra->gid && (st.st_mode & S_IXGRP)))
            continue;
        store_embed_errf(err, errlen,
                         "the postgres user cannot enter %s (mode %03o); allow traversal, e.g. "
                         "chmod o+x %s",
                         path, (unsigned)(st.st_mode & 0777), path);
        return -1;
    }
    return 0;
}

/* Forks and execs argv with output appended to log_path. With `tie`, the
 * child gets SIGINT when we die, so the cluster never outlives shark. Only
 * async-signal-safe calls run in the child. */
pid_t store_embed_spawn(char *const argv[], const char *log_path, const char *cwd,
                        const struct runas *ra, bool tie, char *err, size_t errlen)
{
    static const char fail_msg[] = "shark: could not start the PostgreSQL child\n";
    pid_t parent = getpid(), pid;
    int out = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);

    if (out < 0 || in < 0) {
        store_embed_errf(err, errlen, "%s: %s", out < 0 ? log_path : "/dev/null", strerror(errno));
        pid = -1;
        goto done;
    }
    pid = fork();
    if (pid < 0) {
        store_embed_errf(err, errlen, "fork: %s", strerror(errno));
        goto done;
    }
    if (pid == 0) {
        /* Own session: a terminal's ^C goes to shark, which stops the
         * cluster in order, not straight to the postmaster. */
        setsid();
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
            _exit(127);
        if (ra->drop && (setgroups((size_t)ra->ngroups, ra->groups) != 0 || setgid(ra->gid) != 0 ||
                         setuid(ra->uid) != 0))
            goto child_fail;
        /* After setuid: credential changes clear the death signal. */
        if (tie && (prctl(PR_SET_PDEATHSIG, SIGINT) != 0 || getppid() != parent))
            goto child_fail;
        if (chdir(cwd) != 0)
            goto child_fail;
        execv(argv[0], argv);
    child_fail:
        if (write(2, fail_msg, sizeof(fail_msg) - 1) < 0)
            _exit(127);
        _exit(127);
    }
done:
    if (out >= 0)
        close(out);
    if (in >= 0)
        close(in);
    return pid;
}

static bool wait_exit(pid_t pid, long timeout_ms, int *status)
{
    for (long waited = 0;; waited += 20) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return true;
        if (waited >= timeout_ms)
            return false;
        store_embed_sleep_ms(20);
    }
}

void store_embed_stop_pid(pid_t pid)
{
    int status;

    if (pid <= 0)
        return;
    kill(pid, SIGINT);
    if (wait_exit(pid, STOP_TIMEOUT_MS, &status))
        return;
    kill(pid, SIGQUIT);
    if (wait_exit(pid, 5000, &status))
        return;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}

static bool is_postgres(pid_t pid)
{
    char path[64], cmd[4096];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, cmd, sizeof(cmd) - 1);
    close(fd);
    if (n <= 0)
        return false;
    for (ssize_t i = 0; i < n; i++)
        if (cmd[i] == '\0')
            cmd[i] = ' ';
    cmd[n] = '\0';
    return strstr(cmd, "postgres") != NULL;
}

/* True when pid names a process that is not a zombie: a postmaster whose
 * parent died unreaped keeps its pid (kill(pid, 0) succeeds) but can never
 * hold a lock again. */
static bool process_alive(pid_t pid)
{
    char path[64], buf[512];
    ssize_t n;
    int fd;

    if (kill(pid, 0) != 0 && errno == ESRCH)
        return false;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno != ENOENT;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return true;
    buf[n] = '\0';
    /* "pid (comm) S ...": the state follows the last ')'. */
    char *end = strrchr(buf, ')');
    return !(end && end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X'));
}

static long pid_file_owner(const char *path)
{
    char line[32];
    long pid = 0;
    FILE *f = fopen(path, "r");

    if (!f)
        return -1;
    if (fgets(line, sizeof(line), f))
        pid = strtol(line, NULL, 10);
    fclose(f);
    return pid;
}

/* The socket's lock file (run/.s.PGSQL.<port>.lock) names its postmaster;
 * PostgreSQL refuses to start while that pid exists, zombies included. Left
 * by a dead or zombie owner (or a reused pid that is no postmaster), it goes. */
void store_embed_clear_socket_lock(const char *run)
{
    char path[PATH_MAX];
    long pid;

    if (snprintf(path, sizeof(path), "%s/.s.PGSQL." PG_PORT ".lock", run) >= (int)sizeof(path))
        return;
    pid = pid_file_owner(path);
    if (pid < 0)
        return;
    if (pid <= 1 || pid == getpid() || !process_alive((pid_t)pid) || !is_postgres((pid_t)pid)) {
        if (unlink(path) == 0)
            log_msg(LOG_WARN, "embedded PostgreSQL: removed a stale socket lock", "path", path,
                    NULL);
    }
}

/* A postmaster.pid left behind: stop its server if it still runs (a previous
 * shark died without stopping it), else remove the file. */
void store_embed_clear_stale(const char *path)
{
    long pid = pid_file_owner(path);

    if (pid < 0)
        return;
    if (pid > 1 && pid != getpid() && process_alive((pid_t)pid) && is_postgres((pid_t)pid)) {
        kill((pid_t)pid, SIGINT);
        for (long waited = 0; process_alive((pid_t)pid); waited += 50) {
            if (waited == STALE_TIMEOUT_MS)
                kill((pid_t)pid, SIGQUIT);
            if (waited >= STALE_TIMEOUT_MS + 5000)
                break;
            store_embed_sleep_ms(50);
        }
    }
    if (pid <= 1 || !process_alive((pid_t)pid) || !is_postgres((pid_t)pid))
        unlink(path);
}

/* A dead postmaster's backends (its process group: store_embed_spawn() made it a group
 * leader) may live on for a moment; a new postmaster must not share the
 * data directory with them. */
void store_embed_kill_orphans(pid_t pgid)
{
    kill(-pgid, SIGKILL);
    for (long waited = 0; waited < ORPHAN_WAIT_MS && kill(-pgid, 0) == 0; waited += 20)
        store_embed_sleep_ms(20);
}
