#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fatal.h"
#include "shark_config.h"

#define DEFAULT_URL "http://127.0.0.1:8080"
#define MAX_BODY (64u << 20)

struct cli_conn {
    CURL *curl;
    char base[2048];
    char auth[256]; /* "Authorization: Bearer sk_live_..." */
};

/* Growing receive buffer for the write callback. */
struct sink {
    char *data;
    size_t len, cap;
    bool too_big;
};

static const char *first_set(const char *a, const char *b, const char *dflt)
{
    if (a != NULL && *a != '\0')
        return a;
    if (b != NULL && *b != '\0')
        return b;
    return dflt;
}

/* A key only ever travels in a header, so reject anything that could split it. */
static bool key_ok(const char *k)
{
    if (*k == '\0' || strlen(k) > 200)
        return false;
    for (; *k; k++)
        if (*k <= ' ' || *k == 0x7f)
            return false;
    return true;
}

/* The first line of path into out; on failure err says why, with hint. */
static int read_key_file(const char *path, const char *hint, char *out, size_t outlen, char *err,
                         size_t errlen)
{
    char line[256];
    int rc = -1;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "no admin key: %s (%s not readable: %s)", hint, path,
                 strerror(errno));
        return -1;
    }
    if (fgets(line, sizeof(line), f) == NULL) {
        snprintf(err, errlen, "%s is empty", path);
        goto done;
    }
    line[strcspn(line, "\r\n")] = '\0';
    snprintf(out, outlen, "%s", line);
    rc = 0;
done:
    sodium_memzero(line, sizeof(line));
    fclose(f);
    return rc;
}

/* The key, from the first of: --admin-key-file, --admin-key (a warning: a
 * command line is readable by every user of the machine), SHARK_ADMIN_KEY,
 * <data-dir>/admin.key.firstboot. */
static int find_key(const cli_args *a, char *key, size_t len, char *err, size_t errlen)
{
    if (a->admin_key_file != NULL && a->admin_key != NULL) {
        snprintf(err, errlen, "give --admin-key-file or --admin-key, not both");
        return -1;
    }
    if (a->admin_key_file != NULL)
        return read_key_file(a->admin_key_file, "check --admin-key-file", key, len, err, errlen);
    if (a->admin_key != NULL) {
        fputs("shark: warning: --admin-key puts the key on the command line, where other users "
              "of this machine can read it (ps, /proc); use SHARK_ADMIN_KEY or "
              "--admin-key-file instead\n",
              stderr);
        snprintf(key, len, "%s", a->admin_key);
        return 0;
    }
    const char *env = getenv("SHARK_ADMIN_KEY");
    if (env != NULL && *env != '\0') {
        snprintf(key, len, "%s", env);
        return 0;
    }
    char path[2048];
    snprintf(path, sizeof(path), "%s/admin.key.firstboot",
             first_set(a->data_dir, getenv("SHARK_DATA_DIR"), "./data"));
    return read_key_file(path,
                         "set SHARK_ADMIN_KEY, pass --admin-key-file FILE, or point --data-dir "
                         "(SHARK_DATA_DIR) at the server's data directory",
                         key, len, err, errlen);
}

cli_conn *cli_conn_open(const cli_args *a, char *err, size_t errlen)
{
    char key[256] = "";
    cli_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        shark_fatal("out of memory");
    const char *url = first_set(a->url, getenv("SHARK_URL"), DEFAULT_URL);
    snprintf(c->base, sizeof(c->base), "%s", url);
    for (size_t n = strlen(c->base); n > 0 && c->base[n - 1] == '/'; n--)
        c->base[n - 1] = '\0';

    if (find_key(a, key, sizeof(key), err, errlen) != 0)
        goto fail;
    if (!key_ok(key)) {
        snprintf(err, errlen, "the admin key is empty or contains spaces or control characters");
        goto fail;
    }
    snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", key);
    sodium_memzero(key, sizeof(key));
    if ((c->curl = curl_easy_init()) == NULL)
        shark_fatal("curl_easy_init failed");
    return c;
fail:
    sodium_memzero(key, sizeof(key));
    cli_conn_close(c);
    return NULL;
}

void cli_conn_close(cli_conn *c)
{
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    sodium_memzero(c->auth, sizeof(c->auth));
    free(c);
}

static FILE *memstream(char **buf, size_t *len)
{
    FILE *f = open_memstream(buf, len);
    if (f == NULL)
        shark_fatal("out of memory");
    return f;
}

static void put_escaped(FILE *f, const char *s)
{
    char *e = curl_easy_escape(NULL, s, (int)strlen(s));
    if (e == NULL)
        shark_fatal("out of memory");
    fputs(e, f);
    curl_free(e);
}

