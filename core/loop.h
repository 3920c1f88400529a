/*
 * loop: the per-loop state of the modules above core, one per request loop,
 * embedded in its worker (core/server.h) and reached from a request with
 * http_req_loop_ctx. Only that loop's thread touches it, so nothing in it
 * is locked, and no cache lives in a thread-local or a pthread key.
 *
 * Each slot is owned by the module named next to it: created lazily on
 * first use, freed by that module's loop_free after the loop has ended
 * (app/ calls them). core/ only knows the slots' names.
 */
#ifndef SHARK_CORE_LOOP_H
#define SHARK_CORE_LOOP_H

struct client_cache;
struct token_cache;
struct dpop_key_cache;
struct admin_key_cache;

typedef struct loop_ctx {
    struct client_cache *clients;       /* protocol/client.c: client records */
    struct token_cache *tokens;         /* protocol/access.c: verified access tokens */
    struct dpop_key_cache *dpop_keys;   /* protocol/dpopkeys.c: imported proof keys */
    struct admin_key_cache *admin_keys; /* store/system.c: admin keys that checked out */
} loop_ctx;

#endif
