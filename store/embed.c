/*
 * The embedded PostgreSQL cluster (see embed.h). Layout under data_dir:
 *   pg/data         the cluster (initdb on first boot)
 *   pg/run          unix socket directory (no TCP listener)
 *   pg/password     the `shark` role's generated password (0600)
 *   pg/initdb.log   output of the last initdb
 *   pg/postgres.log server log (stdout/stderr of the postmaster)
 * When shark runs as root, pg/ belongs to the `postgres` user and children
 * drop to it before exec, since PostgreSQL refuses to run as root.
 */
#include "embed.h"

#include "../core/log.h"
#include "shark_config.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG_PORT "5432"
#define START_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS 15000
#define STALE_TIMEOUT_MS 10000
#define MAX_GROUPS 64
/* Restart backoff: doubles per failed start up to the cap; a cluster that
 * stayed up this long since its last start begins again at the minimum. */
#define RESTART_MIN_MS 250
#define RESTART_MAX_MS 30000
#define RESTART_STABLE_MS 60000
#define SUPERVISE_TICK_MS 50
#define ORPHAN_WAIT_MS 5000

/* Every path we use, built once with length checks. */
struct paths {
    char base[PATH_MAX], pg[PATH_MAX], data[PATH_MAX], run[PATH_MAX];
    char initdb[PATH_MAX], postgres[PATH_MAX], initdb_log[PATH_MAX], pg_log[PATH_MAX];
    char pidfile[PATH_MAX], version[PATH_MAX], sockdir_opt[PATH_MAX + 32];
    char password[PATH_MAX], hba[PATH_MAX], ident[PATH_MAX], pwfile_opt[PATH_MAX + 16];
};

/* Every start rewrites pg_hba.conf: the socket is the only way in, and it
 * wants the password (a cluster made before passwords gets one on start). */
static const char hba_scram[] =
    "# Written by shark at every start (store/embed.c); edits are replaced.\n"
    "# Unix socket only (no TCP listener); every connection needs the password\n"
    "# in ../password.\n"
    "local all all scram-sha-256\n";
/* Only while an old cluster (initdb --auth=trust) gets its password: shark's
 * own OS user, by peer credentials, and nobody else. */
static const char hba_peer[] =
    "# Written by shark while it sets the cluster's password (store/embed.c).\n"
    "local all shark peer map=shark\n";
