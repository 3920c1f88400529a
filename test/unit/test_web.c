/* The web guard's pure checks: Host and Origin against the issuer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "identity/web.h"

static void test_host_names_the_issuer(void **state)
{
    (void)state;
    const char *iss = "https://auth.example.com";
    assert_true(web_host_ok(iss, "auth.example.com", false));
    assert_true(web_host_ok(iss, "AUTH.Example.COM", false));
    assert_true(web_host_ok(iss, "auth.example.com:443", false));
    assert_false(web_host_ok(iss, "auth.example.com:8443", false));
    assert_false(web_host_ok(iss, "auth.example.com.", false));
    assert_false(web_host_ok(iss, "evil.example", false));
    assert_false(web_host_ok(iss, "auth.example.com.evil.example", false));
    assert_false(web_host_ok(iss, "", false));
    assert_false(web_host_ok(iss, NULL, false));
    assert_false(web_host_ok(iss, "user@auth.example.com", false));
    assert_true(web_host_ok(iss, "auth.example.com:", false)); /* empty port: the default */
    assert_false(web_host_ok(iss, "auth.example.com:99999", false));
    assert_false(web_host_ok(iss, "auth.example.com/x", false));
    /* A loopback Host is no name for a public issuer... */
    assert_false(web_host_ok(iss, "127.0.0.1:8080", false));
    assert_false(web_host_ok(iss, "localhost", false));
    /* ...unless the caller allows any loopback literal (first-boot key). */
    assert_true(web_host_ok(iss, "127.0.0.1:8080", true));
    assert_true(web_host_ok(iss, "[::1]", true));
    assert_false(web_host_ok(iss, "127.0.0.2", true));
    /* Ports and paths of the issuer. */
    assert_true(web_host_ok("http://auth.internal:8080/shark", "auth.internal:8080", false));
    assert_false(web_host_ok("http://auth.internal:8080/shark", "auth.internal", false));
    assert_true(web_host_ok("http://auth.internal", "auth.internal:80", false));
}

static void test_loopback_issuer_takes_any_loopback_literal(void **state)
{
    (void)state;
    const char *iss = "http://127.0.0.1:8080";
    assert_true(web_host_ok(iss, "127.0.0.1:8080", false));
    assert_true(web_host_ok(iss, "localhost:8080", false));
    assert_true(web_host_ok(iss, "LOCALHOST", false));
    assert_true(web_host_ok(iss, "[::1]:9000", false));
    assert_false(web_host_ok(iss, "rebound.attacker.example:8080", false));
    assert_false(web_host_ok(iss, "localhost.attacker.example", false));
    assert_false(web_host_ok(iss, "[::1", false));
    assert_true(web_host_ok("http://[::1]:8080", "localhost", false));
    assert_true(web_host_is_loopback("localhost:1"));
    assert_true(web_host_is_loopback("[::1]"));
    assert_false(web_host_is_loopback("[::2]"));
    assert_false(web_host_is_loopback("127.0.0.1.nip.io"));
    assert_false(web_host_is_loopback(NULL));
}

static void test_origin_is_ours(void **state)
{
    (void)state;
    const char *iss = "https://auth.example.com";
    assert_true(web_origin_ok(iss, "auth.example.com", "https://auth.example.com"));
    assert_true(web_origin_ok(iss, "auth.example.com", "https://auth.example.com:443"));
    assert_false(web_origin_ok(iss, "auth.example.com", "http://auth.example.com"));
    assert_false(web_origin_ok(iss, "auth.example.com", "https://evil.example"));
    assert_false(web_origin_ok(iss, "auth.example.com", "https://auth.example.com/"));
    assert_false(web_origin_ok(iss, "auth.example.com", "null"));
    assert_false(web_origin_ok(iss, "auth.example.com", NULL));
    /* A loopback issuer: the origin is the one the browser used. */
    iss = "http://127.0.0.1:8080";
    assert_true(web_origin_ok(iss, "localhost:8080", "http://localhost:8080"));
    assert_true(web_origin_ok(iss, "127.0.0.1:8080", "http://127.0.0.1:8080"));
    assert_false(web_origin_ok(iss, "127.0.0.1:8080", "http://localhost:8080"));
    assert_false(web_origin_ok(iss, "127.0.0.1:8080", "http://127.0.0.1:3000"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_names_the_issuer),
        cmocka_unit_test(test_loopback_issuer_takes_any_loopback_literal),
        cmocka_unit_test(test_origin_is_ours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
