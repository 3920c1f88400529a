/*
 * config: `shark serve` settings from SHARK_* environment variables, then
 * command-line flags (flags win). Parsing is pure apart from reading the
 * environment through the getenv-like callback it is given, so it is unit
 * tested without touching the real environment.
 */
#ifndef SHARK_CORE_CONFIG_H
#define SHARK_CORE_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "cidr.h"

#define CONFIG_MAX_PROXIES 32
#define CONFIG_MAX_RETRIES 32

typedef struct config {
    char listen_host[64];
    int listen_port;
    char data_dir[512];
    char db[1024];          /* postgres:// URL or conninfo; empty = embedded */
    int threads;
    char issuer[512];       /* public base URL; derived from --listen if empty */
    int log_level;
    char tls_cert[512], tls_key[512];
    double rate_rps;        /* 0 disables rate limiting */
    double rate_burst;
    cidr trusted_proxies[CONFIG_MAX_PROXIES];
    int n_trusted_proxies;
    int request_timeout_ms; /* a started request must arrive whole within this */
    int idle_timeout_ms;    /* keep-alive connections idle this long are closed */
    int shutdown_timeout_ms;
    int db_pool_size;       /* connections per loop thread */
    int db_wait_ms;         /* a query waits this long for a connection, then 503 */
    int no_migrate;         /* serve without applying migrations */
    char db_read[1024];     /* read replica for listings and audit; empty = --db */
    size_t max_body;
    size_t max_header;
    int max_connections;        /* open connections of the process */
    int max_connections_per_ip; /* of one client address (IPv6: its /64) */
    /* OAuth */
    int token_ttl_s;          /* access token lifetime */
    int dpop_window_s;        /* accepted |now - iat| of DPoP proofs */
    char dpop_nonce[8];       /* "on" | "off": demand server nonces */
    char signing_alg[8];      /* ES256 | EdDSA | RS256: alg of new signing keys */
    char dcr[8];              /* open | token | off: dynamic client registration */
    char dcr_token[256];      /* initial access token when dcr = token */
    char dcr_scopes[1024];    /* scopes open registration and metadata documents may take */
    int max_delegation_depth; /* act hops a token may carry */
    int device_code_ttl_s;    /* lifetime of RFC 8628 device codes */
    char outbound_ca_file[512]; /* extra CA bundle for outbound TLS (metadata documents) */
    /* Webhooks */
    char webhook_allowed_hosts[1024]; /* hostnames and CIDRs exempt from the private-address refusal */
    char webhook_retry_schedule[256]; /* as given: comma list of seconds */
    int webhook_retry_s[CONFIG_MAX_RETRIES]; /* parsed: delay before retry 1, 2, ... */
    int n_webhook_retry;
    int webhook_disable_after_s; /* failing continuously this long disables an endpoint */
    int webhook_timeout_s;       /* per delivery attempt */
    int webhook_retention_days;  /* finished deliveries kept (0: forever) */
    /* Retention */
    int audit_retention_days; /* audit partitions kept (0: forever) */
    /* Vault */
    int vault_refresh_skew_s; /* refresh provider tokens expiring within this */
} config;

/* Fills defaults (threads from ncpu). */
void config_defaults(config *c, int ncpu);

/* Applies environment then argv (argv[0] is the first flag, not the program).
 * Returns 0, 1 when --help was asked (usage written to out), or -1 with a
 * message in err. `env` looks up a variable (getenv in production). */
int config_parse(config *c, int argc, char **argv, const char *(*env)(const char *),
                 char *err, size_t errlen);

/* Writes the usage text of `shark serve --help`. */
void config_usage(FILE *out);

#endif
