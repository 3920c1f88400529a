/* core/file: a secret file is written whole with mode 0600, replaces what was
 * there, never follows a link planted at its temporary name, and a failure
 * leaves nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"

static char dir[] = "/tmp/shark-file-test-XXXXXX";

static void path_in(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static void read_all(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    fclose(f);
}

static void test_write_replace(void **state)
{
    char path[256], tmp[300], buf[64], err[256] = "";
    struct stat st;

    (void)state;
    path_in(path, sizeof(path), "secret");
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_equal(file_write_secret(path, "one\n", (uid_t)-1, (gid_t)-1, err, sizeof(err)), 0);
    read_all(path, buf, sizeof(buf));
    assert_string_equal(buf, "one\n");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(file_write_secret(path, "two\n", getuid(), getgid(), err, sizeof(err)), 0);
    read_all(path, buf, sizeof(buf));
    assert_string_equal(buf, "two\n");
    assert_int_not_equal(access(tmp, F_OK), 0);
    unlink(path);
}

static void test_link_at_tmp_refused(void **state)
{
    char path[256], tmp[300], target[256], buf[64], err[256] = "";

    (void)state;
    path_in(path, sizeof(path), "linked");
    path_in(target, sizeof(target), "target");
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_equal(file_write_secret(target, "keep\n", (uid_t)-1, (gid_t)-1, err, sizeof(err)),
                     0);
    assert_int_equal(symlink(target, tmp), 0);
    assert_int_equal(file_write_secret(path, "new\n", (uid_t)-1, (gid_t)-1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot write"));
    read_all(target, buf, sizeof(buf));
    assert_string_equal(buf, "keep\n");
    assert_int_not_equal(access(path, F_OK), 0);
    unlink(tmp);
    unlink(target);
}

static void test_missing_dir(void **state)
{
    char path[256], err[256] = "";

    (void)state;
    path_in(path, sizeof(path), "no/such/dir/secret");
    assert_int_equal(file_write_secret(path, "x", (uid_t)-1, (gid_t)-1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot write"));
    assert_non_null(strstr(err, "secret.tmp"));
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_replace),
        cmocka_unit_test(test_link_at_tmp_refused),
        cmocka_unit_test(test_missing_dir),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
