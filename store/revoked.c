/*
 * The process-wide revoked set (see revoked.h): one open-addressed table of
 * 16-byte slots, each a 96-bit digest of what it names (a jti, or a
 * watermark's "<kind>:<subject>") and 32 bits of time (a jti's expiry, a
 * watermark's revoked_before, unix seconds). A table is rebuilt half full
 * and grows at three quarters, so an entry costs 21 to 32 bytes (the slot
 * count need not be a power of two: a key's home slot is its multiplicative
 * range reduction).
 *
 * Readers take no lock: they count themselves in `nreaders`, load the
 * current table and probe it with atomic loads. Writers (notifications,
 * reloads) serialise on `wlock`. An entry is added in place (value stored
 * before key, so a reader that sees the key sees its value); growing or
 * reloading builds a new table aside and publishes it with one pointer
 * store. A replaced table is freed once `nreaders` has been seen at zero
 * after the swap: any reader still inside the old one was counted before it.
 *
 * Staleness is a pair of counters: `gaps` moves whenever notifications may
 * have been missed, and `fresh` holds the value `gaps` had when the last
 * successful reload started. The set answers only while they are equal. A
 * reload reads `gaps`, then takes its snapshot on its own connection; what
 * commits after the snapshot arrives as notifications on the pool
 * connections (listening throughout, or `gaps` moved), and those that arrive
 * before the new table is published are kept in `pending` and replayed into
 * it. Expired jtis are left out whenever a table is rebuilt.
 */
#include "revoked.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIN_SLOTS 1024u
#define MARK_TAG 0x80000000u /* in the tag: the slot is a watermark */
#define FETCH_ROWS "10000"

typedef struct slot {
    _Atomic uint64_t key; /* 0: empty */
    _Atomic uint64_t val; /* tag << 32 | time */
} slot;

typedef struct table {
    size_t cap, used;
    struct table *next; /* on the retired list */
    slot s[];
} table;

typedef struct pend {
    uint64_t key, val;
} pend;

static _Atomic(table *) cur;
static _Atomic long nreaders;

static pthread_mutex_t wlock = PTHREAD_MUTEX_INITIALIZER;
static table *retired;    /* replaced, not yet freed */
static bool loading;      /* a reload runs */
static uint64_t load_gen; /* `gaps` when it started */
static pend *pending;     /* added while it runs */
static size_t npending, cappending;

static _Atomic uint64_t gaps;
static _Atomic uint64_t fresh = UINT64_MAX; /* never loaded yet */
static _Atomic int64_t retry_at;            /* after a failed reload */
static char *conninfo;
static uint64_t seed;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

/* ---- digests ---- */

static void seed_init(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)ts.tv_sec ^
           (uint64_t)getpid() << 32;
}

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

typedef struct digest {
    uint64_t a, b;
} digest;

static void feed(digest *d, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        d->a = (d->a ^ (unsigned char)s[i]) * 1099511628211u; /* FNV-1a */
        d->b = ((d->b ^ (unsigned char)s[i]) << 7 | (d->b >> 57)) * 0x9e3779b97f4a7c15u;
    }
}

/* The key and tag naming the concatenation of the parts. Collisions only
 * ever add a revocation, so a keyed non-cryptographic hash suffices; the
 * seed keeps anyone from aiming at one. */
static void name(const char *const *parts, const size_t *lens, int n, bool mark, uint64_t *key,
                 uint32_t *tag)
{
    pthread_once(&seed_once, seed_init);
    digest d = {0xcbf29ce484222325u ^ seed, mix(seed)};
    for (int i = 0; i < n; i++)
        feed(&d, parts[i], lens[i]);
    *key = mix(d.a);
    if (*key == 0)
        *key = 1;
    *tag = ((uint32_t)mix(d.b ^ d.a) & ~MARK_TAG) | (mark ? MARK_TAG : 0);
}

/* ---- the table ---- */

static table *table_new(size_t cap)
{
    table *t = calloc(1, sizeof(*t) + cap * sizeof(slot));
    if (t != NULL)
        t->cap = cap;
    return t;
}

