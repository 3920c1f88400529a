/* bench/loadgen: a small HTTP/1.1 load generator for bench/run.
 *
 * Keeps N keep-alive connections to 127.0.0.1:PORT, each with one request in
 * flight (closed loop), or paces requests at a fixed rate (--rate, latency
 * counted from the scheduled send time so a stalled server is not hidden).
 * Every request is pre-built bytes; with --dpop each request carries its own
 * ES256 DPoP proof with a unique jti, all signed before the timed window.
 * Any response whose status differs from --expect (or whose body lacks
 * --expect-body) is an error: the run exits 2 and says what it got.
 *
 *   loadgen run  --port P [options]      one workload; prints a RESULT line
 *   loadgen speed [SECONDS]              ES256 sign and verify rates (OpenSSL EVP)
 *
 * Build: cc -O2 -o loadgen loadgen.c -lcrypto -lpthread
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- utils */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        die("out of memory");
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL)
        die("out of memory");
    return p;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_until(uint64_t t)
{
    for (;;) {
        uint64_t n = now_us();
        if (n >= t)
            return;
        uint64_t d = t - n;
        struct timespec ts = {(time_t)(d / 1000000u), (long)(d % 1000000u) * 1000};
        nanosleep(&ts, NULL);
    }
}

static void b64url(const unsigned char *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = t[v >> 6 & 63];
        out[o++] = t[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = t[v >> 6 & 63];
    }
    out[o] = '\0';
}

static char *b64url_str(const char *s)
{
    size_t n = strlen(s);
    char *o = xmalloc(n * 4 / 3 + 4);
    b64url((const unsigned char *)s, n, o);
    return o;
}

/* ------------------------------------------------------------ /proc reads */

/* utime+stime (+ cutime+cstime when children) of one process, in seconds. */
static double proc_cpu(int pid, int children)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return 0;
    p += 2; /* field 3: state */
    unsigned long long v[16] = {0};
    int field = 3;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok && field <= 17;
         tok = strtok_r(NULL, " ", &save), field++)
        if (field >= 14)
            v[field - 14] = strtoull(tok, NULL, 10);
    double t = (double)(v[0] + v[1] + (children ? v[2] + v[3] : 0));
    return t / (double)sysconf(_SC_CLK_TCK);
}

static int proc_ppid(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    int ppid = -1;
    if (p == NULL || sscanf(p + 2, "%*c %d", &ppid) != 1)
        return -1;
    return ppid;
}

/* Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
static double system_busy(void)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[8] = {0};
    if (f == NULL)
        return 0;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5], &v[6], &v[7]) != 8)
        v[0] = v[1] = v[2] = v[5] = v[6] = v[7] = 0;
    fclose(f);
    /* user nice system [idle iowait] irq softirq steal */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

/* A "Key:   123 kB" line of /proc/PID/FILE, in kB (0 when absent). */
static long proc_kb(int pid, const char *file, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t kl = strlen(key);
    long v = 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* The database cluster: its postmaster plus every direct child (backends,
 * checkpointer, walwriter, ...). CPU includes reaped children via cutime. */
static double tree_cpu(int root)
{
    if (root <= 0)
        return 0;
    double t = proc_cpu(root, 1);
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        int pid = atoi(e->d_name);
        if (pid > 0 && proc_ppid(pid) == root)
            t += proc_cpu(pid, 0);
    }
    if (d)
        closedir(d);
    return t;
}

static long tree_pss_kb(int root)
{
    if (root <= 0)
        return 0;
    long t = proc_kb(root, "smaps_rollup", "Pss");
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        int pid = atoi(e->d_name);
        if (pid > 0 && proc_ppid(pid) == root)
            t += proc_kb(pid, "smaps_rollup", "Pss");
    }
    if (d)
        closedir(d);
    return t;
}

/* ------------------------------------------------------------- ES256 / DPoP */

static EVP_PKEY *es256_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (k == NULL)
        die("EC key generation failed");
    return k;
}

/* The public JWK members x and y, base64url. */
static void es256_xy(EVP_PKEY *k, char *x, char *y)
{
    BIGNUM *bx = NULL, *by = NULL;
    if (!EVP_PKEY_get_bn_param(k, "qx", &bx) || !EVP_PKEY_get_bn_param(k, "qy", &by))
        die("cannot read the EC public key");
    unsigned char bin[32];
    BN_bn2binpad(bx, bin, 32);
    b64url(bin, 32, x);
    BN_bn2binpad(by, bin, 32);
    b64url(bin, 32, y);
    BN_free(bx);
    BN_free(by);
}

