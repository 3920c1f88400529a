/* shark: the command line. `shark serve` runs the server. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../admin/admin.h"
#include "../admin/firstboot.h"
#include "../api/api_doc.h"
#include "../cli/cli.h"
#include "../protocol/access.h"
#include "../protocol/client.h"
#include "../protocol/dpopkeys.h"
#include "../protocol/keys.h"
#include "../protocol/oauth.h"
#include "../protocol/upkeep.h"
#include "../hooks/deliver.h"
#include "../store/embed.h"
#include "../store/nodes.h"
#include "../vault/vault.h"
#include "../store/revoked.h"
#include "../store/store.h"
#include "../store/system.h"
#include "../core/config.h"
#include "../core/fetch.h"
#include "../core/fatal.h"
#include "../core/log.h"
#include "../core/metrics.h"
#include "../core/server.h"
#include "shark_config.h"
#include "../core/tls.h"

static const char usage[] =
    "usage: shark <command> [flags]\n\n"
    "SharkAuth: an OAuth 2.1 authorization server for AI agents.\n\n"
    "commands:\n"
    "  serve           run the server (shark serve --help for its flags)\n"
    "  migrate         apply database migrations (--check, --dry-run; see --help)\n"
    "  app             create and list applications\n"
    "  agent           create, list and revoke agents, rotate their secrets\n"
    "  user            revoke the agents a user created\n"
    "  revoke-pattern  revoke the tokens of clients matching a client_id pattern\n"
    "  audit           show or follow the audit log\n"
    "  vault rekey     re-seal stored secrets under a new master key (server stopped)\n"
    "  routes          print the route table (method and path template) and exit\n"
    "  version         print the version\n"
    "  help            show this text\n\n"
    "The admin commands talk to a running server: shark <command> --help.\n"
    "They read the admin API key from --admin-key-file FILE, SHARK_ADMIN_KEY, or\n"
    "<data-dir>/admin.key.firstboot; never put the key itself on the command line\n"
    "(other users of the machine can read it with ps).\n";

static const char *env_get(const char *name)
{
    return getenv(name);
}

/* Refuses a second `shark serve` on the same data directory: two servers
 * would fight over the embedded cluster. The lock dies with the process. */
static int lock_data_dir(const char *dir, char *err, size_t errlen)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s/shark.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "data directory %s is in use by another shark process", dir);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* The per-loop state and the background services of every module: this
 * file is the composition root, the only place that knows them all. */
static int loop_init(worker *w)
{
    app *a = w->app;
    w->pool = store_pool_new(&w->loop, a->conninfo, a->cfg.db_pool_size, a->cfg.db_wait_ms);
    if (w->pool == NULL)
        return -1;
    if (a->cfg.db_read[0] != '\0' &&
        (w->read_pool = store_pool_new_replica(&w->loop, a->cfg.db_read, a->cfg.db_pool_size,
                                               a->cfg.db_wait_ms)) == NULL)
        return -1;
    oauth_loop_init(w);
    fetch_loop_init(w);
    return 0;
}

static void loop_tick(worker *w)
{
    if (w->pool == NULL)
        return;
    store_pool_stats st;
    store_pool_stats_get(w->pool, &st);
    metrics_pool(w->app->metrics, w->index, st.in_use, st.idle, st.size);
}

/* The caches of core/loop.h, each by its owner. */
static void loop_ctx_free(loop_ctx *lc)
{
    oauth_client_cache_free(lc);
    oauth_token_cache_free(lc);
    oauth_dpop_keys_free(lc);
    store_admin_keys_free(lc);
}

struct loop_closing {
    worker *w;
    void (*done)(worker *w);
};

static void on_pool_closed(void *ud)
{
    struct loop_closing *c = ud;
    worker *w = c->w;
    void (*done)(worker *) = c->done;
    /* The replica's pool, if any, closes after the primary's. */
    if (w->read_pool != NULL) {
        store_pool *rp = w->read_pool;
        w->read_pool = NULL;
        w->pool = NULL;
        store_pool_close(rp, on_pool_closed, c);
        return;
    }
    free(c);
    w->pool = NULL;
    loop_ctx_free(&w->ctx);
    done(w);
}

static void loop_close(worker *w, void (*done)(worker *w))
{
    if (w->pool == NULL) {
        loop_ctx_free(&w->ctx);
        done(w);
        return;
    }
    struct loop_closing *c = malloc(sizeof(*c));
    if (c == NULL)
        shark_fatal("out of memory");
    c->w = w;
    c->done = done;
    store_pool_close(w->pool, on_pool_closed, c);
}

static int background_start(app *a)
{
    return fetch_start(a) != 0 ? -1 : hooks_start(a);
}

static void background_stop(app *a)
{
    hooks_stop(a);
    fetch_stop(a);
}

static void background_join(app *a)
{
    hooks_join(a);
    fetch_join(a);
}