static bool full(const table *t)
{
    return (t->used + 1) * 4 > t->cap * 3;
}

/* The slot holding key/tag, or the empty slot where it would go. */
static slot *probe(table *t, uint64_t key, uint32_t tag)
{
    for (size_t i = (size_t)(((unsigned __int128)key * t->cap) >> 64);;
         i = i + 1 == t->cap ? 0 : i + 1) {
        uint64_t k = atomic_load_explicit(&t->s[i].key, memory_order_acquire);
        if (k == 0 ||
            (k == key &&
             (uint32_t)(atomic_load_explicit(&t->s[i].val, memory_order_acquire) >> 32) == tag))
            return &t->s[i];
    }
}

/* Adds or, for a watermark, moves it forward. Room must be there. */
static void put(table *t, uint64_t key, uint64_t val)
{
    slot *s = probe(t, key, (uint32_t)(val >> 32));
    if (atomic_load_explicit(&s->key, memory_order_relaxed) == 0) {
        atomic_store_explicit(&s->val, val, memory_order_relaxed);
        atomic_store_explicit(&s->key, key, memory_order_release);
        t->used++;
    } else if ((val >> 32) & MARK_TAG &&
               (uint32_t)val > (uint32_t)atomic_load_explicit(&s->val, memory_order_relaxed)) {
        atomic_store_explicit(&s->val, val, memory_order_release);
    }
}

static bool live(uint64_t val, uint32_t now)
{
    return ((val >> 32) & MARK_TAG) || (uint32_t)val > now;
}

/* A table holding the live entries of src (may be NULL), half full. */
static table *table_rebuilt(table *src)
{
    uint32_t now = (uint32_t)time(NULL);
    size_t n = 0, cap = MIN_SLOTS;
    for (size_t i = 0; src != NULL && i < src->cap; i++)
        n += src->s[i].key != 0 && live(src->s[i].val, now);
    if (cap < (n + 1) * 2)
        cap = (n + 1) * 2;
    table *t = table_new(cap);
    for (size_t i = 0; t != NULL && src != NULL && i < src->cap; i++) {
        uint64_t k = atomic_load_explicit(&src->s[i].key, memory_order_relaxed);
        uint64_t v = atomic_load_explicit(&src->s[i].val, memory_order_relaxed);
        if (k != 0 && live(v, now))
            put(t, k, v);
    }
    return t;
}

/* Private to its builder: grows without regard for readers. */
static int private_add(table **t, uint64_t key, uint64_t val)
{
    if (full(*t)) {
        table *n = table_rebuilt(*t);
        if (n == NULL)
            return -1;
        free(*t);
        *t = n;
    }
    put(*t, key, val);
    return 0;
}

static int private_add_v(void *t, uint64_t key, uint64_t val)
{
    return private_add(t, key, val);
}

static void reap_locked(void)
{
    if (retired == NULL || atomic_load(&nreaders) != 0)
        return;
    while (retired != NULL) {
        table *n = retired->next;
        free(retired);
        retired = n;
    }
}

static void publish_locked(table *t)
{
    table *old = atomic_exchange(&cur, t);
    if (old != NULL) {
        old->next = retired;
        retired = old;
    }
    reap_locked();
}

static int add_locked(uint64_t key, uint64_t val)
{
    table *t = atomic_load(&cur);
    if (t == NULL || full(t)) {
        table *n = table_rebuilt(t);
        if (n == NULL)
            return -1;
        publish_locked(n);
        t = n;
    }
    put(t, key, val);
    if (loading) {
        if (npending == cappending) {
            size_t nc = cappending ? cappending * 2 : 256;
            pend *np = realloc(pending, nc * sizeof(*np));
            if (np == NULL)
                return -1;
            pending = np;
            cappending = nc;
        }
        pending[npending++] = (pend){key, val};
    }
    return 0;
}