/* JWS ES256 signature (raw R||S, base64url) over in. */
static void es256_sign(EVP_PKEY *k, const char *in, size_t n, char *out)
{
    unsigned char der[80];
    size_t dl = sizeof(der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
        EVP_DigestSign(md, der, &dl, (const unsigned char *)in, n) != 1)
        die("ES256 signing failed");
    EVP_MD_CTX_free(md);
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)dl);
    if (sig == NULL)
        die("bad DER signature");
    unsigned char raw[64];
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
    ECDSA_SIG_free(sig);
    b64url(raw, 64, out);
}

/* ------------------------------------------------------------ requests */

typedef struct {
    char *buf;
    size_t len;
} req_t;

static struct {
    int port;
    const char *method, *path, *body, *tokens_file, *dpop_htu, *expect_body, *save_file;
    const char *headers[32];
    int nheaders;
    int expect;
    int conns, threads, sign_threads;
    double seconds, warmup, rate;
    long count;   /* count mode: exactly this many responses, no timing window */
    long presign; /* DPoP proofs to sign */
    int idle;     /* extra idle keep-alive connections to hold */
    int server_pid, db_pid;
    const char *label;
    double slow_ms; /* > 0: print when, in the window, responses took longer */
} opt = {.expect = 200,
         .conns = 64,
         .threads = 1,
         .seconds = 10,
         .warmup = 2,
         .presign = 300000,
         .method = "GET",
         .path = "/"};

static req_t *reqs;
static size_t nreqs;
static int reqs_wrap; /* cycle through reqs (false with DPoP: every proof once) */
static atomic_size_t next_req;
static atomic_int exhausted;

static char **tokens;
static size_t ntokens;

/* --slow: responses over the threshold per 100 ms of the window, to tell a
 * steady tail from stalls (and see when the stalls happen). */
#define SLOW_BUCKETS 6000
static atomic_uint slow_n[SLOW_BUCKETS];
static atomic_ullong slow_max[SLOW_BUCKETS];

static void slow_note(uint64_t at, uint64_t lat, uint64_t window_start)
{
    uint64_t b = (at - window_start) / 100000;
    if (b >= SLOW_BUCKETS)
        return;
    atomic_fetch_add(&slow_n[b], 1);
    unsigned long long m = atomic_load(&slow_max[b]);
    while (lat > m && !atomic_compare_exchange_weak(&slow_max[b], &m, lat))
        ;
}

static void load_tokens(const char *file)
{
    FILE *f = fopen(file, "r");
    if (f == NULL)
        die("cannot open %s", file);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    size_t tcap = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (ntokens == tcap)
            tokens = xrealloc(tokens, (tcap = tcap ? tcap * 2 : 256) * sizeof(*tokens));
        tokens[ntokens++] = strdup(line);
    }
    free(line);
    fclose(f);
    if (ntokens == 0)
        die("%s holds no tokens", file);
}

/* body with every "{TOKEN}" replaced by tok */
static char *subst(const char *body, const char *tok)
{
    size_t cap = strlen(body) + 1, bl = 0;
    char *o = xmalloc(cap);
    const char *p = body, *q;
    while ((q = strstr(p, "{TOKEN}")) != NULL) {
        size_t a = (size_t)(q - p), tl = strlen(tok);
        cap += tl;
        o = xrealloc(o, cap);
        memcpy(o + bl, p, a);
        bl += a;
        memcpy(o + bl, tok, tl);
        bl += tl;
        p = q + 7;
    }
    strcpy(o + bl, p);
    return o;
}

