#include "system.h"

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../crypto/hash.h"

static int exec_ok(PGconn *c, PGresult *r, char *err, size_t errlen)
{
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return 0;
    snprintf(err, errlen, "database: %s", PQerrorMessage(c));
    return -1;
}

int store_system_boot(const char *conninfo, const char *key_id, const char *key_hash,
                      const char *version, bool *created, char *err, size_t errlen)
{
    int rc = -1;
    PGresult *r = NULL;
    PGconn *c = PQconnectdb(conninfo);
    *created = false;
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "database: %s", PQerrorMessage(c));
        goto done;
    }
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    /* One statement, so the installation, its key and its audit event commit
     * together; ON CONFLICT makes concurrent first boots agree on a winner. */
    const char *boot =
        "WITH inst AS (INSERT INTO system_state (singleton) VALUES (true) "
        "  ON CONFLICT DO NOTHING RETURNING installed_at), "
        "k AS (INSERT INTO admin_keys (id, key_hash) SELECT $1, $2 FROM inst RETURNING id), "
        "ev AS (INSERT INTO audit_events (id, event, actor_type, target_id, metadata) "
        "  SELECT shark_id('audit_'), "
        "  'system.first_boot', 'system', k.id, jsonb_build_object('version', $3::text) "
        "  FROM k RETURNING id) "
        "SELECT (SELECT count(*) FROM k) AS created";
    const char *p1[] = {key_id, key_hash, version};
    r = PQexecParams(c, boot, 3, NULL, p1, NULL, NULL, 0);
    if (exec_ok(c, r, err, errlen) != 0)
        goto done;
    *created = strcmp(PQgetvalue(r, 0, 0), "1") == 0;
    PQclear(r);
    const char *started =
        "INSERT INTO audit_events (id, event, actor_type, metadata) VALUES "
        "(shark_id('audit_'), 'system.started', "
        "'system', jsonb_build_object('version', $1::text, 'pid', $2::int))";
    const char *p2[] = {version, pid};
    r = PQexecParams(c, started, 2, NULL, p2, NULL, NULL, 0);
    if (exec_ok(c, r, err, errlen) != 0)
        goto done;
    rc = 0;
done:
    PQclear(r);
    PQfinish(c);
    return rc;
}

static store_stmt key_check = {
    "admin_key_check",
    "WITH k AS (SELECT id FROM admin_keys WHERE key_hash = $1 AND revoked_at IS NULL), "
    "b AS (UPDATE system_state SET bootstrapped_at = now() "
    "  WHERE bootstrapped_at IS NULL AND EXISTS (SELECT 1 FROM k) RETURNING 1) "
    "SELECT id FROM k",
    1, 0};

/* Admin keys that checked out, per loop (its loop_ctx). An entry holds
 * while the credentials generation it was checked at is current: every
 * UPDATE, DELETE or TRUNCATE of admin_keys moves it (migration 0017). Few
 * keys exist, so a handful of slots, replaced in turn. */
#define KEY_SLOTS 4

struct admin_key_cache {
    struct {
        char hash[65];
        uint64_t gen;
    } slot[KEY_SLOTS];
    unsigned next;
};

bool store_admin_key_cached(const loop_ctx *lc, const char *key_hash)
{
    const struct admin_key_cache *kc = lc->admin_keys;
    uint64_t gen = store_clients_generation();
    size_t n = strlen(key_hash);
    for (int i = 0; kc != NULL && i < KEY_SLOTS; i++)
        if (kc->slot[i].gen == gen && kc->slot[i].hash[0] != '\0' &&
            hash_ct_eq(kc->slot[i].hash, strlen(kc->slot[i].hash), key_hash, n))
            return true;
    return false;
}

void store_admin_keys_free(loop_ctx *lc)
{
    free(lc->admin_keys);
    lc->admin_keys = NULL;
}

struct key_call {
    loop_ctx *lc;
    store_cb cb;
    void *ud;
    uint64_t gen; /* before the query: a change racing it leaves the entry stale */
    char hash[65];
};

static void on_key_check(void *ud, PGresult *res, int err, const char *msg)
{
    struct key_call *k = ud;
    if (err == STORE_OK && PQntuples(res) == 1 && k->lc->admin_keys == NULL)
        k->lc->admin_keys = calloc(1, sizeof(*k->lc->admin_keys));
    struct admin_key_cache *kc = err == STORE_OK && PQntuples(res) == 1 ? k->lc->admin_keys : NULL;
    if (kc != NULL) {
        unsigned i = kc->next++ % KEY_SLOTS;
        memcpy(kc->slot[i].hash, k->hash, sizeof(k->hash));
        kc->slot[i].gen = k->gen;
    }
    k->cb(k->ud, res, err, msg);
    free(k);
}

int store_admin_key_check(store_pool *p, loop_ctx *lc, const char *key_hash, store_cb cb,
                          void *ud)
{
    struct key_call *k = calloc(1, sizeof(*k));
    if (k == NULL || strlen(key_hash) >= sizeof(k->hash)) {
        free(k);
        return STORE_EUNAVAIL;
    }
    *k = (struct key_call){lc, cb, ud, store_clients_generation(), ""};
    memcpy(k->hash, key_hash, strlen(key_hash) + 1);
    const char *params[] = {key_hash};
    int rc = store_exec(p, &key_check, params, on_key_check, k);
    if (rc != 0)
        free(k);
    return rc;
}

static store_stmt bootstrapped = {
    "system_bootstrapped",
    "SELECT coalesce((SELECT bootstrapped_at IS NOT NULL FROM system_state), false) "
    "AS bootstrapped",
    0, 0};

int store_system_bootstrapped(store_pool *p, store_cb cb, void *ud)
{
    return store_exec(p, &bootstrapped, NULL, cb, ud);
}

static store_stmt schema_version = {
    "system_schema_version", "SELECT max(version) AS version FROM schema_migrations", 0, 0};

int store_system_schema_version(store_pool *p, store_cb cb, void *ud)
{
    return store_exec(p, &schema_version, NULL, cb, ud);
}