/* Every module's routes: the one table `serve` runs and `routes` prints. */
static int register_routes(router *r)
{
    return router_surface(r, "", admin_envelope) != 0 || admin_register(r) != 0 ||
                   vault_register(r) != 0 || oauth_routes(r) != 0 || api_doc_routes(r) != 0
               ? -1
               : 0;
}

/* `shark routes`: the table as "METHOD /path/{param}" lines, so tests can
 * compare the real router with the OpenAPI document. */
static int print_routes(void)
{
    router *r = router_new();
    int rc = register_routes(r);
    for (int i = 0; rc == 0 && i < router_count(r); i++)
        printf("%s %s\n", router_get(r, i)->method, router_get(r, i)->pattern);
    router_free(r);
    if (rc != 0)
        fprintf(stderr, "shark: route table is inconsistent\n");
    return rc == 0 ? 0 : 1;
}

static int serve(int argc, char **argv)
{
    static app a; /* lives for the whole process; loops hold pointers into it */
    char err[1024];
    int rc = 1, lockfd = -1;
    store_embed *embed = NULL;

    /* Every connection of this process names itself, which is how nodes of
     * the version before (libpq's empty default) are told apart (migration
     * 0037). Before any thread reads the environment. */
    setenv("PGAPPNAME", "shark", 0);
    config_defaults(&a.cfg, (int)sysconf(_SC_NPROCESSORS_ONLN));
    int pr = config_parse(&a.cfg, argc, argv, env_get, err, sizeof(err));
    if (pr == 1) {
        config_usage(stdout);
        return 0;
    }
    if (pr != 0) {
        fprintf(stderr, "shark serve: %s\n", err);
        return 2;
    }
    log_set_level(a.cfg.log_level);
    if (sodium_init() < 0) {
        fprintf(stderr, "shark: libsodium failed to initialise\n");
        return 1;
    }
    a.start_ms = server_now_ms();
    /* As root the embedded cluster runs as `postgres`, which must be able to
     * pass through (never list) the data directory. */
    if (mkdir(a.cfg.data_dir, geteuid() == 0 ? 0711 : 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "shark: cannot create %s: %s\n", a.cfg.data_dir, strerror(errno));
        return 1;
    }
    if ((lockfd = lock_data_dir(a.cfg.data_dir, err, sizeof(err))) < 0)
        goto fail;
    if (firstboot_master_key(&a, getenv("SHARK_MASTER_KEY"), err, sizeof(err)) != 0)
        goto fail;
    if (a.cfg.db[0] != '\0') {
        snprintf(a.conninfo, sizeof(a.conninfo), "%s", a.cfg.db);
    } else {
        embed = store_embed_start(a.cfg.data_dir, a.conninfo, sizeof(a.conninfo), err, sizeof(err));
        if (embed == NULL)
            goto fail;
        a.embed = embed;
    }
    /* --no-migrate: a migration step (`shark migrate`, the Helm Job) ran or
     * runs first; this binary needs its own migrations, newer ones are fine. */
    if (a.cfg.no_migrate ? store_schema_require(a.conninfo, err, sizeof(err)) != 0
                         : store_migrate(a.conninfo, err, sizeof(err)) != 0)
        goto fail;
    if (firstboot_run(&a, err, sizeof(err)) != 0 || oauth_startup(&a, err, sizeof(err)) != 0)
        goto fail;
    if (fetch_init(&a) != 0) {
        snprintf(err, sizeof(err), "cannot set up outbound HTTP");
        goto fail;
    }
    a.loop_init = loop_init;
    a.loop_tick = loop_tick;
    a.loop_close = loop_close;
    a.start_background = background_start;
    a.stop_background = background_stop;
    a.join_background = background_join;
    if (a.cfg.tls_cert[0] != '\0' &&
        (a.tls = tls_ctx_new(a.cfg.tls_cert, a.cfg.tls_key, err, sizeof(err))) == NULL)
        goto fail;
    a.router = router_new();
    if (register_routes(a.router) != 0) {
        snprintf(err, sizeof(err), "route table is inconsistent");
        goto fail;
    }
    a.rl = rl_new(a.cfg.rate_rps, a.cfg.rate_burst);
    a.conns = connlimit_new(a.cfg.max_connections, a.cfg.max_connections_per_ip);
    a.metrics = metrics_new(router_count(a.router), a.cfg.threads);
    /* The revoked set's reloads (built off the loops) connect with this. */
    store_revoked_start(a.conninfo);
    store_nodes_start(a.conninfo);
    if (server_run(&a) != 0)
        goto cleanup;
    rc = 0;
    goto cleanup;
fail:
    log_msg(LOG_ERROR, "start-up failed", "error", err, NULL);
    fprintf(stderr, "shark: %s\n", err);
cleanup:
    if (embed != NULL)
        store_embed_stop(embed);
    tls_ctx_free(a.tls);
    router_free(a.router);
    keyring_free(a.keys);
    rl_free(a.rl);
    connlimit_free(a.conns);
    metrics_free(a.metrics);
    sodium_memzero(a.master_key, sizeof(a.master_key));
    if (lockfd >= 0)
        close(lockfd);
    if (rc == 0)
        log_msg(LOG_INFO, "stopped", NULL);
    return rc;
}

