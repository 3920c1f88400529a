#include "server.h"

#include <errno.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fatal.h"
#include "http.h"
#include "log.h"

#define TICK_MS 250

uint64_t server_now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static void on_connection(uv_stream_t *l, int status)
{
    worker *w = l->data;
    if (status < 0 || w->draining)
        return;
    http_accept(w, l);
}

static void on_loop_closed(worker *w)
{
    uv_close((uv_handle_t *)&w->wake, NULL);
    uv_close((uv_handle_t *)&w->tick, NULL);
}

static void on_tick(uv_timer_t *t)
{
    worker *w = t->data;
    if (w->app->loop_tick != NULL)
        w->app->loop_tick(w);
    if (!w->draining)
        return;
    if (http_close_idle(w) > 0 && server_now_ms() < w->drain_deadline_ms)
        return;
    /* Drained, or out of patience: close what is left, then the modules'
     * per-loop state; the loop ends when the last handle is closed. */
    uv_timer_stop(&w->tick);
    http_close_all(w);
    if (w->app->loop_close != NULL)
        w->app->loop_close(w, on_loop_closed);
    else
        on_loop_closed(w);
}

static void on_wake(uv_async_t *a)
{
    worker *w = a->data;
    if (w->draining)
        return;
    w->draining = 1;
    w->drain_deadline_ms = server_now_ms() + (uint64_t)w->app->cfg.shutdown_timeout_ms;
    uv_close((uv_handle_t *)&w->listener, NULL);
    on_tick(&w->tick);
}

static void worker_main(void *arg)
{
    worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    atomic_store(&w->ended, 1);
    uv_async_send(w->done);
}

/* A listening socket of our own so SO_REUSEPORT is set before bind: every
 * loop gets its own accept queue and the kernel spreads connections. */
static int listen_fd(const config *c, bool probe, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl;
    int fam;
    if (strchr(c->listen_host, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        uv_ip6_addr(c->listen_host, c->listen_port, s6);
        fam = AF_INET6;
        sl = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        uv_ip4_addr(c->listen_host, c->listen_port, s4);
        fam = AF_INET;
        sl = sizeof(*s4);
    }
    /* SO_REUSEPORT would let a second server share the port silently; a
     * plain bind first finds a listener that is already there. */
    if (probe) {
        int p = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int on = 1;
        setsockopt(p, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        int rc = p >= 0 ? bind(p, (struct sockaddr *)&ss, sl) : -1;
        int e = errno;
        if (p >= 0)
            close(p);
        if (rc != 0) {
            snprintf(err, errlen, "cannot listen on %s:%d: %s", c->listen_host, c->listen_port,
                     strerror(e));
            return -1;
        }
    }
    int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", c->listen_host, c->listen_port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int worker_init(worker *w, app *a, int index, char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    w->app = a;
    w->index = index;
    if (uv_loop_init(&w->loop) != 0) {
        snprintf(err, errlen, "cannot create event loop");
        return -1;
    }
    int fd = listen_fd(&a->cfg, index == 0, err, errlen);
    if (fd < 0)
        return -1;
    uv_tcp_init(&w->loop, &w->listener);
    w->listener.data = w;
    int rc = uv_tcp_open(&w->listener, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&w->listener, 1024, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", a->cfg.listen_host,
                 a->cfg.listen_port, uv_strerror(rc));
        return -1;
    }
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->wake.data = w;
    uv_timer_init(&w->loop, &w->tick);
    w->tick.data = w;
    uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
    if (a->loop_init != NULL && a->loop_init(w) != 0) {
        snprintf(err, errlen, "cannot set up the loop's state (database pool)");
        return -1;
    }
    return 0;
}

struct main_ctx {
    app *app;
    worker *workers;
    int n, finished, signals;
    uv_signal_t sigterm, sigint;
    uv_async_t done;
};

static void on_signal(uv_signal_t *s, int signum)
{
    struct main_ctx *m = s->data;
    if (++m->signals > 1) {
        log_msg(LOG_WARN, "second signal: exiting at once", NULL);
        _exit(1);
    }
    log_msg(LOG_INFO, "shutting down: finishing requests in flight", "signal",
            signum == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    for (int i = 0; i < m->n; i++)
        uv_async_send(&m->workers[i].wake);
    if (m->app->stop_background != NULL)
        m->app->stop_background(m->app);
}

/* Async sends coalesce: count the loops that really ended. */
static void on_worker_done(uv_async_t *a)
{
    struct main_ctx *m = a->data;
    m->finished = 0;
    for (int i = 0; i < m->n; i++)
        m->finished += atomic_load(&m->workers[i].ended);
    if (m->finished < m->n)
        return;
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->sigint, NULL);
    uv_close((uv_handle_t *)&m->done, NULL);
}

int server_run(app *a)
{
    char err[256];
    struct main_ctx m = {0};
    m.app = a;
    m.n = a->cfg.threads;
    m.workers = calloc((size_t)m.n, sizeof(worker));
    if (m.workers == NULL)
        shark_fatal("out of memory");
    for (int i = 0; i < m.n; i++) {
        if (worker_init(&m.workers[i], a, i, err, sizeof(err)) != 0) {
            log_msg(LOG_ERROR, err, NULL);
            fprintf(stderr, "shark: %s\n", err);
            return -1;
        }
    }
    if (a->start_background != NULL && a->start_background(a) != 0) {
        log_msg(LOG_ERROR, "cannot start the background service", NULL);
        fprintf(stderr, "shark: cannot start the background service\n");
        return -1;
    }
    uv_loop_t *main_loop = uv_default_loop();
    uv_signal_init(main_loop, &m.sigterm);
    uv_signal_init(main_loop, &m.sigint);
    uv_async_init(main_loop, &m.done, on_worker_done);
    m.sigterm.data = m.sigint.data = m.done.data = &m;
    uv_signal_start(&m.sigterm, on_signal, SIGTERM);
    uv_signal_start(&m.sigint, on_signal, SIGINT);
    for (int i = 0; i < m.n; i++)
        m.workers[i].done = &m.done;
    for (int i = 0; i < m.n; i++)
        uv_thread_create(&m.workers[i].thread, worker_main, &m.workers[i]);
    char port[16];
    snprintf(port, sizeof(port), "%d", a->cfg.listen_port);
    char threads[16];
    snprintf(threads, sizeof(threads), "%d", m.n);
    log_msg(LOG_INFO, "listening", "address", a->cfg.listen_host, "port", port, "threads",
            threads, "issuer", a->cfg.issuer, "tls", a->tls ? "on" : "off", NULL);
    uv_run(main_loop, UV_RUN_DEFAULT);
    for (int i = 0; i < m.n; i++) {
        uv_thread_join(&m.workers[i].thread);
        uv_loop_close(&m.workers[i].loop);
    }
    if (a->join_background != NULL)
        a->join_background(a);
    free(m.workers);
    uv_loop_close(main_loop);
    return 0;
}
