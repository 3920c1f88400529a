#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum opt_kind { OPT_STR, OPT_INT, OPT_LISTEN, OPT_LEVEL, OPT_RATE, OPT_CIDRS, OPT_SECONDS, OPT_FLAG };

struct opt {
    const char *flag, *env;
    enum opt_kind kind;
    size_t off;  /* field offset in config */
    size_t size; /* buffer size for OPT_STR */
    long min, max;
    const char *help;
};

#define STR(field) OPT_STR, offsetof(config, field), sizeof(((config *)0)->field)
#define NUM(kind, field) kind, offsetof(config, field), 0

static const struct opt opts[] = {
    {"listen", "SHARK_LISTEN", OPT_LISTEN, 0, 0, 0, 0,
     "HOST:PORT to listen on (default 127.0.0.1:8080)"},
    {"data-dir", "SHARK_DATA_DIR", STR(data_dir), 0, 0,
     "directory for keys and the embedded database (default ./data)"},
    {"db", "SHARK_DB", STR(db), 0, 0,
     "postgres:// URL of an external PostgreSQL (default: embedded)"},
    {"threads", "SHARK_THREADS", NUM(OPT_INT, threads), 1, 256,
     "event-loop threads (default: number of cores)"},
    {"issuer", "SHARK_ISSUER", STR(issuer), 0, 0,
     "public base URL used as issuer (default http://LISTEN)"},
    {"base-url", "SHARK_BASE_URL", STR(issuer), 0, 0, "same as --issuer"},
    {"log-level", "SHARK_LOG_LEVEL", NUM(OPT_LEVEL, log_level), 0, 0,
     "debug, info, warn, error or off (default info)"},
    {"tls-cert", "SHARK_TLS_CERT", STR(tls_cert), 0, 0, "PEM certificate chain; enables TLS"},
    {"tls-key", "SHARK_TLS_KEY", STR(tls_key), 0, 0, "PEM private key for --tls-cert"},
    {"rate-limit", "SHARK_RATE_LIMIT", OPT_RATE, 0, 0, 0, 0,
     "per-client requests/s[:burst] (default 100:100; 0 disables)"},
    {"trusted-proxy", "SHARK_TRUSTED_PROXY", OPT_CIDRS, 0, 0, 0, 0,
     "comma list of CIDRs whose X-Forwarded-For is honoured"},
    {"request-timeout", "SHARK_REQUEST_TIMEOUT", NUM(OPT_SECONDS, request_timeout_ms), 1, 3600,
     "seconds a started request may take to arrive (default 10)"},
    {"idle-timeout", "SHARK_IDLE_TIMEOUT", NUM(OPT_SECONDS, idle_timeout_ms), 1, 86400,
     "seconds an idle keep-alive connection is kept (default 60)"},
    {"shutdown-timeout", "SHARK_SHUTDOWN_TIMEOUT", NUM(OPT_SECONDS, shutdown_timeout_ms), 1, 3600,
     "seconds to finish requests in flight on SIGTERM (default 10)"},
    {"db-pool", "SHARK_DB_POOL", NUM(OPT_INT, db_pool_size), 1, 64,
     "database connections per thread (default 4)"},
    {"db-wait", "SHARK_DB_WAIT", NUM(OPT_SECONDS, db_wait_ms), 1, 600,
     "seconds a query may wait for a free connection (default 5)"},
    {"db-read", "SHARK_DB_READ", STR(db_read), 0, 0,
     "read replica for listings and audit reads (stale by its lag; default: --db)"},
    {"no-migrate", "SHARK_NO_MIGRATE", NUM(OPT_FLAG, no_migrate), 0, 0,
     "do not apply migrations at start (run `shark migrate` first)"},
    {"max-connections", "SHARK_MAX_CONNECTIONS", NUM(OPT_INT, max_connections), 1, 1000000,
     "open connections in all; more get a 503 and are closed (default 10000)"},
    {"max-connections-per-ip", "SHARK_MAX_CONNECTIONS_PER_IP", NUM(OPT_INT, max_connections_per_ip),
     1, 1000000, "open connections per client address, IPv6 by /64 (default 256)"},
    {"token-ttl", "SHARK_TOKEN_TTL", NUM(OPT_INT, token_ttl_s), 30, 86400,
     "access token lifetime in seconds (default 900)"},
    {"dpop-iat-window", "SHARK_DPOP_IAT_WINDOW", NUM(OPT_INT, dpop_window_s), 1, 3600,
     "seconds a DPoP proof's iat may differ from now (default 60)"},
    {"dpop-nonce", "SHARK_DPOP_NONCE", STR(dpop_nonce), 0, 0,
     "on: require server-issued DPoP nonces (default off)"},
    {"signing-alg", "SHARK_SIGNING_ALG", STR(signing_alg), 0, 0,
     "ES256, EdDSA or RS256 for new signing keys (default ES256)"},
    {"dcr", "SHARK_DCR", STR(dcr), 0, 0,
     "dynamic client registration: open, token or off (default open)"},
    {"dcr-token", "SHARK_DCR_TOKEN", STR(dcr_token), 0, 0,
     "initial access token required by --dcr token"},
    {"dcr-scopes", "SHARK_DCR_SCOPES", STR(dcr_scopes), 0, 0,
     "scopes anonymous and metadata-document clients may take (default: openid profile "
     "email offline_access)"},
    {"max-delegation-depth", "SHARK_MAX_DELEGATION_DEPTH", NUM(OPT_INT, max_delegation_depth), 1,
     32, "act hops a token may carry (default 5)"},
    {"device-code-ttl", "SHARK_DEVICE_CODE_TTL", NUM(OPT_INT, device_code_ttl_s), 1, 3600,
     "seconds a device code stays valid (default 600)"},
    {"outbound-ca-file", "SHARK_OUTBOUND_CA_FILE", STR(outbound_ca_file), 0, 0,
     "PEM CA bundle trusted for outbound TLS (default: the system's)"},
    {"webhook-allowed-hosts", "SHARK_WEBHOOK_ALLOWED_HOSTS", STR(webhook_allowed_hosts), 0, 0,
     "comma list of hostnames and CIDRs webhooks may reach although private"},
    {"webhook-retry-schedule", "SHARK_WEBHOOK_RETRY_SCHEDULE", STR(webhook_retry_schedule), 0, 0,
     "comma list of seconds between webhook attempts (default 5,30,120,...,43200)"},
    {"webhook-disable-after", "SHARK_WEBHOOK_DISABLE_AFTER", NUM(OPT_INT, webhook_disable_after_s),
     1, 365 * 86400, "seconds of continuous failure that disable an endpoint (default 259200)"},
    {"webhook-timeout", "SHARK_WEBHOOK_TIMEOUT", NUM(OPT_INT, webhook_timeout_s), 1, 300,
     "seconds a webhook attempt may take (default 10)"},
    {"webhook-retention", "SHARK_WEBHOOK_RETENTION", NUM(OPT_INT, webhook_retention_days), 0,
     36500, "days finished webhook deliveries are kept (default 30; 0 keeps them)"},
    {"audit-retention", "SHARK_AUDIT_RETENTION", NUM(OPT_INT, audit_retention_days), 0, 36500,
     "days of audit log kept, dropped by whole months (default 400; 0 keeps it)"},
    {"vault-refresh-skew", "SHARK_VAULT_REFRESH_SKEW", NUM(OPT_INT, vault_refresh_skew_s), 0, 3600,
     "refresh a vault access token expiring within this many seconds (default 60)"},
};

