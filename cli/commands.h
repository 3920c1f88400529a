/* cli/commands: one function per admin command. Each gets an open connection
 * and the parsed flags (already checked by cli.c against the command's
 * accepted and required flags and positional count) and returns the exit code. */
#ifndef SHARK_CLI_COMMANDS_H
#define SHARK_CLI_COMMANDS_H

#include "args.h"
#include "http.h"

typedef int (*cli_command_fn)(cli_conn *c, const cli_args *a);

int cli_app_create(cli_conn *c, const cli_args *a);
int cli_app_list(cli_conn *c, const cli_args *a);
int cli_agent_create(cli_conn *c, const cli_args *a);
int cli_agent_list(cli_conn *c, const cli_args *a);
int cli_agent_tokens(cli_conn *c, const cli_args *a);
int cli_agent_revoke_all(cli_conn *c, const cli_args *a);
int cli_agent_rotate_secret(cli_conn *c, const cli_args *a);
int cli_user_revoke_agents(cli_conn *c, const cli_args *a);
int cli_revoke_pattern(cli_conn *c, const cli_args *a);

/* cli/audit.c: one page of the audit log, or with --follow a poll every 2 s. */
int cli_audit(cli_conn *c, const cli_args *a);
/* cli/audit.c: the events of [--since, --until) as JSON lines, page by page. */
int cli_audit_export(cli_conn *c, const cli_args *a);

#endif
