/* A LISTEN connection on the owner's loop (see listen.h). */
#include "listen.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store_listener {
    uv_loop_t *loop;
    char *conninfo;
    char sql[80];
    void (*cb)(void *ud);
    void *ud;
    PGconn *pg;
    uv_poll_t *poll;
    bool connecting; /* a connect is on the thread pool */
    bool freed;      /* the owner let go while connecting */
};

struct connect_work {
    uv_work_t work;
    store_listener *l;
    PGconn *pg;
};

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void disconnect(store_listener *l)
{
    if (l->poll != NULL)
        uv_close((uv_handle_t *)l->poll, free_handle);
    l->poll = NULL;
    PQfinish(l->pg);
    l->pg = NULL;
}

static void destroy(store_listener *l)
{
    disconnect(l);
    free(l->conninfo);
    free(l);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    store_listener *l = h->data;
    if (status < 0 || !PQconsumeInput(l->pg)) {
        disconnect(l); /* the owner's next check reconnects */
        return;
    }
    bool woken = false;
    PGnotify *n;
    while ((n = PQnotifies(l->pg)) != NULL) {
        PQfreemem(n);
        woken = true;
    }
    if (woken)
        l->cb(l->ud);
}

/* Thread pool: a blocking connect and LISTEN, bounded by connect_timeout. */
static void connect_run(uv_work_t *w)
{
    struct connect_work *cw = w->data;
    const char *keys[] = {"dbname", "connect_timeout", NULL};
    const char *vals[] = {cw->l->conninfo, "5", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    PGresult *r = PQstatus(pg) == CONNECTION_OK ? PQexec(pg, cw->l->sql) : NULL;
    if (PQresultStatus(r) != PGRES_COMMAND_OK || PQsetnonblocking(pg, 1) != 0) {
        PQfinish(pg);
        pg = NULL;
    }
    PQclear(r);
    cw->pg = pg;
}

static void connect_done(uv_work_t *w, int status)
{
    struct connect_work *cw = w->data;
    store_listener *l = cw->l;
    PGconn *pg = cw->pg;
    free(cw);
    l->connecting = false;
    if (l->freed || pg == NULL) {
        PQfinish(pg);
        if (l->freed)
            destroy(l);
        return;
    }
    l->pg = pg;
    l->poll = malloc(sizeof(*l->poll));
    if (l->poll == NULL || uv_poll_init_socket(l->loop, l->poll, PQsocket(pg)) != 0) {
        free(l->poll);
        l->poll = NULL;
        disconnect(l);
        return;
    }
    l->poll->data = l;
    uv_poll_start(l->poll, UV_READABLE, on_readable);
    l->cb(l->ud); /* catch up on what was notified while we were not listening */
}

store_listener *store_listen_new(uv_loop_t *loop, const char *conninfo, const char *channel,
                                 void (*cb)(void *ud), void *ud)
{
    if (channel[0] == '\0' || strspn(channel, "abcdefghijklmnopqrstuvwxyz_") != strlen(channel) ||
        strlen(channel) > 63)
        return NULL;
    store_listener *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->conninfo = strdup(conninfo)) == NULL) {
        free(l);
        return NULL;
    }
    snprintf(l->sql, sizeof(l->sql), "LISTEN %s", channel);
    l->loop = loop;
    l->cb = cb;
    l->ud = ud;
    return l;
}

void store_listen_check(store_listener *l)
{
    if (l->pg != NULL || l->connecting)
        return;
    struct connect_work *cw = calloc(1, sizeof(*cw));
    if (cw == NULL)
        return;
    cw->l = l;
    cw->work.data = cw;
    if (uv_queue_work(l->loop, &cw->work, connect_run, connect_done) != 0) {
        free(cw);
        return;
    }
    l->connecting = true;
}

void store_listen_free(store_listener *l)
{
    if (l == NULL)
        return;
    if (l->connecting) {
        disconnect(l);
        l->freed = true;
        return;
    }
    destroy(l);
}
