/* cli/http: blocking calls to the admin API with libcurl's easy interface.
 *
 * A connection resolves the server URL (--url, SHARK_URL, http://127.0.0.1:8080)
 * and the admin key (--admin-key-file, --admin-key with a warning that it shows
 * in ps, SHARK_ADMIN_KEY, <data-dir>/admin.key.firstboot) once. The key goes
 * only into the Authorization header and is wiped on close. */
#ifndef SHARK_CLI_HTTP_H
#define SHARK_CLI_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "args.h"

typedef struct cli_conn cli_conn;

/* A successful (2xx) response: the raw body and its parsed JSON. */
typedef struct cli_resp {
    long status;
    char *body;
    size_t len;
    json_t *json;
} cli_resp;

/* One query parameter; entries with a NULL value are left out. */
typedef struct cli_param {
    const char *key, *value;
} cli_param;

enum {
    CLI_EHTTP = -1, /* the server answered with an error; its message was printed */
    CLI_ECONN = -2, /* no usable answer (connect, timeout, not JSON); reason printed */
};

/* NULL with a message in err when no admin key can be found (a usage error). */
cli_conn *cli_conn_open(const cli_args *a, char *err, size_t errlen);
void cli_conn_close(cli_conn *c);

/* A path from fmt where every %s is replaced by its argument percent-encoded
 * as one segment. Caller frees. */
char *cli_pathf(const char *fmt, ...);

/* GET path?params. 0 with *r filled on 2xx, else CLI_EHTTP / CLI_ECONN after
 * printing the reason to stderr. */
int cli_get(cli_conn *c, const char *path, const cli_param *params, size_t nparams, cli_resp *r);

/* POST path with a JSON body (NULL sends {}); same contract as cli_get. */
int cli_post(cli_conn *c, const char *path, const json_t *body, cli_resp *r);

void cli_resp_free(cli_resp *r);

/* Writes the body exactly as the server sent it, newline-terminated (--json). */
void cli_resp_print_raw(const cli_resp *r);

#endif
