/*
 * The process-wide revoked-jti set (see revoked.h): an open-addressing hash
 * table under a read-write lock, read by every loop on every token check and
 * written by whichever pool connection parses a notification first (every
 * connection receives each one, so adding is idempotent). Entries are never
 * removed one by one: a token past its expiry fails its signature check
 * anyway, so expired entries are simply left out when the table is rebuilt
 * to grow.
 *
 * Staleness is a pair of counters: `gaps` moves whenever notifications may
 * have been missed, and `fresh` holds the value `gaps` had when the last
 * successful reload started. The set answers only while they are equal. A
 * reload's snapshot is taken after it read `gaps`, on a connection that was
 * already listening, so whatever committed after the snapshot arrives as a
 * notification.
 */
#include "revoked.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIN_SLOTS 1024 /* a power of two */

typedef struct entry {
    char *jti; /* NULL: empty slot */
    int64_t exp;
} entry;

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static entry *slots; /* cap entries, at most half of them used */
static size_t cap, used;

static _Atomic uint64_t gaps;
static _Atomic uint64_t fresh = UINT64_MAX; /* never loaded yet */
static atomic_bool loading;
static uint64_t load_gen; /* written by whoever set `loading` */

static store_stmt load = {
    "revoked_load",
    "SELECT jti, extract(epoch FROM expires_at)::bigint FROM oauth_tokens "
    "WHERE revoked_at IS NOT NULL AND expires_at > now()", /* index oauth_tokens_revoked */
    0, 0};

static size_t hash(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return (size_t)h;
}

static entry *find_locked(entry *tab, size_t n, const char *jti, size_t len)
{
    size_t i = hash(jti, len) & (n - 1);
    while (tab[i].jti != NULL &&
           (strncmp(tab[i].jti, jti, len) != 0 || tab[i].jti[len] != '\0'))
        i = (i + 1) & (n - 1);
    return &tab[i];
}

/* Rebuilds the table with a quarter of it used by the live entries, dropping
 * the expired ones. */
static int rebuild_locked(void)
{
    int64_t now = (int64_t)time(NULL);
    size_t live = 0, ncap = MIN_SLOTS;
    for (size_t i = 0; i < cap; i++)
        live += slots[i].jti != NULL && slots[i].exp > now;
    while (ncap < (live + 1) * 4)
        ncap *= 2;
    entry *tab = calloc(ncap, sizeof(*tab));
    if (tab == NULL)
        return -1;
    for (size_t i = 0; i < cap; i++) {
        if (slots[i].jti == NULL)
            continue;
        if (slots[i].exp > now)
            *find_locked(tab, ncap, slots[i].jti, strlen(slots[i].jti)) = slots[i];
        else
            free(slots[i].jti);
    }
    free(slots);
    slots = tab;
    cap = ncap;
    used = live;
    return 0;
}

static int add_locked(const char *jti, size_t len, int64_t exp)
{
    if ((used + 1) * 2 > cap && rebuild_locked() != 0)
        return -1;
    entry *e = find_locked(slots, cap, jti, len);
    if (e->jti != NULL)
        return 0;
    if ((e->jti = strndup(jti, len)) == NULL)
        return -1;
    e->exp = exp;
    used++;
    return 0;
}

void store_revoked_gap(void)
{
    atomic_fetch_add_explicit(&gaps, 1, memory_order_acq_rel);
}

/* "<jti> <exp>\n" lines, or "reload". A jti that cannot be stored must not
 * be answered for: the set turns stale instead. */
void store_revoked_notified(const char *payload)
{
    if (strcmp(payload, "reload") == 0) {
        store_revoked_gap();
        return;
    }
    int rc = 0;
    pthread_rwlock_wrlock(&lock);
    for (const char *p = payload; *p != '\0' && rc == 0;) {
        const char *sp = strchr(p, ' ');
        if (sp == NULL)
            break;
        char *end;
        int64_t exp = strtoll(sp + 1, &end, 10);
        rc = add_locked(p, (size_t)(sp - p), exp);
        p = *end == '\n' ? end + 1 : end;
    }
    pthread_rwlock_unlock(&lock);
    if (rc != 0)
        store_revoked_gap();
}

static void on_loaded(void *ud, PGresult *res, int err, const char *msg)
{
    (void)ud;
    (void)msg;
    int rc = err == STORE_OK ? 0 : -1;
    if (rc == 0) {
        pthread_rwlock_wrlock(&lock);
        for (int i = 0, n = PQntuples(res); i < n && rc == 0; i++)
            rc = add_locked(PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0),
                            strtoll(PQgetvalue(res, i, 1), NULL, 10));
        pthread_rwlock_unlock(&lock);
    }
    if (rc == 0)
        atomic_store_explicit(&fresh, load_gen, memory_order_release);
    atomic_store_explicit(&loading, false, memory_order_release);
}

/* Starts a reload unless one is running somewhere in the process. */
static void reload(store_pool *p)
{
    bool idle = false;
    if (!atomic_compare_exchange_strong(&loading, &idle, true))
        return;
    load_gen = atomic_load_explicit(&gaps, memory_order_acquire);
    if (store_exec(p, &load, NULL, on_loaded, NULL) != 0)
        atomic_store_explicit(&loading, false, memory_order_release);
}

enum store_revoked store_revoked_check(store_pool *p, const char *jti)
{
    if (atomic_load_explicit(&fresh, memory_order_acquire) !=
        atomic_load_explicit(&gaps, memory_order_acquire)) {
        reload(p);
        return STORE_REVOKED_UNKNOWN;
    }
    pthread_rwlock_rdlock(&lock);
    bool revoked = cap > 0 && find_locked(slots, cap, jti, strlen(jti))->jti != NULL;
    pthread_rwlock_unlock(&lock);
    return revoked ? STORE_REVOKED_YES : STORE_REVOKED_NO;
}