static uint64_t jti_entry(const char *jti, size_t len, int64_t exp, uint64_t *key)
{
    uint32_t tag;
    name(&jti, &len, 1, false, key, &tag);
    return (uint64_t)tag << 32 | (uint32_t)exp;
}

/* kind is one letter: c (client), u (user), g (grant: "<user> <client>");
 * for a key mark of client X, k ("X": its time), b ("X": its bound_before)
 * and j ("X <keep_jkt>": the time of the mark that keeps that key). */
static uint64_t mark_entry(char kind, const char *subject, size_t len, int64_t t, uint64_t *key)
{
    char k[2] = {kind, ':'};
    const char *parts[] = {k, subject};
    size_t lens[] = {2, len};
    uint32_t tag;
    name(parts, lens, 2, true, key, &tag);
    return (uint64_t)tag << 32 | (uint32_t)t;
}

/* The entry of subject "<a> <b>" (the digest runs over the concatenation). */
static uint64_t mark_entry2(char kind, const char *a, size_t alen, const char *b, size_t blen,
                            int64_t t, uint64_t *key)
{
    char k[2] = {kind, ':'};
    const char *parts[] = {k, a, " ", b};
    size_t lens[] = {2, alen, 1, blen};
    uint32_t tag;
    name(parts, lens, 4, true, key, &tag);
    return (uint64_t)tag << 32 | (uint32_t)t;
}

/* ---- notifications ---- */

void store_revoked_gap(void)
{
    atomic_fetch_add_explicit(&gaps, 1, memory_order_acq_rel);
}

/* Adds a key mark's entries through add (the live table's or a private
 * one's): the kept key first and the mark's own time last, so a reader that
 * sees the new time also sees which key it keeps. */
static int key_mark_add(int (*add)(void *, uint64_t, uint64_t), void *to, const char *client,
                        size_t clen, const char *keep, size_t klen, int64_t t, int64_t bound)
{
    uint64_t key, val = mark_entry2('j', client, clen, keep, klen, t, &key);
    if (add(to, key, val) != 0)
        return -1;
    if (bound > 0) {
        val = mark_entry('b', client, clen, bound, &key);
        if (add(to, key, val) != 0)
            return -1;
    }
    val = mark_entry('k', client, clen, t, &key);
    return add(to, key, val);
}

static int live_add(void *to, uint64_t key, uint64_t val)
{
    (void)to;
    return add_locked(key, val);
}

/* "<revoked_before> <bound_before> <keep_jkt> <client_id>", up to end. */
static int key_mark_line(const char *p, const char *end)
{
    char *e;
    int64_t t = strtoll(p, &e, 10);
    if (*e != ' ')
        return -1;
    int64_t bound = strtoll(e + 1, &e, 10);
    if (*e != ' ' || e >= end)
        return -1;
    const char *keep = e + 1, *sp = memchr(keep, ' ', (size_t)(end - keep));
    if (sp == NULL || sp + 1 >= end)
        return -1;
    return key_mark_add(live_add, NULL, sp + 1, (size_t)(end - sp - 1), keep, (size_t)(sp - keep),
                        t, bound);
}

/* "<jti> <exp>" and "=<kind> <revoked_before> <subject>" lines, or
 * "reload". What cannot be stored must not be answered for: the set turns
 * stale instead. */
void store_revoked_notified(const char *payload)
{
    if (strcmp(payload, "reload") == 0) {
        store_revoked_gap();
        return;
    }
    int rc = 0;
    pthread_mutex_lock(&wlock);
    for (const char *p = payload; *p != '\0' && rc == 0;) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        const char *sp = memchr(p, ' ', n);
        uint64_t key, val;
        char *end;
        if (p[0] == '=' && p[1] == 'k' && n > 3 && sp == p + 2) {
            rc = key_mark_line(sp + 1, p + n) == 0 ? 0 : -1;
        } else if (p[0] == '=' && n > 3 && sp == p + 2) {
            int64_t t = strtoll(sp + 1, &end, 10);
            if (*end != ' ' || end >= p + n)
                break;
            val = mark_entry(p[1], end + 1, (size_t)(p + n - end - 1), t, &key);
            rc = add_locked(key, val);
        } else if (sp != NULL) {
            val = jti_entry(p, (size_t)(sp - p), strtoll(sp + 1, NULL, 10), &key);
            rc = add_locked(key, val);
        }
        p += n + (eol != NULL);
    }
    reap_locked();
    pthread_mutex_unlock(&wlock);
    if (rc != 0)
        store_revoked_gap();
}