void config_defaults(config *c, int ncpu)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
    c->listen_port = 8080;
    snprintf(c->data_dir, sizeof(c->data_dir), "./data");
    c->threads = ncpu > 0 ? ncpu : 1;
    c->log_level = LOG_INFO;
    c->rate_rps = 100;
    c->rate_burst = 100;
    c->request_timeout_ms = 10000;
    c->idle_timeout_ms = 60000;
    c->shutdown_timeout_ms = 10000;
    c->db_wait_ms = 5000;
    c->db_pool_size = 4;
    c->max_body = 1024 * 1024;
    c->max_header = 16 * 1024;
    c->max_connections = 10000;
    c->max_connections_per_ip = 256;
    c->token_ttl_s = 900;
    c->dpop_window_s = 60;
    snprintf(c->dpop_nonce, sizeof(c->dpop_nonce), "off");
    snprintf(c->signing_alg, sizeof(c->signing_alg), "ES256");
    snprintf(c->dcr, sizeof(c->dcr), "open");
    snprintf(c->dcr_scopes, sizeof(c->dcr_scopes), "openid profile email offline_access");
    c->max_delegation_depth = 5;
    c->device_code_ttl_s = 600;
    /* About a day in all: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h, 12 h. */
    snprintf(c->webhook_retry_schedule, sizeof(c->webhook_retry_schedule),
             "5,30,120,600,1800,3600,10800,21600,43200");
    c->webhook_disable_after_s = 3 * 86400;
    c->webhook_timeout_s = 10;
    c->vault_refresh_skew_s = 60;
    c->webhook_retention_days = 30;
    c->audit_retention_days = 400;
}

