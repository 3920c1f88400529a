/* protocol/redirect_uri.c: which redirect URIs a client may register (OAuth 2.1:
 * absolute https, http only for loopback, no fragment, no credentials). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/redirect_uri.h"

#define OK(u) assert_null(oauth_redirect_uri_problem(u))
#define BAD(u) assert_non_null(oauth_redirect_uri_problem(u))

static void test_accepted(void **state)
{
    (void)state;
    OK("https://app.example.com/cb");
    OK("https://app.example.com");
    OK("HTTPS://app.example.com/cb?x=1");
    OK("https://app.example.com:8443/cb");
    OK("https://[2001:db8::1]/cb");
    OK("https://[2001:db8::1]:8443/cb");
    OK("http://127.0.0.1:49152/cb");
    OK("http://[::1]/cb");
    OK("http://localhost:3000/cb");
    OK("http://LOCALHOST/cb");
}

static void test_refused(void **state)
{
    (void)state;
    BAD("");
    BAD("/cb"); /* relative */
    BAD("app.example.com/cb");
    BAD("ftp://app.example.com/cb");
    BAD("javascript:alert(1)");
    BAD("http://app.example.com/cb"); /* http off loopback */
    BAD("http://127.0.0.2/cb");
    BAD("http://localhost.evil.example/cb");
    BAD("https://app.example.com/cb#frag"); /* fragments are never allowed */
    BAD("https://user:pw@app.example.com/cb");
    BAD("https://app.example.com@evil.example/cb");
    BAD("https:///cb"); /* no host */
    BAD("https://:443/cb");
    BAD("https://app.example.com:/cb"); /* empty port */
    BAD("https://app.example.com:123456/cb");
    BAD("https://app.example.com:44a/cb");
    BAD("https://[2001:db8::1/cb"); /* unclosed literal */
    BAD("https://app.example.com/c b");
    BAD("https://app.example.com/\tcb");
    BAD("https://app.example.com/caf\xc3\xa9");
}

static void test_length(void **state)
{
    (void)state;
    char u[4200];
    strcpy(u, "https://app.example.com/");
    size_t n = strlen(u);
    memset(u + n, 'a', sizeof(u) - n - 1);
    u[sizeof(u) - 1] = '\0';
    BAD(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