/* ---- reloads ---- */

static int exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    PQclear(r);
    return rc;
}

/* Reads the whole set in one snapshot into a table of its own. */
static table *load_all(PGconn *c)
{
    table *t = table_new(MIN_SLOTS);
    if (t == NULL || exec_ok(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") != 0)
        goto fail;
    PGresult *r = PQexec(c, "SELECT left(kind, 1), "
                            "floor(extract(epoch FROM revoked_before))::bigint, subject_id, "
                            "coalesce(keep_jkt, ''), "
                            "coalesce(floor(extract(epoch FROM bound_before))::bigint, 0) "
                            "FROM revocation_watermarks");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    for (int i = 0; ok && i < PQntuples(r); i++) {
        char kind = PQgetvalue(r, i, 0)[0];
        int64_t at = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        if (kind == 'k') {
            ok = key_mark_add(private_add_v, &t, PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2),
                              PQgetvalue(r, i, 3), (size_t)PQgetlength(r, i, 3), at,
                              strtoll(PQgetvalue(r, i, 4), NULL, 10)) == 0;
            continue;
        }
        uint64_t key,
            val = mark_entry(kind, PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2), at, &key);
        ok = private_add(&t, key, val) == 0;
    }
    PQclear(r);
    /* index oauth_tokens_revoked; fetched in batches so a large set never
     * sits in memory twice */
    if (!ok || exec_ok(c, "DECLARE revoked CURSOR FOR SELECT jti, "
                          "extract(epoch FROM expires_at)::bigint FROM oauth_tokens "
                          "WHERE revoked_at IS NOT NULL AND expires_at > now()") != 0)
        goto fail;
    for (;;) {
        r = PQexec(c, "FETCH " FETCH_ROWS " FROM revoked");
        int n = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : -1;
        for (int i = 0; i < n; i++) {
            uint64_t key, val = jti_entry(PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0),
                                          strtoll(PQgetvalue(r, i, 1), NULL, 10), &key);
            if (private_add(&t, key, val) != 0)
                n = -1;
        }
        PQclear(r);
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
    }
    if (exec_ok(c, "COMMIT") != 0)
        goto fail;
    return t;
fail:
    free(t);
    return NULL;
}

static void *reload_main(void *arg)
{
    (void)arg;
    PGconn *c = PQconnectdb(conninfo);
    table *t = PQstatus(c) == CONNECTION_OK ? load_all(c) : NULL;
    PQfinish(c);
    pthread_mutex_lock(&wlock);
    for (size_t i = 0; t != NULL && i < npending; i++)
        if (private_add(&t, pending[i].key, pending[i].val) != 0) {
            free(t);
            t = NULL;
        }
    npending = 0;
    if (t != NULL) {
        publish_locked(t);
        atomic_store(&fresh, load_gen);
    } else {
        atomic_store(&retry_at, (int64_t)time(NULL) + 1);
    }
    loading = false;
    pthread_mutex_unlock(&wlock);
    /* Free the replaced table once no check is inside it. */
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&wlock);
        reap_locked();
        bool done = retired == NULL;
        pthread_mutex_unlock(&wlock);
        if (done)
            break;
        usleep(1000);
    }
    return NULL;
}

/* Starts a reload unless one runs, one failed within the second, or a
 * writer holds the lock (the next check tries again). */
static void reload(void)
{
    if (conninfo == NULL || (int64_t)time(NULL) < atomic_load(&retry_at) ||
        pthread_mutex_trylock(&wlock) != 0)
        return;
    if (!loading) {
        pthread_attr_t at;
        pthread_t th;
        loading = true;
        load_gen = atomic_load(&gaps);
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &at, reload_main, NULL) != 0) {
            loading = false;
            npending = 0;
        }
        pthread_attr_destroy(&at);
    }
    pthread_mutex_unlock(&wlock);
}