#define PASSWORD_HEX 64

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

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int join(char *out, const char *dir, const char *name)
{
    return snprintf(out, PATH_MAX, "%s/%s", dir, name) < PATH_MAX ? 0 : -1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static bool executable(const char *dir, const char *name)
{
    char path[PATH_MAX];
    return join(path, dir, name) == 0 && access(path, X_OK) == 0;
}

static bool has_server(const char *dir)
{
    return executable(dir, "initdb") && executable(dir, "postgres");
}

/* pg_config --bindir first; Debian keeps the server binaries outside PATH in
 * /usr/lib/postgresql/<major>/bin, so fall back to the highest major there. */
static int find_bindir(char *out, size_t len)
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
static void log_tail(const char *path, char *out, size_t len)
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
    if (size > 0 && lseek(fd, size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0,
                          SEEK_SET) >= 0)
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

static int lookup_runas(struct runas *ra, char *err, size_t errlen)
{
    struct passwd *pw;

    memset(ra, 0, sizeof(*ra));
    if (geteuid() != 0)
        return 0;
    pw = getpwnam("postgres");
    if (!pw) {
        errf(err, errlen,
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
static int make_dir(const char *path, mode_t mode, const struct runas *ra, char *err,
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
    errf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
}

/* postgres must be able to walk down to <data_dir>/pg. */
static int check_traversable(const char *dir, const struct runas *ra, char *err, size_t errlen)
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
        errf(err, errlen,
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
static pid_t spawn(char *const argv[], const char *log_path, const char *cwd,
                   const struct runas *ra, bool tie, char *err, size_t errlen)
{
    static const char fail_msg[] = "shark: could not start the PostgreSQL child\n";
    pid_t parent = getpid(), pid;
    int out = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);

    if (out < 0 || in < 0) {
        errf(err, errlen, "%s: %s", out < 0 ? log_path : "/dev/null", strerror(errno));
        pid = -1;
        goto done;
    }
    pid = fork();
    if (pid < 0) {
        errf(err, errlen, "fork: %s", strerror(errno));
        goto done;
    }
    if (pid == 0) {
        /* Own session: a terminal's ^C goes to shark, which stops the
         * cluster in order, not straight to the postmaster. */
        setsid();
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
            _exit(127);
        if (ra->drop && (setgroups((size_t)ra->ngroups, ra->groups) != 0 ||
                         setgid(ra->gid) != 0 || setuid(ra->uid) != 0))
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
        sleep_ms(20);
    }
}

static void stop_pid(pid_t pid)
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
static void clear_socket_lock(const char *run)
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
static void clear_stale(const char *path)
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
            sleep_ms(50);
        }
    }
    if (pid <= 1 || !process_alive((pid_t)pid) || !is_postgres((pid_t)pid))
        unlink(path);
}

/* Appends key='value' to a conninfo, quoting as libpq expects. */
static void conninfo_add(char *out, size_t len, const char *key, const char *value)
{
    size_t n = strlen(out);

    n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s='", n ? " " : "", key);
    for (const char *p = value; *p && n + 3 < len; p++) {
        if (*p == '\'' || *p == '\\')
            out[n++] = '\\';
        out[n++] = *p;
    }
    if (n + 1 < len) {
        out[n++] = '\'';
        out[n] = '\0';
    }
}

/* Writes text to path (tmp + rename) with mode 0600, owned by the child
 * user so PostgreSQL can read it. */
static int write_owned(const char *path, const char *text, const struct runas *ra, char *err,
                       size_t errlen)
{
    char tmp[PATH_MAX + 8];
    size_t n = strlen(text);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) != 0 ||
        (ra->drop && fchown(fd, ra->uid, ra->gid) != 0)) {
        errf(err, errlen, "%s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        errf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int new_password(char out[PASSWORD_HEX + 1], char *err, size_t errlen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[PASSWORD_HEX / 2];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        errf(err, errlen, "getrandom: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[PASSWORD_HEX] = '\0';
    memset(raw, 0, sizeof(raw));
    return 0;
}

/* 0 with the password, 1 when there is no password file, -1 on error. */
static int read_password(const char *path, char out[PASSWORD_HEX + 1], char *err, size_t errlen)
{
    char buf[PASSWORD_HEX + 8];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT)
        return 1;
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (fd >= 0)
        close(fd);
    if (n < 0) {
        errf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (strlen(buf) != PASSWORD_HEX) {
        errf(err, errlen, "%s does not hold a %d-character password", path, PASSWORD_HEX);
        memset(buf, 0, sizeof(buf));
        return -1;
    }
    memcpy(out, buf, PASSWORD_HEX + 1);
    memset(buf, 0, sizeof(buf));
    return 0;
}

static int run_initdb(struct paths *p, const struct runas *ra, char *err, size_t errlen)
{
    char *argv[] = {p->initdb, "-D",          p->data, "-U",          "shark",
                    "--auth=scram-sha-256", p->pwfile_opt, "-E", "UTF8", "--no-locale",
                    NULL};
    char tail[512];
    int status;
    pid_t pid;

    pid = spawn(argv, p->initdb_log, p->pg, ra, true, err, errlen);
    if (pid < 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    log_tail(p->initdb_log, tail, sizeof(tail));
    errf(err, errlen, "initdb failed (see %s): %s", p->initdb_log, tail);
    return -1;
}

static pid_t start_postgres(struct paths *p, const struct runas *ra, char *err, size_t errlen)
{
    char *argv[] = {p->postgres,
                    "-D", p->data,
                    "-c", "listen_addresses=",
                    "-c", "port=" PG_PORT,
                    "-c", p->sockdir_opt,
                    "-c", "unix_socket_permissions=0700",
                    "-c", "max_connections=200",
                    "-c", "shared_buffers=64MB",
                    "-c", "logging_collector=off",
                    NULL};

    return spawn(argv, p->pg_log, p->pg, ra, true, err, errlen);
}

/* The conninfo of database dbname as the shark role (password may be NULL:
 * peer authentication while an old cluster gets its password). */
static void shark_conninfo(char *out, size_t len, const char *run, const char *dbname,
                           const char *password)
{
    out[0] = '\0';
    conninfo_add(out, len, "host", run);
    conninfo_add(out, len, "port", PG_PORT);
    conninfo_add(out, len, "dbname", dbname);
    conninfo_add(out, len, "user", "shark");
    if (password != NULL)
        conninfo_add(out, len, "password", password);
}

/* Polls until the server answers or the postmaster exits (-2, reaped), or
 * `stop` is set (-1). */
static int wait_ready(pid_t pid, const struct paths *p, const atomic_bool *stop, char *err,
                      size_t errlen)
{
    char ci[PATH_MAX + 128] = "", tail[512];
    const char *log = p->pg_log;
    int status;

    conninfo_add(ci, sizeof(ci), "host", p->run);
    conninfo_add(ci, sizeof(ci), "port", PG_PORT);
    conninfo_add(ci, sizeof(ci), "dbname", "postgres");
    conninfo_add(ci, sizeof(ci), "user", "shark");
    for (long waited = 0; waited < START_TIMEOUT_MS; waited += 50) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            log_tail(log, tail, sizeof(tail));
            errf(err, errlen, "postgres exited during start-up (see %s): %s", log, tail);
            return -2;
        }
        if (PQping(ci) == PQPING_OK)
            return 0;
        if (stop && atomic_load(stop)) {
            errf(err, errlen, "stopping");
            return -1;
        }
        sleep_ms(50);
    }
    log_tail(log, tail, sizeof(tail));
    errf(err, errlen, "postgres did not accept connections within %d s (see %s): %s",
         START_TIMEOUT_MS / 1000, log, tail);
    return -1;
}

