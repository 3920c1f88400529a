#include "ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fatal.h"

#define SHARDS 64
#define SLOTS 1024 /* per shard; open addressing with a short probe */
#define PROBE 8

struct bucket {
    uint8_t addr[16];
    double tokens;
    uint64_t last_ms; /* 0 = free slot */
};

struct shard {
    pthread_mutex_t mu;
    struct bucket slots[SLOTS];
};

struct ratelimit {
    double rps, burst;
    struct shard shards[SHARDS];
};

ratelimit *rl_new(double rps, double burst)
{
    ratelimit *rl = calloc(1, sizeof(*rl));
    if (rl == NULL)
        shark_fatal("out of memory");
    rl->rps = rps;
    rl->burst = burst < 1 ? 1 : burst;
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&rl->shards[i].mu, NULL);
    return rl;
}

void rl_free(ratelimit *rl)
{
    if (rl == NULL)
        return;
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_destroy(&rl->shards[i].mu);
    free(rl);
}

static uint64_t addr_hash(const uint8_t a[16])
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (int i = 0; i < 16; i++) {
        h ^= a[i];
        h *= 1099511628211ull;
    }
    return h;
}

void rl_key(const uint8_t addr[16], uint8_t key[16])
{
    static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memcpy(key, addr, 16);
    /* An IPv6 site gets a /64 and can pick any address inside it, so one
     * bucket per /64; IPv4 (as ::ffff:a.b.c.d) stays one per address. */
    if (memcmp(addr, v4_prefix, sizeof(v4_prefix)) != 0)
        memset(key + 8, 0, 8);
}

bool rl_take(ratelimit *rl, const uint8_t addr_in[16], uint64_t now_ms, int *retry_after_s)
{
    if (rl->rps <= 0)
        return true;
    uint8_t addr[16];
    rl_key(addr_in, addr);
    if (now_ms == 0)
        now_ms = 1; /* 0 marks a free slot */
    uint64_t h = addr_hash(addr);
    struct shard *sh = &rl->shards[h % SHARDS];
    size_t base = (size_t)(h / SHARDS) % SLOTS;
    bool ok;
    pthread_mutex_lock(&sh->mu);
    struct bucket *b = NULL, *victim = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        struct bucket *s = &sh->slots[(base + i) % SLOTS];
        if (s->last_ms != 0 && memcmp(s->addr, addr, 16) == 0) {
            b = s;
            break;
        }
        if (victim == NULL || s->last_ms < victim->last_ms)
            victim = s;
    }
    if (b == NULL) {
        /* The least recently used slot in the probe window is recycled; a
         * recycled client simply starts with a full bucket. */
        b = victim;
        memcpy(b->addr, addr, 16);
        b->tokens = rl->burst;
        b->last_ms = now_ms;
    }
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rl->rps / 1000.0;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
        b->last_ms = now_ms;
    }
    ok = b->tokens >= 1.0;
    if (ok) {
        b->tokens -= 1.0;
    } else if (retry_after_s != NULL) {
        double wait = (1.0 - b->tokens) / rl->rps;
        *retry_after_s = (int)ceil(wait) < 1 ? 1 : (int)ceil(wait);
    }
    pthread_mutex_unlock(&sh->mu);
    return ok;
}
