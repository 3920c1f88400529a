/* cli: command table, usage text and the checks every command shares. */
#include "cli.h"

#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "http.h"

static const char common_usage[] =
    "common flags:\n"
    "  --url URL        the server (env SHARK_URL; default http://127.0.0.1:8080)\n"
    "  --admin-key-file FILE\n"
    "                   read the admin API key from FILE; without it the key comes\n"
    "                   from env SHARK_ADMIN_KEY, else <data-dir>/admin.key.firstboot\n"
    "  --admin-key KEY  the key itself (still accepted, with a warning: other users\n"
    "                   of this machine can read command lines, e.g. with ps)\n"
    "  --data-dir DIR   the server's data directory (env SHARK_DATA_DIR; default ./data)\n"
    "  --json           print the server's JSON response as is\n"
    "  -h, --help       show this text\n";

static const struct command {
    const char *group, *sub; /* sub is NULL for one-word commands */
    const char *synopsis, *summary;
    unsigned flags;    /* accepted besides CLI_F_COMMON */
    unsigned required; /* flags that must be given a non-empty value */
    int npos;          /* positional arguments after group and sub */
    cli_command_fn run;
} commands[] = {
    {"app", "create", "--name NAME [--description D] [--scopes \"a b\"]",
     "Create an application (the OAuth client your backend's agents belong to).",
     CLI_F_NAME | CLI_F_DESCRIPTION | CLI_F_SCOPES, CLI_F_NAME, 0, cli_app_create},
    {"app", "list", "[--limit N] [--cursor C | --offset N]", "List applications.",
     CLI_F_LIMIT | CLI_F_OFFSET | CLI_F_CURSOR, 0, 0, cli_app_list},
    {"agent", "create",
     "--app APP_ID --name NAME --scopes \"a b\" [--description D] [--created-by USR_ID]",
     "Create an agent; its client_secret is printed once.",
     CLI_F_APP | CLI_F_NAME | CLI_F_SCOPES | CLI_F_DESCRIPTION | CLI_F_CREATED_BY,
     CLI_F_APP | CLI_F_NAME | CLI_F_SCOPES, 0, cli_agent_create},
    {"agent", "list",
     "[--app APP_ID] [--created-by USR_ID] [--status S] [--limit N] [--cursor C | --offset N]",
     "List agents.",
     CLI_F_APP | CLI_F_CREATED_BY | CLI_F_STATUS | CLI_F_LIMIT | CLI_F_OFFSET | CLI_F_CURSOR, 0, 0,
     cli_agent_list},
    {"agent", "tokens", "AGENT_ID", "List an agent's active tokens.", 0, 0, 1, cli_agent_tokens},
    {"agent", "revoke-all", "AGENT_ID", "Revoke every token of an agent.", 0, 0, 1,
     cli_agent_revoke_all},
    {"agent", "rotate-secret", "AGENT_ID",
     "Issue a new client_secret (printed once); the old one stops working.", 0, 0, 1,
     cli_agent_rotate_secret},
    {"user", "revoke-agents", "USR_ID [--agents id1,id2] [--reason R]",
     "Revoke the agents a user created (all, or those listed) and their consents.",
     CLI_F_AGENTS | CLI_F_REASON, 0, 1, cli_user_revoke_agents},
    {"revoke-pattern", NULL, "PATTERN --reason R",
     "Revoke the tokens of every client whose client_id matches PATTERN (e.g. 'shark_agent_*').",
     CLI_F_REASON, CLI_F_REASON, 1, cli_revoke_pattern},
    {"audit", NULL, "[--actor ID] [--event E] [--since ISO] [--limit N] [--follow]",
     "Show the audit log, newest first. --event takes a name, a prefix like oauth.* or *;\n"
     "--follow keeps polling every 2 s and prints new events oldest first until interrupted\n"
     "(with --json, one event per line).",
     CLI_F_ACTOR | CLI_F_EVENT | CLI_F_SINCE | CLI_F_LIMIT | CLI_F_FOLLOW, 0, 0, cli_audit},
    {"audit", "export", "--since ISO --until ISO [--actor ID] [--event E]",
     "Write every audit event at or after --since and before --until as JSON lines, newest\n"
     "first, to stdout: an archive to take before --audit-retention drops the months.",
     CLI_F_ACTOR | CLI_F_EVENT | CLI_F_SINCE | CLI_F_UNTIL, CLI_F_SINCE | CLI_F_UNTIL, 0,
     cli_audit_export},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find(const char *group, const char *sub)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].group, group) == 0 && commands[i].sub != NULL &&
            strcmp(commands[i].sub, sub) == 0)
            return &commands[i];
    return NULL;
}

/* The group's first entry, or NULL if there is no such command. */
static const struct command *group_entry(const char *group)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].group, group) == 0)
            return &commands[i];
    return NULL;
}

