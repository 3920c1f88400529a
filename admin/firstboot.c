#include "firstboot.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../core/file.h"
#include "../core/log.h"
#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../store/system.h"
#include "shark_config.h"

static int parse_hex32(const char *s, uint8_t out[32])
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    if (n != 64)
        return -1;
    for (size_t i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int read_small(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    return 0;
}

int firstboot_master_key(app *a, const char *env_value, char *err, size_t errlen)
{
    char path[1100], text[160];
    if (env_value != NULL && *env_value != '\0') {
        if (parse_hex32(env_value, a->master_key) != 0) {
            snprintf(err, errlen, "SHARK_MASTER_KEY must be 64 hex characters (32 bytes)");
            return -1;
        }
        return 0;
    }
    snprintf(path, sizeof(path), "%s/master.key", a->cfg.data_dir);
    if (read_small(path, text, sizeof(text)) == 0) {
        int rc = parse_hex32(text, a->master_key);
        memset(text, 0, sizeof(text));
        if (rc != 0) {
            snprintf(err, errlen, "%s is not a 64-hex-character key", path);
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    hash_random(a->master_key, sizeof(a->master_key));
    enc_hex(a->master_key, sizeof(a->master_key), text, sizeof(text));
    strcat(text, "\n");
    int rc = file_write_secret(path, text, (uid_t)-1, (gid_t)-1, err, errlen);
    memset(text, 0, sizeof(text));
    if (rc == 0)
        log_msg(LOG_INFO, "created master key", "path", path, NULL);
    return rc;
}

int firstboot_run(app *a, char *err, size_t errlen)
{
    uint8_t raw[32], idraw[8];
    char key[96], hash[65], id[40], path[1100], line[100];
    bool created = false;
    int rc = -1;
    snprintf(path, sizeof(path), "%s/admin.key.firstboot", a->cfg.data_dir);

    hash_random(raw, sizeof(raw));
    hash_random(idraw, sizeof(idraw));
    memcpy(key, "sk_live_", 8);
    if (enc_base62(raw, sizeof(raw), key + 8, sizeof(key) - 8) < 0)
        goto done;
    memcpy(id, "adminkey_", 9);
    enc_hex(idraw, sizeof(idraw), id + 9, sizeof(id) - 9);
    hash_sha256_hex(key, strlen(key), hash);

    char tmp_path[1200];
    snprintf(tmp_path, sizeof(tmp_path), "%s.new", path);
    /* The key reaches disk before the database knows its hash, so a crash in
     * between cannot leave an installation whose key nobody has. */
    snprintf(line, sizeof(line), "%s\n", key);
    if (file_write_secret(tmp_path, line, (uid_t)-1, (gid_t)-1, err, errlen) != 0)
        goto done;
    if (store_system_boot(a->conninfo, id, hash, SHARK_VERSION, &created, err, errlen) != 0) {
        unlink(tmp_path);
        goto done;
    }
    if (created) {
        if (rename(tmp_path, path) != 0) {
            snprintf(err, errlen, "cannot store the admin key in %s", path);
            goto done;
        }
        printf("\n  SharkAuth first boot. Your admin API key (shown once; also saved to %s):\n\n"
               "      %s\n\n  Dashboard: %s/admin\n\n",
               path, key, a->cfg.issuer);
        fflush(stdout);
    } else {
        unlink(tmp_path);
    }
    char text[128];
    if (read_small(path, text, sizeof(text)) == 0) {
        text[strcspn(text, "\r\n")] = '\0';
        snprintf(a->firstboot_key, sizeof(a->firstboot_key), "%s", text);
        memset(text, 0, sizeof(text));
    }
    rc = 0;
done:
    memset(raw, 0, sizeof(raw));
    memset(key, 0, sizeof(key));
    memset(line, 0, sizeof(line));
    return rc;
}
