/* core/assets and tools/embed_assets.py: the fixture directory is embedded
 * at build time (test/unit/meson.build) exactly as the dashboard is, and
 * the table must give every file back byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "core/assets.h"

extern const asset_table test_assets;

static char *slurp(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", FIXTURE_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[65536];
    *len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return buf;
}

static void test_every_file_comes_back_byte_for_byte(void **state)
{
    (void)state;
    const char *names[] = {"bytes.bin", "tricky.txt", "sub/big.js"};
    assert_int_equal(test_assets.n, 3);
    for (size_t i = 0; i < 3; i++) {
        char url[256];
        snprintf(url, sizeof(url), "/fx/%s", names[i]);
        const asset *a = assets_find(&test_assets, url);
        assert_non_null(a);
        size_t len;
        const char *want = slurp(names[i], &len);
        assert_int_equal(a->len, len);
        assert_memory_equal(a->data, want, len);
        assert_int_equal(a->etag[0], '"');
        assert_int_equal(strlen(a->etag), 26);
    }
    assert_string_equal(assets_find(&test_assets, "/fx/bytes.bin")->type, "application/octet-stream");
    assert_string_equal(assets_find(&test_assets, "/fx/tricky.txt")->type, "text/plain; charset=utf-8");
    assert_string_equal(assets_find(&test_assets, "/fx/sub/big.js")->type,
                        "text/javascript; charset=utf-8");
}

static void test_lookup_is_exact(void **state)
{
    (void)state;
    const char *misses[] = {"/fx/", "/fx/bytes", "/fx/bytes.bin/", "/fx/sub", "/fx/sub/big.j",
                            "fx/bytes.bin", "/FX/bytes.bin", "", "/fx/sub/big.jsx", "/zzz"};
    for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++)
        assert_null(assets_find(&test_assets, misses[i]));
    asset_table empty = {NULL, 0};
    assert_null(assets_find(&empty, "/fx/bytes.bin"));
}

/* A text file worth compressing carries a gzip form that inflates to it;
 * binary and small files carry none. */
static void test_gzip_form(void **state)
{
    (void)state;
    const asset *js = assets_find(&test_assets, "/fx/sub/big.js");
    assert_non_null(js->gz);
    assert_true(js->gzlen < js->len);
    static unsigned char out[65536];
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    z.next_in = (unsigned char *)js->gz;
    z.avail_in = (unsigned)js->gzlen;
    z.next_out = out;
    z.avail_out = sizeof(out);
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, js->len);
    assert_memory_equal(out, js->data, js->len);
    inflateEnd(&z);
    assert_null(assets_find(&test_assets, "/fx/bytes.bin")->gz);
    assert_null(assets_find(&test_assets, "/fx/tricky.txt")->gz);
}

static void test_accept_encoding(void **state)
{
    (void)state;
    const char *yes[] = {"gzip", "GZIP", "br, gzip", "gzip;q=1", "deflate, gzip;q=0.5",
                         "gzip ;q=0.001", "*;q=0, gzip"};
    const char *no[] = {NULL, "", "br", "identity", "gzip;q=0", "gzip; q=0.000", "x-gzip",
                        "gzipper", "br, gzip;q=0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(assets_accepts_gzip(yes[i]));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_false(assets_accepts_gzip(no[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_file_comes_back_byte_for_byte),
        cmocka_unit_test(test_lookup_is_exact),
        cmocka_unit_test(test_gzip_form),
        cmocka_unit_test(test_accept_encoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
