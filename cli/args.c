#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct flag {
    const char *name;
    unsigned bit;
    size_t off;
    bool boolean;
} flags[] = {
    {"url", CLI_F_URL, offsetof(cli_args, url), false},
    {"admin-key", CLI_F_ADMIN_KEY, offsetof(cli_args, admin_key), false},
    {"admin-key-file", CLI_F_ADMIN_KEY_FILE, offsetof(cli_args, admin_key_file), false},
    {"data-dir", CLI_F_DATA_DIR, offsetof(cli_args, data_dir), false},
    {"json", CLI_F_JSON, offsetof(cli_args, json), true},
    {"help", CLI_F_HELP, offsetof(cli_args, help), true},
    {"name", CLI_F_NAME, offsetof(cli_args, name), false},
    {"description", CLI_F_DESCRIPTION, offsetof(cli_args, description), false},
    {"scopes", CLI_F_SCOPES, offsetof(cli_args, scopes), false},
    {"app", CLI_F_APP, offsetof(cli_args, app), false},
    {"created-by", CLI_F_CREATED_BY, offsetof(cli_args, created_by), false},
    {"status", CLI_F_STATUS, offsetof(cli_args, status), false},
    {"agents", CLI_F_AGENTS, offsetof(cli_args, agents), false},
    {"reason", CLI_F_REASON, offsetof(cli_args, reason), false},
    {"actor", CLI_F_ACTOR, offsetof(cli_args, actor), false},
    {"event", CLI_F_EVENT, offsetof(cli_args, event), false},
    {"since", CLI_F_SINCE, offsetof(cli_args, since), false},
    {"until", CLI_F_UNTIL, offsetof(cli_args, until), false},
    {"limit", CLI_F_LIMIT, offsetof(cli_args, limit), false},
    {"offset", CLI_F_OFFSET, offsetof(cli_args, offset), false},
    {"cursor", CLI_F_CURSOR, offsetof(cli_args, cursor), false},
    {"follow", CLI_F_FOLLOW, offsetof(cli_args, follow), true},
};

#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

static const struct flag *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (strlen(flags[i].name) == len && memcmp(flags[i].name, name, len) == 0)
            return &flags[i];
    return NULL;
}

int cli_args_parse(cli_args *a, int argc, char **argv, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    bool flags_done = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!flags_done && strcmp(arg, "--") == 0) {
            flags_done = true;
            continue;
        }
        if (!flags_done && strcmp(arg, "-h") == 0)
            arg = "--help";
        if (flags_done || arg[0] != '-' || arg[1] == '\0') {
            if (a->npos == CLI_MAX_POS) {
                snprintf(err, errlen, "too many arguments (at '%s')", arg);
                return -1;
            }
            a->pos[a->npos++] = arg;
            continue;
        }
        if (arg[1] != '-') {
            snprintf(err, errlen, "unknown flag '%s'", arg);
            return -1;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        const struct flag *f = find_flag(name, eq ? (size_t)(eq - name) : strlen(name));
        if (f == NULL) {
            snprintf(err, errlen, "unknown flag '%.*s'", eq ? (int)(eq - arg) : (int)strlen(arg),
                     arg);
            return -1;
        }
        void *slot = (char *)a + f->off;
        if (f->boolean) {
            if (eq != NULL) {
                snprintf(err, errlen, "--%s takes no value", f->name);
                return -1;
            }
            *(bool *)slot = true;
        } else if (eq != NULL) {
            *(const char **)slot = eq + 1;
        } else if (i + 1 < argc) {
            *(const char **)slot = argv[++i];
        } else {
            snprintf(err, errlen, "--%s needs a value", f->name);
            return -1;
        }
        a->seen |= f->bit;
    }
    return 0;
}

const char *cli_args_value(const cli_args *a, unsigned bit)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (flags[i].bit == bit && !flags[i].boolean)
            return *(const char *const *)((const char *)a + flags[i].off);
    return NULL;
}

const char *cli_flag_name(unsigned bits)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (bits & flags[i].bit)
            return flags[i].name;
    return "?";
}

int cli_args_number(const char *flag, const char *s, long min, long max, long *out, char *err,
                    size_t errlen)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
        snprintf(err, errlen, "%s must be a whole number from %ld to %ld", flag, min, max);
        return -1;
    }
    *out = v;
    return 0;
}