static req_t build_req(const char *body, const char *dpop)
{
    size_t cap = 1024 + strlen(opt.path) + (body ? strlen(body) : 0) + (dpop ? strlen(dpop) : 0);
    for (int i = 0; i < opt.nheaders; i++)
        cap += strlen(opt.headers[i]) + 2;
    char *b = xmalloc(cap);
    int n = snprintf(b, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", opt.method, opt.path,
                     opt.port);
    for (int i = 0; i < opt.nheaders; i++)
        n += snprintf(b + n, cap - (size_t)n, "%s\r\n", opt.headers[i]);
    if (dpop)
        n += snprintf(b + n, cap - (size_t)n, "DPoP: %s\r\n", dpop);
    if (body)
        n += snprintf(b + n, cap - (size_t)n, "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    else
        n += snprintf(b + n, cap - (size_t)n, "\r\n");
    return (req_t){b, (size_t)n};
}

struct signjob {
    EVP_PKEY *key;
    const char *hdr_b64;
    const char *run_id;
    size_t from, to;
    long iat;
};

static void *sign_range(void *arg)
{
    struct signjob *j = arg;
    char payload[1024], input[2048], sig[128], proof[2400];
    for (size_t i = j->from; i < j->to; i++) {
        snprintf(payload, sizeof(payload),
                 "{\"jti\":\"%s-%zu\",\"htm\":\"%s\",\"htu\":\"%s\",\"iat\":%ld}", j->run_id, i,
                 opt.method, opt.dpop_htu, j->iat);
        char *pb = b64url_str(payload);
        int n = snprintf(input, sizeof(input), "%s.%s", j->hdr_b64, pb);
        free(pb);
        es256_sign(j->key, input, (size_t)n, sig);
        snprintf(proof, sizeof(proof), "%s.%s", input, sig);
        char *body = opt.body ? (ntokens ? subst(opt.body, tokens[i % ntokens]) : strdup(opt.body))
                              : NULL;
        reqs[i] = build_req(body, proof);
        free(body);
    }
    return NULL;
}

static void prepare_requests(void)
{
    if (opt.tokens_file)
        load_tokens(opt.tokens_file);
    if (opt.dpop_htu == NULL) {
        nreqs = ntokens ? ntokens : 1;
        reqs = xmalloc(nreqs * sizeof(*reqs));
        for (size_t i = 0; i < nreqs; i++) {
            char *body = opt.body ? (ntokens ? subst(opt.body, tokens[i]) : strdup(opt.body))
                                  : NULL;
            reqs[i] = build_req(body, NULL);
            free(body);
        }
        reqs_wrap = 1;
        return;
    }
    nreqs = opt.count > 0 ? (size_t)opt.count : (size_t)opt.presign;
    reqs = xmalloc(nreqs * sizeof(*reqs));
    EVP_PKEY *key = es256_key();
    char x[64], y[64], hdr[512];
    es256_xy(key, x, y);
    snprintf(hdr, sizeof(hdr),
             "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":{\"kty\":\"EC\",\"crv\":\"P-256\","
             "\"x\":\"%s\",\"y\":\"%s\"}}",
             x, y);
    char *hdr_b64 = b64url_str(hdr);
    unsigned char rnd[9];
    RAND_bytes(rnd, sizeof(rnd));
    char run_id[16];
    b64url(rnd, sizeof(rnd), run_id);
    int nt = opt.sign_threads > 0 ? opt.sign_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nt < 1)
        nt = 1;
    pthread_t th[64];
    struct signjob jobs[64];
    if (nt > 64)
        nt = 64;
    uint64_t t0 = now_us();
    for (int i = 0; i < nt; i++) {
        jobs[i] = (struct signjob){key,
                                   hdr_b64,
                                   run_id,
                                   nreqs * (size_t)i / (size_t)nt,
                                   nreqs * (size_t)(i + 1) / (size_t)nt,
                                   (long)time(NULL)};
        pthread_create(&th[i], NULL, sign_range, &jobs[i]);
    }
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    fprintf(stderr, "loadgen: signed %zu DPoP proofs in %.1f s (%d threads)\n", nreqs,
            (double)(now_us() - t0) / 1e6, nt);
    free(hdr_b64);
    EVP_PKEY_free(key);
    reqs_wrap = 0;
}

static const req_t *take_req(void)
{
    size_t i = atomic_fetch_add(&next_req, 1);
    if (reqs_wrap)
        return &reqs[i % nreqs];
    if (i >= nreqs) {
        atomic_store(&exhausted, 1);
        return NULL;
    }
    return &reqs[i];
}

/* ------------------------------------------------------------ histogram */

#define H_US 100000 /* 1 µs buckets below 100 ms */
#define H_MS 60000  /* then 1 ms buckets to 60 s */

typedef struct {
    uint64_t us[H_US];
    uint64_t ms[H_MS + 1];
    uint64_t n, max;
} hist;

static void h_add(hist *h, uint64_t v)
{
    if (v < H_US)
        h->us[v]++;
    else
        h->ms[v / 1000 < H_MS ? v / 1000 : H_MS]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}

static void h_merge(hist *a, const hist *b)
{
    for (int i = 0; i < H_US; i++)
        a->us[i] += b->us[i];
    for (int i = 0; i <= H_MS; i++)
        a->ms[i] += b->ms[i];
    a->n += b->n;
    if (b->max > a->max)
        a->max = b->max;
}

static double h_pct(const hist *h, double p)
{
    if (h->n == 0)
        return 0;
    uint64_t want = (uint64_t)((double)h->n * p / 100.0);
    if (want >= h->n)
        want = h->n - 1;
    uint64_t c = 0;
    for (int i = 0; i < H_US; i++)
        if ((c += h->us[i]) > want)
            return i;
    for (int i = 0; i <= H_MS; i++)
        if ((c += h->ms[i]) > want)
            return (double)i * 1000.0;
    return (double)h->max;
}

/* ------------------------------------------------------------ connections */

enum { C_CONNECTING, C_IDLE, C_BUSY };

typedef struct {
    int fd, state;
    const req_t *r;
    size_t woff;
    char *rb;
    size_t rlen, rcap;
    uint64_t t0; /* send time (or scheduled time with --rate) */
} conn;

typedef struct {
    int id, nconns;
    conn *c;
    int ep;
    hist *h;
    uint64_t done, errors, in_window, closed, rate_late;
    double rate; /* this thread's share */
    pthread_t th;
} worker;

static struct sockaddr_in srv;
static uint64_t t_begin, t_warm_end, t_end; /* set once all threads are connected */
static atomic_int stop_flag;
static atomic_long counted; /* count mode */
static atomic_int n_err_printed;
static pthread_mutex_t save_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *save_f;
static pthread_barrier_t start_barrier;

static void errmsg(const char *what, const char *body, size_t bl)
{
    if (atomic_fetch_add(&n_err_printed, 1) < 5)
        fprintf(stderr, "loadgen: %s: ERROR %s%s%.*s\n", opt.label ? opt.label : opt.path, what,
                bl ? " - body: " : "", (int)(bl > 300 ? 300 : bl), body ? body : "");
}

static int open_conn(int ep, conn *c, void *tag)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s (raise ulimit -n)", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&srv, sizeof(srv)) != 0 && errno != EINPROGRESS)
        die("connect 127.0.0.1:%d: %s", opt.port, strerror(errno));
    c->fd = fd;
    c->state = C_CONNECTING;
    c->rlen = 0;
    c->woff = 0;
    c->r = NULL;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = tag};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return fd;
}

