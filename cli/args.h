/* cli/args: the flags every admin command understands. One parse collects
 * all of them; each command then says which it accepts (cli.c), so a flag
 * given to the wrong command is a usage error rather than silently ignored. */
#ifndef SHARK_CLI_ARGS_H
#define SHARK_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>

enum {
    CLI_F_URL = 1u << 0,
    CLI_F_ADMIN_KEY = 1u << 1,
    CLI_F_DATA_DIR = 1u << 2,
    CLI_F_JSON = 1u << 3,
    CLI_F_HELP = 1u << 4,
    CLI_F_NAME = 1u << 5,
    CLI_F_DESCRIPTION = 1u << 6,
    CLI_F_SCOPES = 1u << 7,
    CLI_F_APP = 1u << 8,
    CLI_F_CREATED_BY = 1u << 9,
    CLI_F_STATUS = 1u << 10,
    CLI_F_AGENTS = 1u << 11,
    CLI_F_REASON = 1u << 12,
    CLI_F_ACTOR = 1u << 13,
    CLI_F_EVENT = 1u << 14,
    CLI_F_SINCE = 1u << 15,
    CLI_F_LIMIT = 1u << 16,
    CLI_F_OFFSET = 1u << 17,
    CLI_F_FOLLOW = 1u << 18,
    CLI_F_ADMIN_KEY_FILE = 1u << 19,
    CLI_F_UNTIL = 1u << 20,
    CLI_F_CURSOR = 1u << 21,
};

/* Accepted by every command. */
#define CLI_F_COMMON \
    (CLI_F_URL | CLI_F_ADMIN_KEY | CLI_F_ADMIN_KEY_FILE | CLI_F_DATA_DIR | CLI_F_JSON | CLI_F_HELP)

#define CLI_MAX_POS 4

/* Values point into argv; absent flags are NULL / false. */
typedef struct cli_args {
    const char *url, *admin_key, *admin_key_file, *data_dir;
    const char *name, *description, *scopes, *app, *created_by, *status, *agents, *reason;
    const char *actor, *event, *since, *until, *limit, *offset, *cursor;
    bool json, follow, help;
    unsigned seen; /* CLI_F_* bits of the flags given */
    int npos;
    const char *pos[CLI_MAX_POS];
} cli_args;

/* Parses `--flag value`, `--flag=value`, `-h` and `--` (ends flags). Returns 0,
 * or -1 with a message in err. */
int cli_args_parse(cli_args *a, int argc, char **argv, char *err, size_t errlen);

/* The value of the string flag with bit `bit` (NULL if not given or boolean). */
const char *cli_args_value(const cli_args *a, unsigned bit);

/* The name (without "--") of the first flag whose bit is set in bits. */
const char *cli_flag_name(unsigned bits);

/* Parses a whole number in [min, max] for flag `flag`; -1 with err if not one. */
int cli_args_number(const char *flag, const char *s, long min, long max, long *out, char *err,
                    size_t errlen);

#endif