static bool one_of(const char *v, const char *const *set)
{
    for (; *set != NULL; set++)
        if (strcmp(v, *set) == 0)
            return true;
    return false;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int parse_long(const char *v, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

static int parse_double(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !(d >= 0) || d > 1e9)
        return -1;
    *out = d;
    return 0;
}

static int parse_listen(config *c, const char *v)
{
    const char *colon = strrchr(v, ':');
    long port;
    if (colon == NULL || parse_long(colon + 1, 0, 65535, &port) != 0)
        return -1;
    const char *h = v;
    size_t hl = (size_t)(colon - v);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof(c->listen_host))
        return -1;
    uint8_t tmp[16];
    char host[64];
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (cidr_addr_parse(host, tmp) != 0)
        return -1;
    memcpy(c->listen_host, host, strlen(host) + 1);
    c->listen_port = (int)port;
    return 0;
}

/* "5,30,120": the delay before each retry, 0..604800 seconds, at most
 * CONFIG_MAX_RETRIES of them; an empty list means a single attempt. */
static int parse_schedule(config *c)
{
    const char *p = c->webhook_retry_schedule;
    c->n_webhook_retry = 0;
    while (*p != '\0') {
        char *end;
        errno = 0;
        long n = strtol(p, &end, 10);
        if (errno != 0 || end == p || n < 0 || n > 7 * 86400 ||
            c->n_webhook_retry == CONFIG_MAX_RETRIES || (*end != ',' && *end != '\0'))
            return -1;
        c->webhook_retry_s[c->n_webhook_retry++] = (int)n;
        p = *end == ',' ? end + 1 : end;
        if (*end == ',' && *p == '\0')
            return -1;
    }
    return 0;
}

/* Scope tokens (RFC 6749 §3.3: visible ASCII but " and \) separated by
 * single spaces; empty allows none. */