static void set_events(int ep, conn *c, void *tag, uint32_t evs)
{
    struct epoll_event ev = {.events = evs, .data.ptr = tag};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void reconnect(worker *w, conn *c)
{
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    w->closed++;
    open_conn(w->ep, c, c);
}

/* Writes what is left of c->r; 0 ok, -1 error. */
static int flush_req(worker *w, conn *c)
{
    while (c->woff < c->r->len) {
        ssize_t n = send(c->fd, c->r->buf + c->woff, c->r->len - c->woff, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) {
                set_events(w->ep, c, c, EPOLLIN | EPOLLOUT);
                return 0;
            }
            return -1;
        }
        c->woff += (size_t)n;
    }
    set_events(w->ep, c, c, EPOLLIN);
    return 0;
}

static void start_req(worker *w, conn *c, uint64_t t0)
{
    const req_t *r = take_req();
    if (r == NULL) {
        c->state = C_IDLE;
        return;
    }
    c->r = r;
    c->woff = 0;
    c->rlen = 0;
    c->t0 = t0;
    c->state = C_BUSY;
    if (flush_req(w, c) != 0) {
        w->errors++;
        errmsg("send failed", NULL, 0);
        reconnect(w, c);
    }
}

static const char *find_hdr(const char *h, size_t hl, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = h; p + nl + 2 < h + hl; p++)
        if (p[0] == '\n' && strncasecmp(p + 1, name, nl) == 0 && p[1 + nl] == ':')
            return p + 2 + nl;
    return NULL;
}

/* Parses a complete response in c->rb if there is one: 1 done, 0 need more. */
static int parse_resp(worker *w, conn *c, int *status, int *close_after, int *bad)
{
    char *e = memmem(c->rb, c->rlen, "\r\n\r\n", 4);
    *bad = 0;
    if (e == NULL)
        return 0;
    size_t hl = (size_t)(e - c->rb) + 4;
    if (c->rlen < 12 || strncmp(c->rb, "HTTP/1.", 7) != 0) {
        *bad = 1;
        return 1;
    }
    *status = atoi(c->rb + 9);
    long cl = -1;
    const char *v = find_hdr(c->rb, hl, "content-length");
    if (v != NULL)
        cl = strtol(v, NULL, 10);
    else if (*status == 204 || *status == 304)
        cl = 0;
    else {
        *bad = 2; /* chunked or close-delimited: not what we measure */
        return 1;
    }
    const char *cv = find_hdr(c->rb, hl, "connection");
    *close_after = cv != NULL && strncasecmp(cv + strspn(cv, " "), "close", 5) == 0;
    if (c->rlen < hl + (size_t)cl)
        return 0;
    if (c->rlen > hl + (size_t)cl)
        *bad = 3; /* bytes after the response: we never pipeline */
    (void)w;
    return 1;
}

