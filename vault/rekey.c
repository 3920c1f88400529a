/*
 * `shark vault rekey --new-master-key-file F`: re-seals every sealed column
 * under a new master key, offline. The server must be stopped: a running
 * server keeps the old key in memory and would seal new values with it
 * (with the embedded database the data-directory lock enforces this; with
 * --db, stop every node first).
 *
 * Crash safety: the new key is written to <data-dir>/master.key.new before
 * the transaction commits and renamed over master.key after it, so at every
 * moment one of the two files holds the key the database needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "../admin/firstboot.h"
#include "../crypto/encoding.h"
#include "../crypto/seal.h"
#include "../store/embed.h"
#include "../store/vault.h"
#include "vault.h"

static const char usage[] =
    "usage: shark vault rekey --new-master-key-file FILE [--data-dir DIR] [--db URL]\n\n"
    "Re-seals every sealed value (signing keys, webhook secrets, vault provider secrets\n"
    "and connection tokens) under the 32-byte key in FILE (64 hex characters), in one\n"
    "transaction, then makes it <data-dir>/master.key. Stop the server first.\n";

struct keys {
    uint8_t old_key[32], new_key[32];
};

static const char *env_get(const char *name)
{
    return getenv(name);
}

static long reseal(void *ud, const uint8_t *box, size_t n, const char *ad, uint8_t *out,
                   size_t outsz)
{
    struct keys *k = ud;
    uint8_t *plain = malloc(n + 1);
    if (plain == NULL)
        return -1;
    long m = seal_open(k->old_key, box, n, (const uint8_t *)ad, strlen(ad), plain, n);
    long r = m < 0 ? -1
                   : seal_box(k->new_key, 1, plain, (size_t)m, (const uint8_t *)ad, strlen(ad),
                              out, outsz);
    sodium_memzero(plain, n + 1);
    free(plain);
    return r;
}

static int read_key_file(const char *path, uint8_t key[32], char hex[65], char *err, size_t errlen)
{
    char buf[200] = "";
    FILE *f = fopen(path, "re");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    while (n > 0 && strchr("\r\n \t", buf[n - 1]) != NULL)
        n--;
    buf[n] = '\0';
    int rc = -1;
    if (f == NULL)
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    else if (n != 64 || strspn(buf, "0123456789abcdefABCDEF") != 64)
        snprintf(err, errlen, "%s must hold 64 hex characters (32 bytes)", path);
    else
        rc = 0;
    for (size_t i = 0; rc == 0 && i < 32; i++) {
        unsigned v;
        sscanf(buf + 2 * i, "%2x", &v);
        key[i] = (uint8_t)v;
    }
    if (rc == 0)
        enc_hex(key, 32, hex, 65);
    sodium_memzero(buf, sizeof(buf));
    return rc;
}

static int write_key(const char *path, const char *hex, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    char line[80];
    int n = snprintf(line, sizeof(line), "%s\n", hex);
    int rc = fd >= 0 && write(fd, line, (size_t)n) == n && fsync(fd) == 0 ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    sodium_memzero(line, sizeof(line));
    return rc;
}

static int rekey(int argc, char **argv)
{
    static app a; /* large; only cfg and master_key are used */
    static char *rest[64];
    struct keys k;
    char err[1024] = "", hex[65] = "", path[1100], tmp[1200];
    const char *key_file = NULL, *env = getenv("SHARK_MASTER_KEY");
    int nrest = 0, lockfd = -1, rc = 1;
    store_embed *embed = NULL;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--new-master-key-file") == 0 && i + 1 < argc)
            key_file = argv[++i];
        else if (strncmp(argv[i], "--new-master-key-file=", 22) == 0)
            key_file = argv[i] + 22;
        else if (nrest < 64)
            rest[nrest++] = argv[i];
    }
    config_defaults(&a.cfg, 1);
    if (key_file == NULL || config_parse(&a.cfg, nrest, rest, env_get, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s%s%s", err, err[0] ? "\n\n" : "", usage);
        return 2;
    }
    snprintf(path, sizeof(path), "%s/master.key", a.cfg.data_dir);
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    if ((env == NULL || *env == '\0') && access(path, F_OK) != 0) {
        snprintf(err, sizeof(err), "no master key at %s: is --data-dir right?", path);
        goto done;
    }
    if (read_key_file(key_file, k.new_key, hex, err, sizeof(err)) != 0 ||
        firstboot_master_key(&a, env, err, sizeof(err)) != 0)
        goto done;
    memcpy(k.old_key, a.master_key, 32);
    if (sodium_memcmp(k.old_key, k.new_key, 32) == 0) {
        snprintf(err, sizeof(err), "the new key is the current key");
        goto done;
    }
    char lock[1100];
    snprintf(lock, sizeof(lock), "%s/shark.lock", a.cfg.data_dir);
    lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, sizeof(err), "%s is in use: stop the server before rekeying", a.cfg.data_dir);
        goto done;
    }
    if (a.cfg.db[0] != '\0')
        snprintf(a.conninfo, sizeof(a.conninfo), "%s", a.cfg.db);
    else if ((embed = store_embed_start(a.cfg.data_dir, a.conninfo, sizeof(a.conninfo), err,
                                        sizeof(err))) == NULL)
        goto done;
    if (store_migrate(a.conninfo, err, sizeof(err)) != 0)
        goto done;
    bool to_file = env == NULL || *env == '\0';
    if (to_file && write_key(tmp, hex, err, sizeof(err)) != 0)
        goto done;
    long n = store_vault_rekey(a.conninfo, reseal, &k, err, sizeof(err));
    if (n < 0) {
        if (to_file)
            unlink(tmp);
        goto done;
    }
    if (to_file && rename(tmp, path) != 0) {
        snprintf(err, sizeof(err), "re-sealed, but cannot rename %s to %s (%s): do it by hand",
                 tmp, path, strerror(errno));
        goto done;
    }
    printf("re-sealed %ld values under the new master key\n", n);
    if (to_file)
        printf("%s now holds the new key\n", path);
    else
        printf("SHARK_MASTER_KEY is set: set it to the new key before starting the server\n");
    rc = 0;
done:
    if (rc != 0)
        fprintf(stderr, "shark vault rekey: %s\n", err);
    if (embed != NULL)
        store_embed_stop(embed);
    if (lockfd >= 0)
        close(lockfd);
    sodium_memzero(&k, sizeof(k));
    sodium_memzero(hex, sizeof(hex));
    sodium_memzero(a.master_key, sizeof(a.master_key));
    return rc;
}

int vault_cli_main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "shark: libsodium failed to initialise\n");
        return 1;
    }
    if (argc >= 1 && strcmp(argv[0], "rekey") == 0)
        return rekey(argc - 1, argv + 1);
    fputs(usage, argc >= 1 && strcmp(argv[0], "--help") == 0 ? stdout : stderr);
    return argc >= 1 && strcmp(argv[0], "--help") == 0 ? 0 : 2;
}
