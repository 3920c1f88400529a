/* Protocol start-up (signing keys) and the per-loop upkeep timer (see
 * upkeep.h). */
#include "upkeep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../store/audit.h"
#include "../store/oauth.h"
#include "../store/rows_oauth.h"
#include "keys.h"

#define TICK_MS 1000
#define KEY_REFRESH_EVERY 10 /* ticks */
#define MAINTAIN_EVERY 3600  /* ticks: an hour */
#define PURGE_CHUNK 10000    /* replay keys per purge statement */
#define RETIRE_EVERY 10      /* ticks between retention purges */
#define RETIRE_CHUNK 1000    /* rows of each kind per retention statement */
#define SUMMARIZE_EVERY 2    /* ticks between jti index summaries (migration 0044) */

/* Stores a first key of purpose (another node may store its own first:
 * then that one is kept and this one dropped). */
static int add_key(app *a, const char *alg, const char *purpose, char *err, size_t errlen)
{
    char id[64];
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    char *pub = NULL;
    int rc = keyring_generate(a->master_key, alg, id, &sealed, &sealed_len, &pub);
    if (rc == 0)
        rc = store_key_insert(a->conninfo, id, alg, purpose, sealed, sealed_len, pub, err, errlen);
    else
        snprintf(err, errlen, "cannot generate a signing key");
    free(sealed);
    free(pub);
    return rc;
}

/* The keyring needs an active key (--signing-alg) and an RS256 key for
 * id_tokens: the active one if it is RS256, else one of purpose id_token. */
int oauth_startup(app *a, char *err, size_t errlen)
{
    store_key_row *rows = NULL;
    int n = 0;
    if (store_oauth_maintain_sync(a->conninfo, err, errlen) != 0)
        return -1;
    for (int pass = 0;; pass++) {
        if ((n = store_keys_load(a->conninfo, &rows, err, errlen)) < 0)
            return -1;
        const store_key_row *active = NULL;
        bool rs256 = false;
        for (int i = 0; i < n; i++) {
            if (rows[i].retired)
                continue;
            if (!rows[i].id_token_only && active == NULL)
                active = &rows[i];
            rs256 |= rows[i].id_token_only && strcmp(rows[i].alg, "RS256") == 0;
        }
        rs256 |= active != NULL && strcmp(active->alg, "RS256") == 0;
        const char *purpose = active == NULL ? "tokens" : !rs256 ? "id_token" : NULL;
        if (purpose == NULL || pass == 2)
            break;
        store_key_rows_free(rows, n);
        rows = NULL;
        if (add_key(a, active == NULL ? a->cfg.signing_alg : "RS256", purpose, err, errlen) != 0)
            return -1;
    }
    a->keys = keyring_new(a->master_key);
    int rc = keyring_load(a->keys, rows, n, err, errlen);
    store_key_rows_free(rows, n);
    if (rc == 0)
        log_msg(LOG_INFO, "signing key", "kid", keyring_current(a->keys)->active->kid, NULL);
    return rc;
}

/* ---- per-loop upkeep (loop 0 only) ---- */

struct upkeep {
    uv_timer_t timer;
    worker *w;
    int ticks;
    bool busy;        /* key refresh out */
    bool purging;     /* replay purge out */
    bool retiring;    /* retention purge out */
    bool auditing;    /* audit partition upkeep out */
    bool summarizing; /* jti index summary out */
};

static void on_keys(void *ud, PGresult *res, int err, const char *msg)
{
    struct upkeep *u = ud;
    (void)msg;
    u->busy = false;
    if (err != STORE_OK)
        return;
    store_key_row *rows = NULL;
    int n = store_key_rows_parse(res, &rows);
    if (n < 0)
        return;
    char e[256];
    /* Another node rotated: publish its keys here too. */
    if (!keyring_same(u->w->app->keys, rows, n) &&
        keyring_load(u->w->app->keys, rows, n, e, sizeof(e)) != 0)
        log_msg(LOG_WARN, "keyring refresh failed", "error", e, NULL);
    store_key_rows_free(rows, n);
}

static void on_maintained(void *ud, PGresult *res, int err, const char *msg)
{
    (void)ud;
    (void)res;
    if (err != STORE_OK)
        log_msg(LOG_WARN, "token table upkeep failed", "error", msg ? msg : "unavailable", NULL);
}

