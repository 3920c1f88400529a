#include "nodes.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "revoked.h"

#define BEAT_S 5

/* shark_heartbeat's `common`: the bits every live node announces. */
static atomic_int fleet_features;

bool store_nodes_all(int bits)
{
    return (atomic_load_explicit(&fleet_features, memory_order_relaxed) & bits) == bits;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct beat {
    char *conninfo;
    char id[300];
};

/* The database's clock is sampled between t0 and t1: the offset is known to
 * within half the round trip (plus the millisecond both are rounded to).
 * Each beat reports the offset the previous one measured. */
static void *beat_main(void *arg)
{
    struct beat *b = arg;
    PGconn *c = NULL;
    char off[24] = "", err[24] = "", feat[8];
    snprintf(feat, sizeof(feat), "%d", STORE_NODE_FEATURES);
    for (;; sleep(BEAT_S)) {
        if (c == NULL || PQstatus(c) != CONNECTION_OK) {
            PQfinish(c);
            c = PQconnectdb(b->conninfo);
            if (PQstatus(c) != CONNECTION_OK) {
                atomic_store_explicit(&fleet_features, 0, memory_order_relaxed);
                continue;
            }
        }
        const char *params[] = {b->id, feat, off[0] ? off : NULL, err[0] ? err : NULL};
        int64_t t0 = now_ms();
        PGresult *r = PQexecParams(c,
                                   "SELECT db_ms, skew_ms, common FROM shark_heartbeat($1, "
                                   "$2::int, $3::int, $4::int)",
                                   4, NULL, params, NULL, NULL, 0);
        int64_t t1 = now_ms();
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
            int64_t o = atoll(PQgetvalue(r, 0, 0)) - (t0 + t1) / 2, e = (t1 - t0) / 2 + 1;
            int64_t fleet = atoll(PQgetvalue(r, 0, 1)), mine = (o < 0 ? -o : o) + e;
            snprintf(off, sizeof(off), "%lld", (long long)o);
            snprintf(err, sizeof(err), "%lld", (long long)e);
            store_revoked_skew(fleet > mine ? fleet : mine);
            atomic_store_explicit(&fleet_features, atoi(PQgetvalue(r, 0, 2)), memory_order_relaxed);
        } else {
            atomic_store_explicit(&fleet_features, 0, memory_order_relaxed);
            PQfinish(c);
            c = NULL;
        }
        PQclear(r);
    }
    return NULL;
}

void store_nodes_start(const char *conninfo)
{
    struct beat *b = calloc(1, sizeof(*b));
    if (b == NULL || (b->conninfo = strdup(conninfo)) == NULL) {
        free(b);
        return;
    }
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    snprintf(b->id, sizeof(b->id), "%s/%ld/%lld", host, (long)getpid(), (long long)now_ms());
    pthread_attr_t at;
    pthread_t th;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &at, beat_main, b) != 0) {
        free(b->conninfo);
        free(b);
    }
    pthread_attr_destroy(&at);
}