static void on_response(worker *w, conn *c, uint64_t now)
{
    int status = 0, close_after = 0, bad = 0;
    if (!parse_resp(w, c, &status, &close_after, &bad))
        return;
    char *e = memmem(c->rb, c->rlen, "\r\n\r\n", 4);
    size_t hl = (size_t)(e - c->rb) + 4;
    const char *body = c->rb + hl;
    size_t bl = c->rlen - hl;
    int ok = !bad && status == opt.expect;
    if (ok && opt.expect_body && memmem(body, bl, opt.expect_body, strlen(opt.expect_body)) == NULL)
        ok = 0;
    int in_window = opt.count > 0 || (now >= t_warm_end && now < t_end);
    if (!ok) {
        char what[160];
        if (bad == 2)
            snprintf(what, sizeof(what), "response without Content-Length (status %d)", status);
        else if (bad)
            snprintf(what, sizeof(what), "malformed response (%d)", bad);
        else if (status != opt.expect)
            snprintf(what, sizeof(what), "status %d, expected %d", status, opt.expect);
        else
            snprintf(what, sizeof(what), "body lacks %s", opt.expect_body);
        errmsg(what, body, bl);
        w->errors++;
    } else {
        w->done++;
        if (in_window) {
            w->in_window++;
            h_add(w->h, now - c->t0);
            if (opt.slow_ms > 0 && now - c->t0 > (uint64_t)(opt.slow_ms * 1000))
                slow_note(now, now - c->t0, t_warm_end);
        }
        if (save_f) {
            const char *k = memmem(body, bl, "\"access_token\":\"", 16);
            if (k) {
                k += 16;
                const char *q = memchr(k, '"', bl - (size_t)(k - body));
                pthread_mutex_lock(&save_mu);
                fprintf(save_f, "%.*s\n", (int)(q - k), k);
                pthread_mutex_unlock(&save_mu);
            }
        }
        if (opt.count > 0 && atomic_fetch_add(&counted, 1) + 1 >= opt.count)
            atomic_store(&stop_flag, 1);
    }
    c->rlen = 0;
    c->state = C_IDLE;
    if (bad || close_after)
        reconnect(w, c);
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < w->nconns; i++) {
        w->c[i].rcap = 16384;
        w->c[i].rb = xmalloc(w->c[i].rcap);
        open_conn(w->ep, &w->c[i], &w->c[i]);
    }
    struct epoll_event evs[256];
    /* Wait for every connection before the clock starts. */
    int pending = w->nconns;
    while (pending > 0) {
        int n = epoll_wait(w->ep, evs, 256, 5000);
        if (n == 0)
            die("timed out connecting to 127.0.0.1:%d", opt.port);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->state != C_CONNECTING)
                continue;
            int err = 0;
            socklen_t el = sizeof(err);
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err)
                die("connect 127.0.0.1:%d: %s", opt.port, strerror(err));
            c->state = C_IDLE;
            set_events(w->ep, c, c, EPOLLIN);
            pending--;
        }
    }
    pthread_barrier_wait(&start_barrier);
    pthread_barrier_wait(&start_barrier); /* main set t_begin */

    uint64_t interval = w->rate > 0 ? (uint64_t)(1e6 / w->rate) : 0, next_send = t_begin;
    if (interval == 0 && w->rate > 0)
        interval = 1;
    if (!w->rate)
        for (int i = 0; i < w->nconns; i++)
            start_req(w, &w->c[i], now_us());
    int idle_rr = 0;
    while (!atomic_load(&stop_flag)) {
        /* µs timeouts (epoll_pwait2) so pacing neither spins nor batches */
        struct timespec to = {0, 50 * 1000000L};
        if (w->rate > 0) {
            uint64_t n = now_us(), d = next_send > n ? next_send - n : 0;
            if (d > 50000)
                d = 50000;
            to.tv_nsec = (long)d * 1000;
        }
        int n = epoll_pwait2(w->ep, evs, 256, &to, NULL);
        uint64_t now = now_us();
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->state == C_CONNECTING) { /* a reconnect */
                int err = 0;
                socklen_t el = sizeof(err);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err)
                    die("reconnect to 127.0.0.1:%d: %s", opt.port, strerror(err));
                c->state = C_IDLE;
                set_events(w->ep, c, c, EPOLLIN);
                if (!w->rate)
                    start_req(w, c, now);
                continue;
            }
            if ((evs[i].events & EPOLLOUT) && c->state == C_BUSY && c->woff < c->r->len) {
                if (flush_req(w, c) != 0) {
                    w->errors++;
                    errmsg("send failed", NULL, 0);
                    reconnect(w, c);
                    continue;
                }
            }
            if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            for (;;) {
                if (c->rcap - c->rlen < 4096)
                    c->rb = xrealloc(c->rb, c->rcap *= 2);
                ssize_t r = recv(c->fd, c->rb + c->rlen, c->rcap - c->rlen, 0);
                if (r > 0) {
                    c->rlen += (size_t)r;
                    continue;
                }
                if (r < 0 && errno == EAGAIN)
                    break;
                /* EOF or reset */
                if (c->state == C_BUSY) {
                    w->errors++;
                    errmsg(r == 0 ? "server closed the connection mid-request" : "connection reset",
                           c->rb, c->rlen);
                }
                reconnect(w, c);
                goto next_ev;
            }
            if (c->state == C_BUSY) {
                on_response(w, c, now);
                if (c->state == C_IDLE && !w->rate && !atomic_load(&stop_flag))
                    start_req(w, c, now);
            } else if (c->rlen) {
                w->errors++;
                errmsg("unsolicited bytes", c->rb, c->rlen);
                c->rlen = 0;
            }
        next_ev:;
        }
        if (w->rate > 0) {
            /* Paced: send everything that is due on idle connections. */
            while (next_send <= now) {
                conn *c = NULL;
                for (int k = 0; k < w->nconns; k++) {
                    conn *cc = &w->c[(idle_rr + k) % w->nconns];
                    if (cc->state == C_IDLE) {
                        c = cc;
                        idle_rr = (idle_rr + k + 1) % w->nconns;
                        break;
                    }
                }
                if (c == NULL)
                    break; /* all busy: the backlog keeps its scheduled times */
                if (now > next_send + 1000)
                    w->rate_late++; /* sent over 1 ms after its scheduled time */
                start_req(w, c, next_send);
                next_send += interval;
            }
        }
        if (opt.count == 0 && now >= t_end)
            break;
        if (atomic_load(&exhausted) && opt.count == 0) {
            int busy = 0;
            for (int k = 0; k < w->nconns; k++)
                busy |= w->c[k].state == C_BUSY;
            if (!busy)
                break;
        }
    }
    for (int i = 0; i < w->nconns; i++)
        close(w->c[i].fd);
    close(w->ep);
    return NULL;
}