static void on_migration(void *ud, int version, const char *name)
{
    printf("%s %04d %s\n", (const char *)ud, version, name);
}

/* `shark migrate [--check|--dry-run] [serve flags]`: the schema step of a
 * rolling upgrade, run before new nodes start with --no-migrate. It takes
 * the serve flags (--db, --data-dir, SHARK_*) so both read one config. */
static int migrate_cmd(int argc, char **argv)
{
    static config cfg;
    enum store_migrate_mode mode = STORE_MIGRATE_APPLY;
    char err[1024], conninfo[1200], **rest = calloc((size_t)argc + 1, sizeof(char *));
    int nrest = 0, lockfd = -1, rc = 1, newer = 0, pending;
    store_embed *embed = NULL;

    if (rest == NULL)
        return 1;
    err[0] = '\0';
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0)
            mode = STORE_MIGRATE_CHECK;
        else if (strcmp(argv[i], "--dry-run") == 0)
            mode = STORE_MIGRATE_DRY_RUN;
        else
            rest[nrest++] = argv[i];
    }
    config_defaults(&cfg, 1);
    int pr = config_parse(&cfg, nrest, rest, env_get, err, sizeof(err));
    free(rest);
    if (pr == 1) {
        printf("usage: shark migrate [--check | --dry-run] [--db CONNINFO | --data-dir DIR]\n\n"
               "Applies the migrations this shark carries that the database lacks, each in\n"
               "its own transaction, under the lock every shark takes to migrate.\n"
               "  --check    change nothing; exit 0 when none is pending, 1 when some are\n"
               "             (or the check failed: stderr says which)\n"
               "  --dry-run  run the pending ones in one transaction, then roll it back\n"
               "Other flags and SHARK_* variables are those of `shark serve`.\n");
        return 0;
    }
    if (pr != 0) {
        fprintf(stderr, "shark migrate: %s\n", err);
        return 2;
    }
    log_set_level(cfg.log_level);
    if (cfg.db[0] != '\0') {
        snprintf(conninfo, sizeof(conninfo), "%s", cfg.db);
    } else {
        if (mkdir(cfg.data_dir, geteuid() == 0 ? 0711 : 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "shark migrate: cannot create %s: %s\n", cfg.data_dir, strerror(errno));
            return 1;
        }
        if ((lockfd = lock_data_dir(cfg.data_dir, err, sizeof(err))) < 0 ||
            (embed = store_embed_start(cfg.data_dir, conninfo, sizeof(conninfo), err,
                                       sizeof(err))) == NULL)
            goto done;
    }
    const char *verb = mode == STORE_MIGRATE_CHECK     ? "pending"
                       : mode == STORE_MIGRATE_DRY_RUN ? "would apply"
                                                       : "applied";
    pending = store_migrate_run(conninfo, mode, on_migration, (void *)verb, &newer, err,
                                sizeof(err));
    sodium_memzero(conninfo, sizeof(conninfo));
    if (pending < 0)
        goto done;
    if (newer > 0)
        printf("schema at version %d, newer than this shark's %d: nothing to do\n", newer,
               store_schema_latest());
    else if (pending == 0)
        printf("schema up to date (version %d)\n", store_schema_latest());
    else if (mode == STORE_MIGRATE_DRY_RUN)
        printf("dry run: %d migration%s ran and were rolled back; nothing changed\n", pending,
               pending == 1 ? "" : "s");
    rc = mode == STORE_MIGRATE_CHECK && pending > 0 ? 1 : 0;
    err[0] = '\0';
done:
    if (err[0] != '\0' && rc != 0)
        fprintf(stderr, "shark migrate: %s\n", err);
    store_embed_stop(embed);
    if (lockfd >= 0)
        close(lockfd);
    return rc;
}

int main(int argc, char **argv)
{
    bool bare = argc > 1 && (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
                             strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "version") == 0 ||
                             strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "routes") == 0);
    if (bare && argc > 2) {
        fprintf(stderr, "shark %s: unexpected argument '%s'\n", argv[1], argv[2]);
        return 2;
    }
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("shark %s\n", SHARK_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "serve") == 0)
        return serve(argc - 2, argv + 2);
    if (strcmp(argv[1], "routes") == 0)
        return print_routes();
    if (strcmp(argv[1], "migrate") == 0)
        return migrate_cmd(argc - 2, argv + 2);
    if (strcmp(argv[1], "vault") == 0)
        return vault_cli_main(argc - 2, argv + 2);
    if (cli_handles(argv[1]))
        return cli_main(argv[1], argc - 2, argv + 2);
    fprintf(stderr, "shark: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
