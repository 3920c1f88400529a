/*
 * curluv: libcurl's multi-socket API driven by a uv loop — a poll handle per
 * socket curl opens and one timer for curl's timeouts. Used by the outbound
 * threads (webhook delivery, core/fetch). Belongs to one loop's thread.
 */
#ifndef SHARK_CORE_CURLUV_H
#define SHARK_CORE_CURLUV_H

#include <curl/curl.h>
#include <uv.h>

/* Runs for every finished transfer (remove the easy handle in it if done). */
typedef void (*curluv_done_cb)(void *ud, CURL *easy, CURLcode result);

typedef struct curluv {
    CURLM *multi;
    uv_timer_t timer;
    uv_loop_t *loop;
    curluv_done_cb done;
    void *ud;
} curluv;

/* 0, or -1 when libcurl cannot set up a multi handle. */
int curluv_init(curluv *c, uv_loop_t *loop, curluv_done_cb done, void *ud);
/* Frees the multi handle (which closes curl's cached connections and their
 * poll handles) and closes the timer; the loop ends once those closes ran. */
void curluv_close(curluv *c);

#endif
