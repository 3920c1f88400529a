#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/log.h"

/* A fake environment: NULL-terminated name/value pairs. */
static const char *const *fake_env;
static int env_lookups;

static const char *env_get(const char *name)
{
    env_lookups++;
    for (int i = 0; fake_env != NULL && fake_env[i] != NULL; i += 2)
        if (strcmp(fake_env[i], name) == 0)
            return fake_env[i + 1];
    return NULL;
}

static char err[512];

/* Parses argv (a NULL-terminated list) with the given fake environment. */
static int parse_with(config *c, const char *const *env, const char *const *args)
{
    char *argv[64];
    int argc = 0;
    for (; args != NULL && args[argc] != NULL; argc++)
        argv[argc] = (char *)args[argc];
    argv[argc] = NULL;
    fake_env = env;
    err[0] = '\0';
    config_defaults(c, 4);
    return config_parse(c, argc, argv, env_get, err, sizeof(err));
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOARGS ((const char *const *)NULL)

static void expect_fail(const char *const *env, const char *const *args, const char *mention)
{
    config c;
    int rc = parse_with(&c, env, args);
    if (rc != -1)
        fail_msg("expected -1, got %d (mention %s)", rc, mention);
    if (strstr(err, mention) == NULL)
        fail_msg("error '%s' does not mention '%s'", err, mention);
}

static void test_defaults(void **state)
{
    (void)state;
    config c;
    env_lookups = 0;
    assert_int_equal(parse_with(&c, NULL, NOARGS), 0);
    assert_true(env_lookups > 0);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_string_equal(c.data_dir, "./data");
    assert_string_equal(c.db, "");
    assert_int_equal(c.threads, 4);
    assert_string_equal(c.issuer, "http://127.0.0.1:8080");
    assert_int_equal(c.log_level, LOG_INFO);
    assert_string_equal(c.tls_cert, "");
    assert_string_equal(c.tls_key, "");
    assert_true(c.rate_rps == 100);
    assert_true(c.rate_burst == 100);
    assert_int_equal(c.n_trusted_proxies, 0);
    assert_int_equal(c.request_timeout_ms, 10000);
    assert_int_equal(c.idle_timeout_ms, 60000);
    assert_int_equal(c.shutdown_timeout_ms, 10000);
    assert_int_equal(c.db_pool_size, 4);
    assert_int_equal(c.max_body, 1024 * 1024);
    assert_int_equal(c.max_header, 16 * 1024);
    assert_int_equal(c.max_connections, 10000);
    assert_int_equal(c.max_connections_per_ip, 256);

    config_defaults(&c, 0);
    assert_int_equal(c.threads, 1);
    config_defaults(&c, -3);
    assert_int_equal(c.threads, 1);
}

static void test_env_then_flags(void **state)
{
    (void)state;
    const char *const env[] = {
        "SHARK_LISTEN",
        "0.0.0.0:9000",
        "SHARK_THREADS",
        "3",
        "SHARK_DB",
        "postgres://x/y",
        "SHARK_LOG_LEVEL",
        "debug",
        "SHARK_DATA_DIR",
        "/var/lib/shark",
        "SHARK_DB_POOL",
        "7",
        "SHARK_IDLE_TIMEOUT",
        "5",
        "SHARK_RATE_LIMIT",
        "20:40",
        "SHARK_TRUSTED_PROXY",
        "10.0.0.0/8",
        "SHARK_ISSUER",
        "", /* empty: ignored */
        "SHARK_MAX_CONNECTIONS",
        "500",
        "SHARK_MAX_CONNECTIONS_PER_IP",
        "20",
        NULL,
    };
    config c;
    assert_int_equal(parse_with(&c, env, NOARGS), 0);
    assert_string_equal(c.listen_host, "0.0.0.0");
    assert_int_equal(c.listen_port, 9000);
    assert_int_equal(c.threads, 3);
    assert_string_equal(c.db, "postgres://x/y");
    assert_int_equal(c.log_level, LOG_DEBUG);
    assert_string_equal(c.data_dir, "/var/lib/shark");
    assert_int_equal(c.db_pool_size, 7);
    assert_int_equal(c.idle_timeout_ms, 5000);
    assert_true(c.rate_rps == 20 && c.rate_burst == 40);
    assert_int_equal(c.n_trusted_proxies, 1);
    assert_string_equal(c.issuer, "http://0.0.0.0:9000");
    assert_int_equal(c.max_connections, 500);
    assert_int_equal(c.max_connections_per_ip, 20);

    /* Flags win over the environment; both flag forms work. */
    assert_int_equal(
        parse_with(&c, env,
                   ARGS("--threads=8", "--listen", "127.0.0.1:7000", "--log-level", "error",
                        "--db=", "--trusted-proxy", "192.168.0.0/16,::1", "--request-timeout=30",
                        "--max-connections-per-ip", "1", "--max-connections=1000000")),
        0);
    assert_int_equal(c.max_connections_per_ip, 1);
    assert_int_equal(c.max_connections, 1000000);
    assert_int_equal(c.threads, 8);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 7000);
    assert_int_equal(c.log_level, LOG_ERROR);
    assert_string_equal(c.db, ""); /* --db= clears it */
    assert_int_equal(c.n_trusted_proxies, 2);
    assert_int_equal(c.request_timeout_ms, 30000);
    assert_string_equal(c.data_dir, "/var/lib/shark"); /* untouched by flags */
    assert_string_equal(c.issuer, "http://127.0.0.1:7000");

    /* The later of two flags wins. */
    assert_int_equal(parse_with(&c, NULL, ARGS("--threads", "2", "--threads=5")), 0);
    assert_int_equal(c.threads, 5);
}