static int ensure_database(const char *run, const char *password, char *err, size_t errlen)
{
    char ci[PATH_MAX + 256];
    PGconn *conn;
    PGresult *res = NULL;
    int rc = -1;

    shark_conninfo(ci, sizeof(ci), run, "postgres", password);
    conn = PQconnectdb(ci);
    memset(ci, 0, sizeof(ci));
    if (PQstatus(conn) != CONNECTION_OK)
        goto fail;
    res = PQexec(conn, "SELECT 1 FROM pg_database WHERE datname = 'shark'");
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        goto fail;
    if (PQntuples(res) == 0) {
        PQclear(res);
        res = PQexec(conn, "CREATE DATABASE shark");
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            goto fail;
    }
    rc = 0;
fail:
    if (rc != 0)
        errf(err, errlen, "creating the shark database: %s", PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
    return rc;
}

/* Over a peer-authenticated connection, gives the shark role the password
 * (sent as a SCRAM verifier, so the password itself never reaches a log). */
static int set_password(const char *run, const char *password, char *err, size_t errlen)
{
    char ci[PATH_MAX + 256];
    PGresult *res = NULL;
    char *verifier = NULL, *literal = NULL, *sql = NULL;
    int rc = -1;

    shark_conninfo(ci, sizeof(ci), run, "postgres", NULL);
    PGconn *conn = PQconnectdb(ci);
    if (PQstatus(conn) != CONNECTION_OK ||
        (verifier = PQencryptPasswordConn(conn, password, "shark", "scram-sha-256")) == NULL ||
        (literal = PQescapeLiteral(conn, verifier, strlen(verifier))) == NULL ||
        (sql = malloc(strlen(literal) + 32)) == NULL)
        goto done;
    sprintf(sql, "ALTER ROLE shark PASSWORD %s", literal);
    res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_COMMAND_OK)
        rc = 0;
done:
    if (rc != 0)
        errf(err, errlen, "setting the embedded database's password: %s", PQerrorMessage(conn));
    PQclear(res);
    free(sql);
    PQfreemem(literal);
    PQfreemem(verifier);
    PQfinish(conn);
    return rc;
}

/* A cluster from before passwords (initdb --auth=trust, no password file):
 * start it once reachable only by our own OS user (peer), set the role's
 * password, stop it; the password file is written only once that worked. */
