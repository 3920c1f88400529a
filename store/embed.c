/*
 * The embedded PostgreSQL cluster's life (embed.h, embed_int.h). Layout
 * under data_dir:
 *   pg/data         the cluster (initdb on first boot)
 *   pg/run          unix socket directory (no TCP listener)
 *   pg/password     the `shark` role's generated password (0600)
 *   pg/initdb.log   output of the last initdb
 *   pg/postgres.log server log (stdout/stderr of the postmaster)
 * When shark runs as root, pg/ belongs to the `postgres` user and children
 * drop to it before exec, since PostgreSQL refuses to run as root.
 */
#include "embed_int.h"

#include "../core/file.h"
#include "shark_config.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 30000

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

/* Writes text to path whole (core/file.h: tmp + rename, mode 0600), owned
 * by the child user so PostgreSQL can read it. */
static int write_owned(const char *path, const char *text, const struct runas *ra, char *err,
                       size_t errlen)
{
    return file_write_secret(path, text, ra->drop ? ra->uid : (uid_t)-1,
                             ra->drop ? ra->gid : (gid_t)-1, err, errlen);
}

static int new_password(char out[PASSWORD_HEX + 1], char *err, size_t errlen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[PASSWORD_HEX / 2];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        store_embed_errf(err, errlen, "getrandom: %s", strerror(errno));
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
        store_embed_errf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (strlen(buf) != PASSWORD_HEX) {
        store_embed_errf(err, errlen, "%s does not hold a %d-character password", path,
                         PASSWORD_HEX);
        memset(buf, 0, sizeof(buf));
        return -1;
    }
    memcpy(out, buf, PASSWORD_HEX + 1);
    memset(buf, 0, sizeof(buf));
    return 0;
}