/* --idle N: open N connections, make one request on each, and hold them. */
static int *idle_fds;
static void open_idle(int n)
{
    idle_fds = xmalloc((size_t)n * sizeof(int));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    conn *cs = calloc((size_t)n, sizeof(conn));
    char req[256];
    int rl = snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
                      opt.port);
    for (int i = 0; i < n; i++) {
        idle_fds[i] = open_conn(ep, &cs[i], &cs[i]);
        cs[i].rb = xmalloc(cs[i].rcap = 4096);
    }
    int left = n;
    struct epoll_event evs[256];
    uint64_t deadline = now_us() + 20000000;
    while (left > 0) {
        if (now_us() > deadline)
            die("idle connections: %d of %d did not complete their first request", left, n);
        int k = epoll_wait(ep, evs, 256, 1000);
        for (int i = 0; i < k; i++) {
            conn *c = evs[i].data.ptr;
            if (c->state == C_CONNECTING) {
                int err = 0;
                socklen_t el = sizeof(err);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err)
                    die("idle connect: %s", strerror(err));
                if (send(c->fd, req, (size_t)rl, MSG_NOSIGNAL) != rl)
                    die("idle connection: short send");
                c->state = C_BUSY;
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }
            ssize_t r = recv(c->fd, c->rb + c->rlen, c->rcap - c->rlen, 0);
            if (r <= 0)
                die("idle connection closed by the server");
            c->rlen += (size_t)r;
            char *e = memmem(c->rb, c->rlen, "\r\n\r\n", 4);
            if (e == NULL)
                continue;
            const char *v = find_hdr(c->rb, (size_t)(e - c->rb) + 4, "content-length");
            if (v && c->rlen >= (size_t)(e - c->rb) + 4 + (size_t)atol(v) && c->state == C_BUSY) {
                if (atoi(c->rb + 9) != 200)
                    die("idle connection: GET /healthz gave %d", atoi(c->rb + 9));
                c->state = C_IDLE;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                left--;
            }
        }
    }
    for (int i = 0; i < n; i++)
        free(cs[i].rb);
    free(cs);
    close(ep);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen run --port P [--method M] [--path /p] [--header 'K: V']... [--body B]\n"
            "         [--tokens FILE (each {TOKEN} in the body)] [--dpop HTU] [--presign N]\n"
            "         [--expect STATUS] [--expect-body STR] [--conns N] [--threads N]\n"
            "         [--seconds S] [--warmup S] [--rate R] [--count N --save FILE]\n"
            "         [--idle N] [--server-pid PID] [--db-pid PID] [--label NAME] [--slow MS]\n"
            "       loadgen speed [SECONDS]\n");
    exit(1);
}