static int upgrade_trust(struct paths *p, const struct runas *ra, const char *password,
                         char *err, size_t errlen)
{
    char ident[512];
    struct passwd *me = getpwuid(geteuid());
    pid_t pid = -1;
    int rc = -1;

    if (me == NULL) {
        errf(err, errlen, "cannot name the user shark runs as (uid %d)", (int)geteuid());
        return -1;
    }
    snprintf(ident, sizeof(ident), "# Written by shark (store/embed.c).\nshark %s shark\n",
             me->pw_name);
    if (write_owned(p->hba, hba_peer, ra, err, errlen) != 0 ||
        write_owned(p->ident, ident, ra, err, errlen) != 0)
        return -1;
    clear_stale(p->pidfile);
    clear_socket_lock(p->run);
    pid = start_postgres(p, ra, err, errlen);
    if (pid < 0)
        return -1;
    int ready = wait_ready(pid, p, NULL, err, errlen);
    if (ready == -2)
        pid = -1;
    if (ready == 0 && set_password(p->run, password, err, errlen) == 0) {
        char line[PASSWORD_HEX + 2];
        snprintf(line, sizeof(line), "%s\n", password);
        rc = write_owned(p->password, line, ra, err, errlen);
        memset(line, 0, sizeof(line));
    }
    stop_pid(pid);
    return rc;
}

static int make_paths(struct paths *p, const char *bindir)
{
    if (join(p->pg, p->base, "pg") || join(p->data, p->pg, "data") ||
        join(p->run, p->pg, "run") || join(p->initdb, bindir, "initdb") ||
        join(p->postgres, bindir, "postgres") || join(p->initdb_log, p->pg, "initdb.log") ||
        join(p->pg_log, p->pg, "postgres.log") || join(p->pidfile, p->data, "postmaster.pid") ||
        join(p->version, p->data, "PG_VERSION") || join(p->password, p->pg, "password") ||
        join(p->hba, p->data, "pg_hba.conf") || join(p->ident, p->data, "pg_ident.conf"))
        return -1;
    snprintf(p->pwfile_opt, sizeof(p->pwfile_opt), "--pwfile=%s", p->password);
    snprintf(p->sockdir_opt, sizeof(p->sockdir_opt), "unix_socket_directories=%s", p->run);
    /* The socket is run/.s.PGSQL.<port> and must fit in sun_path. */
    if (strlen(p->run) + sizeof("/.s.PGSQL." PG_PORT) > sizeof(((struct sockaddr_un *)0)->sun_path))
        return -1;
    return 0;
}

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

/* A dead postmaster's backends (its process group: spawn() made it a group
 * leader) may live on for a moment; a new postmaster must not share the
 * data directory with them. */
static void kill_orphans(pid_t pgid)
{
    kill(-pgid, SIGKILL);
    for (long waited = 0; waited < ORPHAN_WAIT_MS && kill(-pgid, 0) == 0; waited += 20)
        sleep_ms(20);
}

/* One restart attempt: 0 with the new postmaster running and accepting. */
static int restart_once(store_embed *e, char *err, size_t errlen)
{
    clear_stale(e->p->pidfile);
    clear_socket_lock(e->p->run);
    pid_t pid = start_postgres(e->p, &e->ra, err, errlen);
    if (pid < 0)
        return -1;
    int rc = wait_ready(pid, e->p, &e->stopping, err, errlen);
    if (rc == 0) {
        atomic_store(&e->pid, pid);
        return 0;
    }
    if (rc != -2)
        stop_pid(pid);
    return -1;
}

static void *supervise(void *arg)
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
        kill_orphans(pid);
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

