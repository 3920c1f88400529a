#include "connlimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "fatal.h"

struct slot {
    uint8_t key[16];
    int count; /* 0: empty */
};

/* Open addressing with linear probing. An address is in the table only while
 * it has a connection, so at most max_total slots are used of at least twice
 * as many: probes stay short and an empty slot always ends one. */
struct connlimit {
    pthread_mutex_t mu;
    int max_total, max_per_addr, total;
    size_t mask;   /* slots - 1 */
    uint64_t seed; /* so clients cannot pick addresses that collide */
    struct slot *slots;
};

connlimit *connlimit_new(int max_total, int max_per_addr)
{
    connlimit *cl = calloc(1, sizeof(*cl));
    if (cl == NULL)
        shark_fatal("out of memory");
    size_t n = 64;
    while (n < 2 * (size_t)max_total)
        n *= 2;
    cl->slots = calloc(n, sizeof(*cl->slots));
    if (cl->slots == NULL)
        shark_fatal("out of memory");
    cl->mask = n - 1;
    cl->max_total = max_total;
    cl->max_per_addr = max_per_addr;
    if (getrandom(&cl->seed, sizeof(cl->seed), 0) != sizeof(cl->seed))
        cl->seed = (uint64_t)(uintptr_t)cl; /* the hash stays sound, only guessable */
    pthread_mutex_init(&cl->mu, NULL);
    return cl;
}

void connlimit_free(connlimit *cl)
{
    if (cl == NULL)
        return;
    pthread_mutex_destroy(&cl->mu);
    free(cl->slots);
    free(cl);
}

static void key_of(const uint8_t addr[16], uint8_t key[16])
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memcpy(key, addr, 16);
    if (memcmp(addr, v4mapped, sizeof(v4mapped)) != 0)
        memset(key + 8, 0, 8);
}

static size_t home(const connlimit *cl, const uint8_t key[16])
{
    uint64_t h = 1469598103934665603ull ^ cl->seed; /* FNV-1a from a secret start */
    for (int i = 0; i < 16; i++) {
        h ^= key[i];
        h *= 1099511628211ull;
    }
    return (size_t)(h ^ (h >> 32)) & cl->mask;
}

/* Index of the slot holding key, or of the empty slot where it would go. */
static size_t find(const connlimit *cl, const uint8_t key[16])
{
    size_t i = home(cl, key);
    while (cl->slots[i].count != 0 && memcmp(cl->slots[i].key, key, 16) != 0)
        i = (i + 1) & cl->mask;
    return i;
}

/* Empties slot i and shifts later entries of its probe run back, so lookups
 * never need tombstones (Knuth's algorithm R for linear probing). */
static void remove_at(connlimit *cl, size_t i)
{
    size_t j = i;
    for (;;) {
        cl->slots[i].count = 0;
        for (;;) {
            j = (j + 1) & cl->mask;
            if (cl->slots[j].count == 0)
                return;
            size_t k = home(cl, cl->slots[j].key);
            /* The entry at j stays unless its home is cyclically outside (i, j]. */
            bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
            if (!stays)
                break;
        }
        cl->slots[i] = cl->slots[j];
        i = j;
    }
}

int connlimit_acquire(connlimit *cl, const uint8_t addr[16], bool check_addr)
{
    uint8_t key[16];
    key_of(addr, key);
    int rc = CONNLIMIT_TOTAL;
    pthread_mutex_lock(&cl->mu);
    if (cl->total < cl->max_total) {
        struct slot *s = &cl->slots[find(cl, key)];
        rc = CONNLIMIT_ADDR;
        if (!check_addr || s->count < cl->max_per_addr) {
            if (s->count == 0)
                memcpy(s->key, key, 16);
            s->count++;
            cl->total++;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&cl->mu);
    return rc;
}

void connlimit_release(connlimit *cl, const uint8_t addr[16])
{
    uint8_t key[16];
    key_of(addr, key);
    pthread_mutex_lock(&cl->mu);
    size_t i = find(cl, key);
    if (cl->slots[i].count == 0)
        shark_fatal("connection released that was not counted");
    cl->total--;
    if (--cl->slots[i].count == 0)
        remove_at(cl, i);
    pthread_mutex_unlock(&cl->mu);
}

int connlimit_total(connlimit *cl)
{
    pthread_mutex_lock(&cl->mu);
    int n = cl->total;
    pthread_mutex_unlock(&cl->mu);
    return n;
}

int connlimit_of(connlimit *cl, const uint8_t addr[16])
{
    uint8_t key[16];
    key_of(addr, key);
    pthread_mutex_lock(&cl->mu);
    int n = cl->slots[find(cl, key)].count;
    pthread_mutex_unlock(&cl->mu);
    return n;
}