static int cmd_speed(double secs)
{
    EVP_PKEY *k = es256_key();
    const char *msg = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImtleV8xIn0."
                      "eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjgwODAiLCJzdWIiOiJjbGllbnRfMSIsImlhdCI6"
                      "MTc5NTQzNDA3NywiZXhwIjoxNzk1NDM0OTc3LCJqdGkiOiJ0b2tfMSIsImNsaWVudF9pZCI6"
                      "ImNsaWVudF8xIiwiYXVkIjoiaHR0cDovLzEyNy4wLjAuMTo4MDgwIn0";
    size_t ml = strlen(msg);
    unsigned char der[80];
    size_t dl = 0;
    uint64_t t0 = now_us(), n = 0, lim = (uint64_t)(secs * 1e6);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    while (now_us() - t0 < lim) {
        for (int i = 0; i < 100; i++) {
            dl = sizeof(der);
            if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
                EVP_DigestSign(md, der, &dl, (const unsigned char *)msg, ml) != 1)
                die("sign failed");
        }
        n += 100;
    }
    double sign = (double)n / ((double)(now_us() - t0) / 1e6);
    t0 = now_us();
    n = 0;
    while (now_us() - t0 < lim) {
        for (int i = 0; i < 100; i++)
            if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
                EVP_DigestVerify(md, der, dl, (const unsigned char *)msg, ml) != 1)
                die("verify failed");
        n += 100;
    }
    double verify = (double)n / ((double)(now_us() - t0) / 1e6);
    EVP_MD_CTX_free(md);
    printf("sign_per_s=%.0f verify_per_s=%.0f\n", sign, verify);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (strcmp(argv[1], "speed") == 0)
        return cmd_speed(argc > 2 ? atof(argv[2]) : 3.0);
    if (strcmp(argv[1], "run") != 0)
        usage();
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--port"))
            opt.port = atoi(v);
        else if (!strcmp(a, "--method"))
            opt.method = v;
        else if (!strcmp(a, "--path"))
            opt.path = v;
        else if (!strcmp(a, "--header")) {
            if (opt.nheaders == 32)
                die("too many headers");
            opt.headers[opt.nheaders++] = v;
        } else if (!strcmp(a, "--body"))
            opt.body = v;
        else if (!strcmp(a, "--tokens"))
            opt.tokens_file = v;
        else if (!strcmp(a, "--dpop"))
            opt.dpop_htu = v;
        else if (!strcmp(a, "--presign"))
            opt.presign = atol(v);
        else if (!strcmp(a, "--expect"))
            opt.expect = atoi(v);
        else if (!strcmp(a, "--expect-body"))
            opt.expect_body = v;
        else if (!strcmp(a, "--conns"))
            opt.conns = atoi(v);
        else if (!strcmp(a, "--threads"))
            opt.threads = atoi(v);
        else if (!strcmp(a, "--sign-threads"))
            opt.sign_threads = atoi(v);
        else if (!strcmp(a, "--seconds"))
            opt.seconds = atof(v);
        else if (!strcmp(a, "--warmup"))
            opt.warmup = atof(v);
        else if (!strcmp(a, "--rate"))
            opt.rate = atof(v);
        else if (!strcmp(a, "--count"))
            opt.count = atol(v);
        else if (!strcmp(a, "--save"))
            opt.save_file = v;
        else if (!strcmp(a, "--idle"))
            opt.idle = atoi(v);
        else if (!strcmp(a, "--server-pid"))
            opt.server_pid = atoi(v);
        else if (!strcmp(a, "--db-pid"))
            opt.db_pid = atoi(v);
        else if (!strcmp(a, "--label"))
            opt.label = v;
        else if (!strcmp(a, "--slow"))
            opt.slow_ms = atof(v);
        else
            usage();
    }
    if (opt.port <= 0 || opt.conns < 1 || opt.threads < 1)
        usage();
    if (opt.threads > opt.conns)
        opt.threads = opt.conns;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    srv.sin_family = AF_INET;
    srv.sin_port = htons((uint16_t)opt.port);
    srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* 127.0.0.1 only */
    if (opt.save_file && (save_f = fopen(opt.save_file, "w")) == NULL)
        die("cannot write %s", opt.save_file);

    prepare_requests();

    long idle_rss = 0, idle_hwm = 0;
    if (opt.idle > 0) {
        open_idle(opt.idle);
        sleep_until(now_us() + 1000000);
        if (opt.server_pid) {
            idle_rss = proc_kb(opt.server_pid, "status", "VmRSS");
            idle_hwm = proc_kb(opt.server_pid, "status", "VmHWM");
        }
    }

    worker *ws = calloc((size_t)opt.threads, sizeof(worker));
    pthread_barrier_init(&start_barrier, NULL, (unsigned)opt.threads + 1);
    for (int t = 0; t < opt.threads; t++) {
        worker *w = &ws[t];
        w->id = t;
        w->nconns = opt.conns / opt.threads + (t < opt.conns % opt.threads);
        w->c = calloc((size_t)w->nconns, sizeof(conn));
        w->h = calloc(1, sizeof(hist));
        if (w->c == NULL || w->h == NULL)
            die("out of memory");
        w->rate = opt.rate / opt.threads;
        pthread_create(&w->th, NULL, run_worker, w);
    }
    pthread_barrier_wait(&start_barrier);
    t_begin = now_us();
    t_warm_end = opt.count > 0 ? t_begin : t_begin + (uint64_t)(opt.warmup * 1e6);
    t_end = opt.count > 0 ? UINT64_MAX : t_warm_end + (uint64_t)(opt.seconds * 1e6);
    pthread_barrier_wait(&start_barrier);

    double srv_cpu0 = 0, srv_cpu1 = 0, db_cpu0 = 0, db_cpu1 = 0, sys0 = 0, sys1 = 0, self0 = 0,
           self1 = 0;
    uint64_t w0 = t_begin, w1 = 0;
    if (opt.count == 0) {
        sleep_until(t_warm_end);
        w0 = now_us();
        srv_cpu0 = opt.server_pid ? proc_cpu(opt.server_pid, 0) : 0;
        db_cpu0 = tree_cpu(opt.db_pid);
        sys0 = system_busy();
        self0 = proc_cpu(getpid(), 0);
        while (now_us() < t_end && !atomic_load(&exhausted))
            sleep_until(now_us() + 20000 < t_end ? now_us() + 20000 : t_end);
        srv_cpu1 = opt.server_pid ? proc_cpu(opt.server_pid, 0) : 0;
        db_cpu1 = tree_cpu(opt.db_pid);
        sys1 = system_busy();
        self1 = proc_cpu(getpid(), 0);
        w1 = now_us();
        if (atomic_load(&exhausted))
            t_end = w1; /* the window ends when the proofs run out */
        atomic_store(&stop_flag, 1);
    }
    for (int t = 0; t < opt.threads; t++)
        pthread_join(ws[t].th, NULL);
    if (opt.count > 0)
        w1 = now_us();
    if (save_f)
        fclose(save_f);

    hist *h = calloc(1, sizeof(hist));
    uint64_t errors = 0, inwin = 0, done = 0, closed = 0, late = 0;
    for (int t = 0; t < opt.threads; t++) {
        h_merge(h, ws[t].h);
        errors += ws[t].errors;
        inwin += ws[t].in_window;
        done += ws[t].done;
        closed += ws[t].closed;
        late += ws[t].rate_late;
    }
    double secs = (double)(w1 - w0) / 1e6;
    if (opt.count == 0 && t_end < w1)
        secs = (double)(t_end - w0) / 1e6;
    long hwm = opt.server_pid ? proc_kb(opt.server_pid, "status", "VmHWM") : 0;
    long rss = opt.server_pid ? proc_kb(opt.server_pid, "status", "VmRSS") : 0;
    long db_pss = tree_pss_kb(opt.db_pid);
    printf("RESULT rps=%.0f p50_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%llu requests=%llu "
           "errors=%llu total_ok=%llu window_s=%.2f reconnects=%llu exhausted=%d srv_cpu_s=%.3f "
           "db_cpu_s=%.3f srv_hwm_kb=%ld srv_rss_kb=%ld db_pss_kb=%ld idle_rss_kb=%ld "
           "idle_hwm_kb=%ld late_sends=%llu gen_cpu_s=%.3f other_cpu_s=%.3f\n",
           secs > 0 ? (double)inwin / secs : 0, h_pct(h, 50), h_pct(h, 99), h_pct(h, 99.9),
           (unsigned long long)h->max, (unsigned long long)inwin, (unsigned long long)errors,
           (unsigned long long)done, secs, (unsigned long long)closed, atomic_load(&exhausted),
           srv_cpu1 - srv_cpu0, db_cpu1 - db_cpu0, hwm, rss, db_pss, idle_rss, idle_hwm,
           (unsigned long long)late, self1 - self0,
           (sys1 - sys0) - (srv_cpu1 - srv_cpu0) - (db_cpu1 - db_cpu0) - (self1 - self0));
    for (int b = 0; opt.slow_ms > 0 && b < SLOW_BUCKETS; b++)
        if (atomic_load(&slow_n[b]) > 0)
            fprintf(stderr, "slow: t=%.1fs n=%u max=%.1fms\n", b / 10.0, atomic_load(&slow_n[b]),
                    atomic_load(&slow_max[b]) / 1000.0);
    if (errors > 0) {
        fprintf(stderr, "loadgen: FAILED: %llu unexpected responses (see above)\n",
                (unsigned long long)errors);
        return 2;
    }
    if (opt.count > 0 && done < (uint64_t)opt.count)
        die("count mode: only %llu of %ld requests completed", (unsigned long long)done, opt.count);
    return 0;
}