static bool scopes_ok(const char *s)
{
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        bool sep = ch == ' ' && p != s && p[1] != '\0' && p[1] != ' ';
        if (!sep && (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\'))
            return false;
    }
    return true;
}

/* Hostnames ([A-Za-z0-9.-]) and CIDRs, comma separated; parsed again where
 * used (core/outbound.c), checked here so a typo fails at start. */
static int check_hosts(const char *v)
{
    char item[256];
    while (*v != '\0') {
        size_t n = strcspn(v, ",");
        if (n == 0 || n >= sizeof(item))
            return -1;
        memcpy(item, v, n);
        item[n] = '\0';
        cidr tmp;
        bool name =
            strspn(item, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == n;
        if (!name && cidr_parse(item, &tmp) != 0)
            return -1;
        v += n;
        if (*v == ',' && *++v == '\0')
            return -1;
    }
    return 0;
}

static int parse_rate(config *c, const char *v)
{
    char buf[64];
    double rps, burst;
    if (strlen(v) >= sizeof(buf))
        return -1;
    snprintf(buf, sizeof(buf), "%s", v);
    char *colon = strchr(buf, ':');
    if (colon != NULL)
        *colon = '\0';
    if (parse_double(buf, &rps) != 0)
        return -1;
    burst = rps;
    if (colon != NULL && (parse_double(colon + 1, &burst) != 0 || (rps > 0 && burst < 1)))
        return -1;
    c->rate_rps = rps;
    c->rate_burst = burst;
    return 0;
}

static int apply(config *c, const struct opt *o, const char *v, char *err, size_t errlen,
                 const char *src)
{
    char *base = (char *)c;
    long n;
    switch (o->kind) {
    case OPT_STR:
        if (strlen(v) >= o->size)
            return fail(err, errlen, "%s: value too long", src);
        memcpy(base + o->off, v, strlen(v) + 1);
        return 0;
    case OPT_INT:
        if (parse_long(v, o->min, o->max, &n) != 0)
            return fail(err, errlen, "%s: expected a whole number from %ld to %ld, got '%s'", src,
                        o->min, o->max, v);
        *(int *)(base + o->off) = (int)n;
        return 0;
    case OPT_SECONDS:
        if (parse_long(v, o->min, o->max, &n) != 0)
            return fail(err, errlen, "%s: expected seconds from %ld to %ld, got '%s'", src, o->min,
                        o->max, v);
        *(int *)(base + o->off) = (int)(n * 1000);
        return 0;
    case OPT_LEVEL:
        if ((n = log_level_parse(v)) < 0)
            return fail(err, errlen, "%s: expected debug, info, warn, error or off, got '%s'", src,
                        v);
        c->log_level = (int)n;
        return 0;
    case OPT_LISTEN:
        if (parse_listen(c, v) != 0)
            return fail(err, errlen, "%s: expected IP:PORT (e.g. 127.0.0.1:8080), got '%s'", src,
                        v);
        return 0;
    case OPT_RATE:
        if (parse_rate(c, v) != 0)
            return fail(err, errlen, "%s: expected RATE or RATE:BURST (0 disables), got '%s'", src,
                        v);
        return 0;
    case OPT_FLAG: {
        static const char *const yes[] = {"1", "true", "on", "yes", NULL};
        static const char *const no[] = {"0", "false", "off", "no", NULL};
        if (!one_of(v, yes) && !one_of(v, no))
            return fail(err, errlen, "%s: expected true or false, got '%s'", src, v);
        *(int *)(base + o->off) = one_of(v, yes);
        return 0;
    }
    case OPT_CIDRS:
        if ((n = cidr_parse_list(v, c->trusted_proxies, CONFIG_MAX_PROXIES)) < 0)
            return fail(err, errlen, "%s: expected a comma list of CIDRs, got '%s'", src, v);
        c->n_trusted_proxies = (int)n;
        return 0;
    }
    return fail(err, errlen, "%s: unsupported option", src);
}

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

int config_parse(config *c, int argc, char **argv, const char *(*env)(const char *), char *err,
                 size_t errlen)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const char *v = env(opts[i].env);
        if (v != NULL && *v != '\0' && apply(c, &opts[i], v, err, errlen, opts[i].env) != 0)
            return -1;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (strncmp(a, "--", 2) != 0)
            return fail(err, errlen, "unexpected argument '%s'", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = NULL;
        for (size_t k = 0; k < NOPTS; k++)
            if (strlen(opts[k].flag) == nl && strncmp(opts[k].flag, name, nl) == 0)
                o = &opts[k];
        if (o == NULL)
            return fail(err, errlen, "unknown flag '%.*s' (see shark serve --help)", (int)nl + 2,
                        a);
        /* A bare boolean flag takes no value; --flag=false still works. */
        const char *v = eq ? eq + 1
                        : o->kind == OPT_FLAG ? "true"
                                              : (i + 1 < argc ? argv[++i] : NULL);
        if (v == NULL)
            return fail(err, errlen, "--%s needs a value", o->flag);
        char src[64];
        snprintf(src, sizeof(src), "--%s", o->flag);
        if (apply(c, o, v, err, errlen, src) != 0)
            return -1;
    }
    static const char *const onoff[] = {"on", "off", NULL};
    static const char *const algs[] = {"ES256", "EdDSA", "RS256", NULL};
    static const char *const dcr[] = {"open", "token", "off", NULL};
    if (!one_of(c->dpop_nonce, onoff))
        return fail(err, errlen, "--dpop-nonce: expected on or off, got '%s'", c->dpop_nonce);
    if (!one_of(c->signing_alg, algs))
        return fail(err, errlen, "--signing-alg: expected ES256, EdDSA or RS256, got '%s'",
                    c->signing_alg);
    if (!one_of(c->dcr, dcr))
        return fail(err, errlen, "--dcr: expected open, token or off, got '%s'", c->dcr);
    if (strcmp(c->dcr, "token") == 0 && strlen(c->dcr_token) < 16)
        return fail(err, errlen, "--dcr token needs --dcr-token of at least 16 characters");
    if (!scopes_ok(c->dcr_scopes))
        return fail(err, errlen,
                    "--dcr-scopes: expected scope tokens separated by single spaces, got '%s'",
                    c->dcr_scopes);
    if (parse_schedule(c) != 0)
        return fail(err, errlen,
                    "--webhook-retry-schedule: expected a comma list of at most %d second counts "
                    "(each up to 604800), got '%s'",
                    CONFIG_MAX_RETRIES, c->webhook_retry_schedule);
    if (check_hosts(c->webhook_allowed_hosts) != 0)
        return fail(err, errlen,
                    "--webhook-allowed-hosts: expected a comma list of hostnames and CIDRs, got '%s'",
                    c->webhook_allowed_hosts);
    if ((c->tls_cert[0] != '\0') != (c->tls_key[0] != '\0'))
        return fail(err, errlen, "--tls-cert and --tls-key go together");
    if (c->issuer[0] == '\0') {
        const char *fmt = strchr(c->listen_host, ':') ? "%s://[%s]:%d" : "%s://%s:%d";
        snprintf(c->issuer, sizeof(c->issuer), fmt, c->tls_cert[0] ? "https" : "http",
                 c->listen_host, c->listen_port);
    }
    size_t il = strlen(c->issuer);
    while (il > 0 && c->issuer[il - 1] == '/')
        c->issuer[--il] = '\0';
    if (strncmp(c->issuer, "http://", 7) != 0 && strncmp(c->issuer, "https://", 8) != 0)
        return fail(err, errlen, "--issuer must be an http(s) URL, got '%s'", c->issuer);
    return 0;
}

void config_usage(FILE *out)
{
    fputs("usage: shark serve [flags]\n\n"
          "Runs the SharkAuth server. Every flag can also be set through the environment\n"
          "variable shown; flags win.\n\n",
          out);
    for (size_t i = 0; i < NOPTS; i++)
        fprintf(out, "  --%-18s %-24s %s\n", opts[i].flag, opts[i].env, opts[i].help);
}