bool cli_handles(const char *cmd)
{
    return group_entry(cmd) != NULL;
}

static void print_synopsis(const struct command *c, FILE *out)
{
    fprintf(out, "shark %s%s%s %s", c->group, c->sub ? " " : "", c->sub ? c->sub : "", c->synopsis);
}

static void command_usage(const struct command *c, FILE *out)
{
    fputs("usage: ", out);
    print_synopsis(c, out);
    fprintf(out, "\n\n%s\n\n%s", c->summary, common_usage);
}

static void group_usage(const char *group, FILE *out)
{
    fprintf(out, "usage: shark %s <subcommand> [flags]\n\nsubcommands:\n", group);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].group, group) == 0) {
            fputs("  ", out);
            print_synopsis(&commands[i], out);
            fputc('\n', out);
        }
    fprintf(out, "\n%s", common_usage);
}

/* Usage errors name the problem and the right form, and exit 2. */
static int usage_error(const char *group, const struct command *c, const char *msg)
{
    fprintf(stderr, "shark %s%s%s: %s\n", group, c && c->sub ? " " : "", c && c->sub ? c->sub : "",
            msg);
    if (c != NULL) {
        fputs("usage: ", stderr);
        print_synopsis(c, stderr);
        fprintf(stderr, "\n(shark %s%s%s --help for more)\n", group, c->sub ? " " : "",
                c->sub ? c->sub : "");
    } else {
        fprintf(stderr, "(shark %s --help for usage)\n", group);
    }
    return 2;
}

static int check(const struct command *c, const cli_args *a, char *err, size_t errlen)
{
    long n;
    unsigned extra = a->seen & ~(c->flags | CLI_F_COMMON);
    if (extra != 0) {
        snprintf(err, errlen, "--%s is not a flag of this command", cli_flag_name(extra));
        return -1;
    }
    for (unsigned bit = 1; bit != 0 && bit <= c->required; bit <<= 1) {
        if (!(c->required & bit))
            continue;
        const char *v = cli_args_value(a, bit);
        if (v == NULL || *v == '\0') {
            snprintf(err, errlen, v == NULL ? "missing --%s" : "--%s must not be empty",
                     cli_flag_name(bit));
            return -1;
        }
    }
    if (a->npos < c->npos || (a->npos > 0 && a->pos[0][0] == '\0')) {
        snprintf(err, errlen, "missing %.*s", (int)strcspn(c->synopsis, " "), c->synopsis);
        return -1;
    }
    if (a->npos > c->npos) {
        snprintf(err, errlen, "unexpected argument '%s'", a->pos[c->npos]);
        return -1;
    }
    if (a->limit != NULL && cli_args_number("--limit", a->limit, 1, 1000, &n, err, errlen) != 0)
        return -1;
    if (a->offset != NULL &&
        cli_args_number("--offset", a->offset, 0, INT_MAX, &n, err, errlen) != 0)
        return -1;
    return 0;
}

int cli_main(const char *cmd, int argc, char **argv)
{
    char err[1024];
    cli_args a;
    const struct command *c = NULL;

    const struct command *g = group_entry(cmd);
    if (g == NULL) {
        fprintf(stderr, "shark: unknown command '%s'\n", cmd);
        return 2;
    }
    if (cli_args_parse(&a, argc, argv, err, sizeof(err)) != 0)
        return usage_error(cmd, NULL, err);
    /* A one-word command may also have subcommands ("audit", "audit export"). */
    if (g->sub == NULL && a.npos > 0 && (c = find(cmd, a.pos[0])) != NULL) {
        memmove(a.pos, a.pos + 1, (size_t)--a.npos * sizeof(a.pos[0]));
    } else if (g->sub != NULL) {
        if (a.npos == 0) {
            if (a.help) {
                group_usage(cmd, stdout);
                return 0;
            }
            return usage_error(cmd, NULL, "missing subcommand");
        }
        if ((c = find(cmd, a.pos[0])) == NULL) {
            snprintf(err, sizeof(err), "unknown subcommand '%s'", a.pos[0]);
            return usage_error(cmd, NULL, err);
        }
        /* Commands see only the arguments after their subcommand. */
        memmove(a.pos, a.pos + 1, (size_t)--a.npos * sizeof(a.pos[0]));
    } else if (c == NULL) {
        c = g;
    }
    if (a.help) {
        command_usage(c, stdout);
        return 0;
    }
    if (check(c, &a, err, sizeof(err)) != 0)
        return usage_error(cmd, c, err);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "shark: libcurl failed to initialise\n");
        return 1;
    }
    int rc = 2;
    cli_conn *conn = cli_conn_open(&a, err, sizeof(err));
    if (conn == NULL) {
        fprintf(stderr, "shark %s: %s\n", cmd, err);
        goto done;
    }
    rc = c->run(conn, &a);
    cli_conn_close(conn);
done:
    curl_global_cleanup();
    return rc;
}