store_embed *store_embed_start(const char *data_dir, char *conninfo, size_t len, char *err,
                               size_t errlen)
{
    char bindir[PATH_MAX], password[PASSWORD_HEX + 1] = "", line[PASSWORD_HEX + 2];
    struct paths *p = calloc(1, sizeof(*p));
    struct runas ra;
    store_embed *e = NULL;
    pid_t pid = -1;
    int rc;

    if (!p) {
        errf(err, errlen, "out of memory");
        goto fail;
    }
    if (find_bindir(bindir, sizeof(bindir)) != 0) {
        errf(err, errlen,
             "PostgreSQL server binaries (initdb, postgres) not found via pg_config or in "
             "/usr/lib/postgresql/*/bin; install the %s package",
             SHARK_PG_PACKAGE);
        goto fail;
    }
    if (lookup_runas(&ra, err, errlen) != 0)
        goto fail;
    /* A fresh data dir must still let postgres through when we are root. */
    if (mkdir(data_dir, ra.drop ? 0711 : 0700) == 0 && chmod(data_dir, ra.drop ? 0711 : 0700))
        goto fail_errno;
    if (!realpath(data_dir, p->base))
        goto fail_errno;
    if (make_paths(p, bindir) != 0) {
        errf(err, errlen, "data directory path %s is too long for a unix socket", p->base);
        goto fail;
    }
    if (check_traversable(p->base, &ra, err, errlen) != 0 ||
        make_dir(p->pg, 0700, &ra, err, errlen) != 0 ||
        make_dir(p->data, 0700, &ra, err, errlen) != 0 ||
        make_dir(p->run, 0700, &ra, err, errlen) != 0)
        goto fail;
    if (access(p->version, F_OK) != 0) {
        /* initdb reads the new role's password from the file it stays in. */
        if (new_password(password, err, errlen) != 0)
            goto fail;
        snprintf(line, sizeof(line), "%s\n", password);
        rc = write_owned(p->password, line, &ra, err, errlen);
        memset(line, 0, sizeof(line));
        if (rc != 0 || run_initdb(p, &ra, err, errlen) != 0)
            goto fail;
    } else {
        rc = read_password(p->password, password, err, errlen);
        if (rc < 0 || (rc == 1 && (new_password(password, err, errlen) != 0 ||
                                   upgrade_trust(p, &ra, password, err, errlen) != 0)))
            goto fail;
    }
    if (write_owned(p->hba, hba_scram, &ra, err, errlen) != 0 ||
        write_owned(p->ident, "# Written by shark (store/embed.c): no maps.\n", &ra, err,
                    errlen) != 0)
        goto fail;
    clear_stale(p->pidfile);
    clear_socket_lock(p->run);
    pid = start_postgres(p, &ra, err, errlen);
    if (pid < 0)
        goto fail;
    rc = wait_ready(pid, p, NULL, err, errlen);
    if (rc == -2)
        pid = -1; /* already reaped */
    if (rc != 0 || ensure_database(p->run, password, err, errlen) != 0)
        goto fail;
    shark_conninfo(conninfo, len, p->run, "shark", password);
    if (strlen(conninfo) + 1 >= len) {
        errf(err, errlen, "conninfo buffer too small");
        goto fail;
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        errf(err, errlen, "out of memory");
        goto fail;
    }
    e->p = p;
    e->ra = ra;
    atomic_store(&e->pid, pid);
    atomic_store(&e->up, true);
    pthread_mutex_init(&e->mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&e->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    memset(password, 0, sizeof(password));
    if (pthread_create(&e->thread, NULL, supervise, e) != 0) {
        errf(err, errlen, "cannot start the embedded PostgreSQL supervisor");
        goto fail_handle;
    }
    e->thread_started = true;
    return e;
fail_handle:
    store_embed_stop(e);
    return NULL;
fail_errno:
    errf(err, errlen, "%s: %s", data_dir, strerror(errno));
fail:
    memset(password, 0, sizeof(password));
    stop_pid(pid);
    free(p);
    return NULL;
}

void store_embed_stop(store_embed *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    atomic_store(&e->stopping, true);
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    if (e->thread_started)
        pthread_join(e->thread, NULL);
    /* The supervisor has returned: whatever postmaster is current is ours. */
    stop_pid(atomic_load(&e->pid));
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e->p);
    free(e);
}

pid_t store_embed_pid(const store_embed *e)
{
    return atomic_load(&e->pid);
}

bool store_embed_up(const store_embed *e)
{
    return e == NULL || atomic_load(&e->up);
}

long store_embed_restarts(const store_embed *e)
{
    return e ? atomic_load(&e->restarts) : 0;
}

long store_embed_deaths(const store_embed *e)
{
    return e ? atomic_load(&e->deaths) : 0;
}