static int run_initdb(struct paths *p, const struct runas *ra, char *err, size_t errlen)
{
    char *argv[] = {p->initdb,     "-D", p->data, "-U",          "shark", "--auth=scram-sha-256",
                    p->pwfile_opt, "-E", "UTF8",  "--no-locale", NULL};
    char tail[512];
    int status;
    pid_t pid;

    pid = store_embed_spawn(argv, p->initdb_log, p->pg, ra, true, err, errlen);
    if (pid < 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    store_embed_log_tail(p->initdb_log, tail, sizeof(tail));
    store_embed_errf(err, errlen, "initdb failed (see %s): %s", p->initdb_log, tail);
    return -1;
}

pid_t store_embed_postgres_start(struct paths *p, const struct runas *ra, char *err, size_t errlen)
{
    char *argv[] = {p->postgres,
                    "-D",
                    p->data,
                    "-c",
                    "listen_addresses=",
                    "-c",
                    "port=" PG_PORT,
                    "-c",
                    p->sockdir_opt,
                    "-c",
                    "unix_socket_permissions=0700",
                    "-c",
                    "max_connections=200",
                    "-c",
                    "shared_buffers=64MB",
                    "-c",
                    "logging_collector=off",
                    NULL};

    return store_embed_spawn(argv, p->pg_log, p->pg, ra, true, err, errlen);
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
int store_embed_wait_ready(pid_t pid, const struct paths *p, const atomic_bool *stop, char *err,
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
            store_embed_log_tail(log, tail, sizeof(tail));
            store_embed_errf(err, errlen, "postgres exited during start-up (see %s): %s", log,
                             tail);
            return -2;
        }
        if (PQping(ci) == PQPING_OK)
            return 0;
        if (stop && atomic_load(stop)) {
            store_embed_errf(err, errlen, "stopping");
            return -1;
        }
        store_embed_sleep_ms(50);
    }
    store_embed_log_tail(log, tail, sizeof(tail));
    store_embed_errf(err, errlen, "postgres did not accept connections within %d s (see %s): %s",
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
        store_embed_errf(err, errlen, "creating the shark database: %s", PQerrorMessage(conn));
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
        store_embed_errf(err, errlen, "setting the embedded database's password: %s",
                         PQerrorMessage(conn));
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
static int upgrade_trust(struct paths *p, const struct runas *ra, const char *password, char *err,
                         size_t errlen)
{
    char ident[512];
    struct passwd *me = getpwuid(geteuid());
    pid_t pid = -1;
    int rc = -1;

    if (me == NULL) {
        store_embed_errf(err, errlen, "cannot name the user shark runs as (uid %d)",
                         (int)geteuid());
        return -1;
    }
    snprintf(ident, sizeof(ident), "# Written by shark (store/embed.c).\nshark %s shark\n",
             me->pw_name);
    if (write_owned(p->hba, hba_peer, ra, err, errlen) != 0 ||
        write_owned(p->ident, ident, ra, err, errlen) != 0)
        return -1;
    store_embed_clear_stale(p->pidfile);
    store_embed_clear_socket_lock(p->run);
    pid = store_embed_postgres_start(p, ra, err, errlen);
    if (pid < 0)
        return -1;
    int ready = store_embed_wait_ready(pid, p, NULL, err, errlen);
    if (ready == -2)
        pid = -1;
    if (ready == 0 && set_password(p->run, password, err, errlen) == 0) {
        char line[PASSWORD_HEX + 2];
        snprintf(line, sizeof(line), "%s\n", password);
        rc = write_owned(p->password, line, ra, err, errlen);
        memset(line, 0, sizeof(line));
    }
    store_embed_stop_pid(pid);
    return rc;
}

static int make_paths(struct paths *p, const char *bindir)
{
    if (store_embed_join(p->pg, p->base, "pg") || store_embed_join(p->data, p->pg, "data") ||
        store_embed_join(p->run, p->pg, "run") || store_embed_join(p->initdb, bindir, "initdb") ||
        store_embed_join(p->postgres, bindir, "postgres") ||
        store_embed_join(p->initdb_log, p->pg, "initdb.log") ||
        store_embed_join(p->pg_log, p->pg, "postgres.log") ||
        store_embed_join(p->pidfile, p->data, "postmaster.pid") ||
        store_embed_join(p->version, p->data, "PG_VERSION") ||
        store_embed_join(p->password, p->pg, "password") ||
        store_embed_join(p->hba, p->data, "pg_hba.conf") ||
        store_embed_join(p->ident, p->data, "pg_ident.conf"))
        return -1;
    snprintf(p->pwfile_opt, sizeof(p->pwfile_opt), "--pwfile=%s", p->password);
    snprintf(p->sockdir_opt, sizeof(p->sockdir_opt), "unix_socket_directories=%s", p->run);
    /* The socket is run/.s.PGSQL.<port> and must fit in sun_path. */
    if (strlen(p->run) + sizeof("/.s.PGSQL." PG_PORT) > sizeof(((struct sockaddr_un *)0)->sun_path))
        return -1;
    return 0;
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
        store_embed_errf(err, errlen, "out of memory");
        goto fail;
    }
    if (store_embed_find_bindir(bindir, sizeof(bindir)) != 0) {
        store_embed_errf(
            err, errlen,
            "PostgreSQL server binaries (initdb, postgres) not found via pg_config or in "
            "/usr/lib/postgresql/*/bin; install the %s package",
            SHARK_PG_PACKAGE);
        goto fail;
    }
    if (store_embed_lookup_runas(&ra, err, errlen) != 0)
        goto fail;
    /* A fresh data dir must still let postgres through when we are root. */
    if (mkdir(data_dir, ra.drop ? 0711 : 0700) == 0 && chmod(data_dir, ra.drop ? 0711 : 0700))
        goto fail_errno;
    if (!realpath(data_dir, p->base))
        goto fail_errno;
    if (make_paths(p, bindir) != 0) {
        store_embed_errf(err, errlen, "data directory path %s is too long for a unix socket",
                         p->base);
        goto fail;
    }
    if (store_embed_check_traversable(p->base, &ra, err, errlen) != 0 ||
        store_embed_make_dir(p->pg, 0700, &ra, err, errlen) != 0 ||
        store_embed_make_dir(p->data, 0700, &ra, err, errlen) != 0 ||
        store_embed_make_dir(p->run, 0700, &ra, err, errlen) != 0)
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
        write_owned(p->ident, "# Written by shark (store/embed.c): no maps.\n", &ra, err, errlen) !=
            0)
        goto fail;
    store_embed_clear_stale(p->pidfile);
    store_embed_clear_socket_lock(p->run);
    pid = store_embed_postgres_start(p, &ra, err, errlen);
    if (pid < 0)
        goto fail;
    rc = store_embed_wait_ready(pid, p, NULL, err, errlen);
    if (rc == -2)
        pid = -1; /* already reaped */
    if (rc != 0 || ensure_database(p->run, password, err, errlen) != 0)
        goto fail;
    shark_conninfo(conninfo, len, p->run, "shark", password);
    if (strlen(conninfo) + 1 >= len) {
        store_embed_errf(err, errlen, "conninfo buffer too small");
        goto fail;
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        store_embed_errf(err, errlen, "out of memory");
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
    if (pthread_create(&e->thread, NULL, store_embed_supervise, e) != 0) {
        store_embed_errf(err, errlen, "cannot start the embedded PostgreSQL supervisor");
        goto fail_handle;
    }
    e->thread_started = true;
    return e;
fail_handle:
    store_embed_stop(e);
    return NULL;
fail_errno:
    store_embed_errf(err, errlen, "%s: %s", data_dir, strerror(errno));
fail:
    memset(password, 0, sizeof(password));
    store_embed_stop_pid(pid);
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
    store_embed_stop_pid(atomic_load(&e->pid));
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