char *cli_pathf(const char *fmt, ...)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = memstream(&buf, &len);
    va_list ap;
    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        if (p[0] == '%' && p[1] == 's') {
            put_escaped(f, va_arg(ap, const char *));
            p++;
        } else {
            fputc(*p, f);
        }
    }
    va_end(ap);
    fclose(f);
    return buf;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    if (s->len + n + 1 > MAX_BODY) {
        s->too_big = true;
        return 0;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *d = realloc(s->data, cap);
        if (d == NULL)
            shark_fatal("out of memory");
        s->data = d;
        s->cap = cap;
    }
    memcpy(s->data + s->len, ptr, n);
    s->len += n;
    s->data[s->len] = '\0';
    return n;
}

/* Prints the server's own words for a failed call: the admin envelope's
 * error.message, or an OAuth-style error_description. */
static void print_http_error(long status, const char *body, size_t len)
{
    json_t *j = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *e = json_object_get(j, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *rid = json_string_value(json_object_get(e, "request_id"));
    if (msg == NULL && json_is_string(e)) {
        code = json_string_value(e);
        msg = json_string_value(json_object_get(j, "error_description"));
    }
    if (msg != NULL)
        fprintf(stderr, "shark: %s (HTTP %ld%s%s%s%s)\n", msg, status, code ? ", " : "",
                code ? code : "", rid ? ", request_id " : "", rid ? rid : "");
    else
        fprintf(stderr, "shark: the server answered HTTP %ld without an error message\n", status);
    json_decref(j);
}

static void wipe_headers(struct curl_slist *h)
{
    for (struct curl_slist *n = h; n != NULL; n = n->next)
        sodium_memzero(n->data, strlen(n->data));
    curl_slist_free_all(h);
}

static struct curl_slist *add_header(struct curl_slist *h, const char *line)
{
    struct curl_slist *n = curl_slist_append(h, line);
    if (n == NULL)
        shark_fatal("out of memory");
    return n;
}

/* GET when payload is NULL, else POST of the JSON payload. */
static int perform(cli_conn *c, const char *url, const char *payload, cli_resp *r)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct sink s = {0};
    struct curl_slist *h = add_header(NULL, c->auth);
    h = add_header(h, "Accept: application/json");
    int rc = CLI_ECONN;
    memset(r, 0, sizeof(*r));

    CURL *cu = c->curl;
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(cu, CURLOPT_USERAGENT, "shark-cli/" SHARK_VERSION);
    curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &s);
    if (payload != NULL) {
        h = add_header(h, "Content-Type: application/json");
        curl_easy_setopt(cu, CURLOPT_POSTFIELDS, payload);
    }
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);

    CURLcode cc = curl_easy_perform(cu);
    if (cc != CURLE_OK) {
        if (s.too_big)
            fprintf(stderr, "shark: the response from %s is larger than %u MB\n", c->base,
                    MAX_BODY >> 20);
        else
            fprintf(stderr,
                    "shark: cannot reach the server at %s: %s\n"
                    "       (is `shark serve` running there? set --url or SHARK_URL)\n",
                    c->base, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto done;
    }
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->status < 200 || r->status > 299) {
        print_http_error(r->status, s.data, s.len);
        rc = CLI_EHTTP;
        goto done;
    }
    json_error_t je;
    r->json = s.data != NULL ? json_loadb(s.data, s.len, 0, &je) : NULL;
    if (r->json == NULL) {
        fprintf(stderr, "shark: %s answered HTTP %ld with a body that is not JSON\n", c->base,
                r->status);
        goto done;
    }
    r->body = s.data;
    r->len = s.len;
    s.data = NULL;
    rc = 0;
done:
    /* Drops the pointers to this frame; the connection stays open for the next call. */
    curl_easy_reset(cu);
    wipe_headers(h);
    free(s.data);
    return rc;
}

int cli_get(cli_conn *c, const char *path, const cli_param *params, size_t nparams, cli_resp *r)
{
    char *url = NULL;
    size_t len = 0;
    FILE *f = memstream(&url, &len);
    fprintf(f, "%s%s", c->base, path);
    char sep = '?';
    for (size_t i = 0; i < nparams; i++) {
        if (params[i].value == NULL)
            continue;
        fprintf(f, "%c%s=", sep, params[i].key);
        put_escaped(f, params[i].value);
        sep = '&';
    }
    fclose(f);
    int rc = perform(c, url, NULL, r);
    free(url);
    return rc;
}

int cli_post(cli_conn *c, const char *path, const json_t *body, cli_resp *r)
{
    char *url = NULL;
    if (asprintf(&url, "%s%s", c->base, path) < 0)
        shark_fatal("out of memory");
    char *payload = body != NULL ? json_dumps(body, JSON_COMPACT) : strdup("{}");
    if (payload == NULL)
        shark_fatal("out of memory");
    int rc = perform(c, url, payload, r);
    free(payload);
    free(url);
    return rc;
}

void cli_resp_free(cli_resp *r)
{
    json_decref(r->json);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

void cli_resp_print_raw(const cli_resp *r)
{
    fwrite(r->body, 1, r->len, stdout);
    if (r->len == 0 || r->body[r->len - 1] != '\n')
        putchar('\n');
}