void store_revoked_start(const char *ci)
{
    free(conninfo);
    conninfo = strdup(ci);
}

/* ---- checks ---- */

/* The watermark's time, or -1 when it has none. */
static int64_t mark_time(table *t, char kind, const char *a, const char *b)
{
    char k[2] = {kind, ':'};
    const char *parts[] = {k, a, " ", b};
    size_t lens[] = {2, strlen(a), 1, b ? strlen(b) : 0};
    uint64_t key;
    uint32_t tag;
    name(parts, lens, b ? 4 : 2, true, &key, &tag);
    slot *s = probe(t, key, tag);
    if (atomic_load_explicit(&s->key, memory_order_acquire) == 0)
        return -1;
    return (uint32_t)atomic_load_explicit(&s->val, memory_order_acquire);
}

static _Atomic int64_t skew_s = 1;

void store_revoked_skew(int64_t ms)
{
    int64_t s = (ms + 999) / 1000;
    atomic_store(&skew_s, s < 1 ? 1 : s);
}

int64_t store_revoked_skew_s(void)
{
    return atomic_load(&skew_s);
}

/* A watermark covers tokens issued up to revoked_before (the database's
 * clock, to the second in the table); iat is the issuer's clock, to the
 * second, off the database's by up to skew_s. Only outside that window can
 * the order be told here; inside it only the database can tell. */
static enum store_revoked by_mark(int64_t mark, int64_t iat, enum store_revoked so_far)
{
    int64_t s = atomic_load_explicit(&skew_s, memory_order_relaxed);
    if (so_far == STORE_REVOKED_YES || mark < 0 || iat > mark + s)
        return so_far;
    return iat + s < mark ? STORE_REVOKED_YES : STORE_REVOKED_UNKNOWN;
}

enum store_revoked store_revoked_check(const store_revoked_token *tk)
{
    if (atomic_load_explicit(&fresh, memory_order_acquire) !=
        atomic_load_explicit(&gaps, memory_order_acquire)) {
        reload();
        return STORE_REVOKED_UNKNOWN;
    }
    atomic_fetch_add(&nreaders, 1);
    table *t = atomic_load(&cur);
    enum store_revoked r = STORE_REVOKED_NO;
    if (t != NULL) {
        uint64_t key;
        size_t len = strlen(tk->jti);
        uint32_t tag = (uint32_t)(jti_entry(tk->jti, len, 0, &key) >> 32);
        if (atomic_load_explicit(&probe(t, key, tag)->key, memory_order_acquire) != 0)
            r = STORE_REVOKED_YES;
        r = by_mark(mark_time(t, 'c', tk->client_id, NULL), tk->iat, r);
        if (tk->user_id != NULL) {
            r = by_mark(mark_time(t, 'u', tk->user_id, NULL), tk->iat, r);
            r = by_mark(mark_time(t, 'g', tk->user_id, tk->client_id), tk->iat, r);
        }
        int64_t key_at;
        if (tk->jkt != NULL && (key_at = mark_time(t, 'k', tk->client_id, NULL)) >= 0) {
            r = by_mark(mark_time(t, 'b', tk->client_id, NULL), tk->iat, r);
            if (mark_time(t, 'j', tk->client_id, tk->jkt) != key_at)
                r = by_mark(key_at, tk->iat, r);
        }
    }
    atomic_fetch_sub(&nreaders, 1);
    return r;
}

/* Under the writers' lock: `used` is theirs. */
void store_revoked_stats(uint64_t *entries, uint64_t *bytes)
{
    pthread_mutex_lock(&wlock);
    table *t = atomic_load(&cur);
    *entries = t ? t->used : 0;
    *bytes = t ? sizeof(*t) + t->cap * sizeof(slot) : 0;
    pthread_mutex_unlock(&wlock);
}
