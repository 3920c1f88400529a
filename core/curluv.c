#include "curluv.h"

#include <stdlib.h>

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    curluv *c;
};

static void check_done(curluv *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL)
        if (m->msg == CURLMSG_DONE)
            c->done(c->ud, m->easy_handle, m->data.result);
}

static void on_socket_event(uv_poll_t *h, int status, int events)
{
    struct sock_ctx *s = h->data;
    curluv *c = s->c;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    /* May remove s (CURL_POLL_REMOVE): s is freed only by its close callback. */
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    check_done(c);
}

static void free_sock(uv_handle_t *h)
{
    free(h->data);
}

static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    curluv *c = userp;
    struct sock_ctx *s = socketp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            curl_multi_assign(c->multi, fd, NULL);
            uv_close((uv_handle_t *)&s->poll, free_sock);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL || uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->c = c;
        s->poll.data = s;
        curl_multi_assign(c->multi, fd, s);
    }
    int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
    return uv_poll_start(&s->poll, ev, on_socket_event) == 0 ? 0 : -1;
}

static void on_curl_timeout(uv_timer_t *t)
{
    curluv *c = t->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
    curluv *c = userp;
    (void)m;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

int curluv_init(curluv *c, uv_loop_t *loop, curluv_done_cb done, void *ud)
{
    c->loop = loop;
    c->done = done;
    c->ud = ud;
    if ((c->multi = curl_multi_init()) == NULL)
        return -1;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return 0;
}

void curluv_close(curluv *c)
{
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    uv_close((uv_handle_t *)&c->timer, NULL);
}