static void free_upkeep(uv_handle_t *h)
{
    free(h->data);
}

static void purge(struct upkeep *u);

/* A full chunk means more are due: the next goes out at once. */
static void on_purged(void *ud, PGresult *res, int err, const char *msg)
{
    struct upkeep *u = ud;
    u->purging = false;
    if (err != STORE_OK) {
        /* Unavailable: the pool reports the outage itself, not once a second. */
        if (err != STORE_EUNAVAIL)
            log_msg(LOG_WARN, "replay purge failed", "error", msg ? msg : "", NULL);
        return;
    }
    if (store_purged_count(res) >= PURGE_CHUNK && !u->w->draining)
        purge(u);
}

static void purge(struct upkeep *u)
{
    if (!u->purging && store_replay_purge(u->w->pool, PURGE_CHUNK, on_purged, u) == 0)
        u->purging = true;
}

static void retire(struct upkeep *u);

static void on_retired(void *ud, PGresult *res, int err, const char *msg)
{
    struct upkeep *u = ud;
    u->retiring = false;
    if (err != STORE_OK) {
        if (err != STORE_EUNAVAIL)
            log_msg(LOG_WARN, "retention purge failed", "error", msg ? msg : "", NULL);
        return;
    }
    if (store_purged_count(res) >= RETIRE_CHUNK && !u->w->draining)
        retire(u);
}

/* Expired codes, sessions and old deliveries, a bounded chunk at a time. */
static void retire(struct upkeep *u)
{
    if (!u->retiring &&
        store_retention_purge(u->w->pool, RETIRE_CHUNK, u->w->app->cfg.webhook_retention_days,
                              on_retired, u) == 0)
        u->retiring = true;
}

static void on_audit_maintained(void *ud, PGresult *res, int err, const char *msg)
{
    struct upkeep *u = ud;
    u->auditing = false;
    if (err != STORE_OK) {
        log_msg(LOG_WARN, "audit partition upkeep failed", "error", msg ? msg : "unavailable",
                NULL);
        return;
    }
    int64_t dropped = store_purged_count(res);
    char count[24];
    snprintf(count, sizeof(count), "%lld", (long long)dropped);
    if (dropped > 0)
        log_msg(LOG_INFO, "audit partitions past retention dropped", "count", count, NULL);
}

static void on_summarized(void *ud, PGresult *res, int err, const char *msg)
{
    struct upkeep *u = ud;
    (void)res;
    u->summarizing = false;
    if (err != STORE_OK && err != STORE_EUNAVAIL)
        log_msg(LOG_WARN, "audit jti index summary failed", "error", msg ? msg : "", NULL);
}

static void on_upkeep(uv_timer_t *t)
{
    struct upkeep *u = t->data;
    /* Stop with the loop; a query still out finishes against a closing pool
     * before the pool's own close completes, so u must outlive it. */
    if (u->w->draining) {
        if (!u->busy && !u->purging && !u->retiring && !u->auditing && !u->summarizing)
            uv_close((uv_handle_t *)t, free_upkeep);
        return;
    }
    int tick = u->ticks++;
    if (tick % MAINTAIN_EVERY == 0)
        store_oauth_maintain(u->w->pool, on_maintained, u);
    if (tick % MAINTAIN_EVERY == 0 && !u->auditing &&
        store_audit_maintain(u->w->pool, u->w->app->cfg.audit_retention_days, on_audit_maintained,
                             u) == 0)
        u->auditing = true;
    purge(u);
    /* Under heavy issuance a lookup by jti reads every range not yet
     * summarized: a few seconds' worth, not autovacuum's minute. */
    if (tick % SUMMARIZE_EVERY == 0 && !u->summarizing &&
        store_audit_summarize(u->w->pool, on_summarized, u) == 0)
        u->summarizing = true;
    if (tick % RETIRE_EVERY == 0)
        retire(u);
    if (tick % KEY_REFRESH_EVERY == 0 && !u->busy && store_keys_list(u->w->pool, on_keys, u) == 0)
        u->busy = true;
}

void oauth_loop_init(worker *w)
{
    if (w->index != 0)
        return;
    struct upkeep *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return;
    u->w = w;
    uv_timer_init(&w->loop, &u->timer);
    u->timer.data = u;
    uv_timer_start(&u->timer, on_upkeep, TICK_MS, TICK_MS);
}