static void test_every_level_and_alias(void **state)
{
    (void)state;
    config c;
    const char *names[] = {"debug", "info", "warn", "error", "off"};
    int levels[] = {LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(parse_with(&c, NULL, ARGS("--log-level", names[i])), 0);
        assert_int_equal(c.log_level, levels[i]);
    }
    assert_int_equal(parse_with(&c, NULL, ARGS("--base-url=https://auth.example.com")), 0);
    assert_string_equal(c.issuer, "https://auth.example.com");
    assert_int_equal(parse_with(&c, NULL, ARGS("--shutdown-timeout", "3", "--db-pool", "64")), 0);
    assert_int_equal(c.shutdown_timeout_ms, 3000);
    assert_int_equal(c.db_pool_size, 64);
}

static void test_bad_values(void **state)
{
    (void)state;
    expect_fail(NULL, ARGS("--threads", "0"), "--threads");
    expect_fail(NULL, ARGS("--threads", "257"), "--threads");
    expect_fail(NULL, ARGS("--threads=abc"), "--threads");
    expect_fail(NULL, ARGS("--threads=4x"), "--threads");
    expect_fail(NULL, ARGS("--threads="), "--threads");
    expect_fail(NULL, ARGS("--threads=99999999999999999999"), "--threads");
    expect_fail(NULL, ARGS("--db-pool", "65"), "--db-pool");
    expect_fail(NULL, ARGS("--max-connections", "0"), "--max-connections");
    expect_fail(NULL, ARGS("--max-connections", "1000001"), "--max-connections");
    expect_fail(NULL, ARGS("--max-connections-per-ip", "0"), "--max-connections-per-ip");
    expect_fail(NULL, ARGS("--max-connections-per-ip=lots"), "--max-connections-per-ip");
    expect_fail(NULL, ARGS("--request-timeout", "0"), "--request-timeout");
    expect_fail(NULL, ARGS("--idle-timeout", "-5"), "--idle-timeout");
    expect_fail(NULL, ARGS("--shutdown-timeout", "3601"), "--shutdown-timeout");
    expect_fail(NULL, ARGS("--log-level", "verbose"), "--log-level");
    expect_fail(NULL, ARGS("--log-level", "INFO"), "--log-level");
    expect_fail(NULL, ARGS("--listen", "nohost"), "--listen");
    expect_fail(NULL, ARGS("--listen", "127.0.0.1:"), "--listen");
    expect_fail(NULL, ARGS("--listen", "127.0.0.1:65536"), "--listen");
    expect_fail(NULL, ARGS("--listen", ":8080"), "--listen");
    expect_fail(NULL, ARGS("--listen", "example.com:80"), "--listen");
    expect_fail(NULL, ARGS("--listen", "[]:80"), "--listen");
    expect_fail(NULL, ARGS("--trusted-proxy", "10.0.0.0/33"), "--trusted-proxy");
    expect_fail(NULL, ARGS("--trusted-proxy", "10.0.0.0/8,bogus"), "--trusted-proxy");
    expect_fail(NULL, ARGS("--issuer", "ftp://x"), "--issuer");
    expect_fail(NULL, ARGS("--issuer", "auth.example.com"), "--issuer");
    /* A value too long for its buffer. */
    char longv[2000];
    memset(longv, 'a', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    expect_fail(NULL, ARGS("--data-dir", longv), "--data-dir");
    /* A flag at the end with no value. */
    expect_fail(NULL, ARGS("--threads"), "--threads");
    /* Bad environment values name the variable. */
    const char *const env[] = {"SHARK_THREADS", "many", NULL};
    expect_fail(env, NOARGS, "SHARK_THREADS");
    const char *const env2[] = {"SHARK_LISTEN", "localhost", NULL};
    expect_fail(env2, NOARGS, "SHARK_LISTEN");
}

static void test_unknown_flag_and_help(void **state)
{
    (void)state;
    expect_fail(NULL, ARGS("--nope"), "--nope");
    expect_fail(NULL, ARGS("--nope=3"), "--nope");
    expect_fail(NULL, ARGS("--thread=3"), "--thread");
    expect_fail(NULL, ARGS("--listen-x", "1"), "--listen-x");
    expect_fail(NULL, ARGS("stray"), "stray");
    expect_fail(NULL, ARGS("-t"), "-t");
    config c;
    assert_int_equal(parse_with(&c, NULL, ARGS("--help")), 1);
    assert_int_equal(parse_with(&c, NULL, ARGS("-h")), 1);
    assert_int_equal(parse_with(&c, NULL, ARGS("--threads", "2", "--help")), 1);

    /* The usage text lists every flag. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    config_usage(f);
    fclose(f);
    const char *flags[] = {"--listen",
                           "--data-dir",
                           "--db",
                           "--threads",
                           "--issuer",
                           "--log-level",
                           "--tls-cert",
                           "--tls-key",
                           "--rate-limit",
                           "--trusted-proxy",
                           "--request-timeout",
                           "--idle-timeout",
                           "--shutdown-timeout",
                           "--db-pool",
                           "--max-connections",
                           "--max-connections-per-ip",
                           "SHARK_MAX_CONNECTIONS_PER_IP",
                           "SHARK_LISTEN"};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (strstr(buf, flags[i]) == NULL)
            fail_msg("usage lacks %s", flags[i]);
    free(buf);
}

static void test_listen_forms(void **state)
{
    (void)state;
    config c;
    assert_int_equal(parse_with(&c, NULL, ARGS("--listen", "[::1]:9000")), 0);
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 9000);
    assert_string_equal(c.issuer, "http://[::1]:9000");

    assert_int_equal(parse_with(&c, NULL, ARGS("--listen=[::]:443")), 0);
    assert_string_equal(c.listen_host, "::");
    assert_int_equal(c.listen_port, 443);

    assert_int_equal(parse_with(&c, NULL, ARGS("--listen", "localhost:8081")), 0);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8081);
    assert_string_equal(c.issuer, "http://127.0.0.1:8081");

    assert_int_equal(parse_with(&c, NULL, ARGS("--listen", "10.1.2.3:1")), 0);
    assert_string_equal(c.listen_host, "10.1.2.3");
    assert_int_equal(c.listen_port, 1);
}

static void test_rate_limit_forms(void **state)
{
    (void)state;
    config c;
    assert_int_equal(parse_with(&c, NULL, ARGS("--rate-limit", "0")), 0);
    assert_true(c.rate_rps == 0);
    assert_int_equal(parse_with(&c, NULL, ARGS("--rate-limit=5:10")), 0);
    assert_true(c.rate_rps == 5 && c.rate_burst == 10);
    assert_int_equal(parse_with(&c, NULL, ARGS("--rate-limit", "7")), 0);
    assert_true(c.rate_rps == 7 && c.rate_burst == 7);
    assert_int_equal(parse_with(&c, NULL, ARGS("--rate-limit", "0.5:2")), 0);
    assert_true(c.rate_rps == 0.5 && c.rate_burst == 2);
    const char *bad[] = {"abc",    "-1",  "5:",  ":5",   "5:0", "5:abc",
                         "5:10:3", "nan", "inf", "1e10", "",    "5 "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_fail(NULL, ARGS("--rate-limit", bad[i]), "--rate-limit");
    /* A failed flag does not leave a half-applied value behind. */
    assert_int_equal(parse_with(&c, NULL, ARGS("--rate-limit", "3:4")), 0);
    assert_int_equal(
        config_parse(&c, 2, (char *[]){"--rate-limit", "9:0", NULL}, env_get, err, sizeof(err)),
        -1);
    assert_true(c.rate_rps == 3 && c.rate_burst == 4);
}

static void test_trusted_proxy_lists(void **state)
{
    (void)state;
    config c;
    assert_int_equal(
        parse_with(&c, NULL, ARGS("--trusted-proxy", "10.0.0.0/8, 172.16.0.0/12,::1,fd00::/8")), 0);
    assert_int_equal(c.n_trusted_proxies, 4);
    uint8_t a[16];
    assert_int_equal(cidr_addr_parse("172.20.1.1", a), 0);
    assert_true(cidr_match_any(c.trusted_proxies, c.n_trusted_proxies, a));
    assert_int_equal(cidr_addr_parse("172.32.0.1", a), 0);
    assert_false(cidr_match_any(c.trusted_proxies, c.n_trusted_proxies, a));
    assert_int_equal(cidr_addr_parse("fd12::1", a), 0);
    assert_true(cidr_match_any(c.trusted_proxies, c.n_trusted_proxies, a));

    /* A flag replaces the environment's list. */
    const char *const env[] = {"SHARK_TRUSTED_PROXY", "10.0.0.0/8,10.1.0.0/16", NULL};
    assert_int_equal(parse_with(&c, env, ARGS("--trusted-proxy=127.0.0.1")), 0);
    assert_int_equal(c.n_trusted_proxies, 1);

    /* At most CONFIG_MAX_PROXIES entries. */
    char list[2048] = "";
    for (int i = 0; i < CONFIG_MAX_PROXIES; i++) {
        char item[32];
        snprintf(item, sizeof(item), "%s10.0.%d.0/24", i ? "," : "", i);
        strcat(list, item);
    }
    assert_int_equal(parse_with(&c, NULL, ARGS("--trusted-proxy", list)), 0);
    assert_int_equal(c.n_trusted_proxies, CONFIG_MAX_PROXIES);
    strcat(list, ",10.9.9.0/24");
    expect_fail(NULL, ARGS("--trusted-proxy", list), "--trusted-proxy");
}

static void test_tls_pair(void **state)
{
    (void)state;
    expect_fail(NULL, ARGS("--tls-cert", "/etc/cert.pem"), "--tls-key");
    expect_fail(NULL, ARGS("--tls-key", "/etc/key.pem"), "--tls-cert");
    const char *const env[] = {"SHARK_TLS_CERT", "/etc/cert.pem", NULL};
    expect_fail(env, NOARGS, "--tls-key");
    config c;
    assert_int_equal(
        parse_with(&c, env, ARGS("--tls-key=/etc/key.pem", "--listen", "0.0.0.0:8443")), 0);
    assert_string_equal(c.tls_cert, "/etc/cert.pem");
    assert_string_equal(c.tls_key, "/etc/key.pem");
    /* TLS makes the derived issuer https. */
    assert_string_equal(c.issuer, "https://0.0.0.0:8443");
}

static void test_dcr_scopes(void **state)
{
    (void)state;
    config c;
    assert_int_equal(parse_with(&c, NULL, NOARGS), 0);
    assert_string_equal(c.dcr_scopes, "openid profile email offline_access");
    const char *const env[] = {"SHARK_DCR_SCOPES", "openid mcp:read", NULL};
    assert_int_equal(parse_with(&c, env, NOARGS), 0);
    assert_string_equal(c.dcr_scopes, "openid mcp:read");
    assert_int_equal(parse_with(&c, env, ARGS("--dcr-scopes", "")), 0);
    assert_string_equal(c.dcr_scopes, "");
    expect_fail(NULL, ARGS("--dcr-scopes", "openid  email"), "--dcr-scopes");
    expect_fail(NULL, ARGS("--dcr-scopes", " openid"), "--dcr-scopes");
    expect_fail(NULL, ARGS("--dcr-scopes", "openid "), "--dcr-scopes");
    expect_fail(NULL, ARGS("--dcr-scopes", "a\"b"), "--dcr-scopes");
    expect_fail(NULL, ARGS("--dcr-scopes", "caf\xc3\xa9"), "--dcr-scopes");
}

static void test_issuer(void **state)
{
    (void)state;
    config c;
    assert_int_equal(parse_with(&c, NULL, ARGS("--issuer", "https://auth.example.com/")), 0);
    assert_string_equal(c.issuer, "https://auth.example.com");
    assert_int_equal(parse_with(&c, NULL, ARGS("--issuer", "https://auth.example.com/t1///")), 0);
    assert_string_equal(c.issuer, "https://auth.example.com/t1");
    /* An explicit issuer is not replaced by the listen address. */
    assert_int_equal(
        parse_with(&c, NULL, ARGS("--listen", "[::1]:9000", "--issuer", "http://a.example")), 0);
    assert_string_equal(c.issuer, "http://a.example");
    const char *const env[] = {"SHARK_ISSUER", "https://env.example/", NULL};
    assert_int_equal(parse_with(&c, env, NOARGS), 0);
    assert_string_equal(c.issuer, "https://env.example");
    expect_fail(NULL, ARGS("--issuer", "https:///"), "--issuer");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_env_then_flags),
        cmocka_unit_test(test_every_level_and_alias),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_unknown_flag_and_help),
        cmocka_unit_test(test_listen_forms),
        cmocka_unit_test(test_rate_limit_forms),
        cmocka_unit_test(test_trusted_proxy_lists),
        cmocka_unit_test(test_tls_pair),
        cmocka_unit_test(test_dcr_scopes),
        cmocka_unit_test(test_issuer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
