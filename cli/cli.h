/* cli: the admin commands of the `shark` binary (app, agent, user,
 * revoke-pattern, audit). Each one is a blocking HTTP call to a running
 * server's admin API; output is an aligned table for people or, with --json,
 * the server's JSON as is.
 *
 * Exit codes: 0 success, 1 the server refused or could not be reached,
 * 2 usage error. */
#ifndef SHARK_CLI_CLI_H
#define SHARK_CLI_CLI_H

#include <stdbool.h>

/* True if `cmd` (argv[1] of shark) is one of the commands cli_main runs. */
bool cli_handles(const char *cmd);

/* Runs `shark <cmd> argv...`: argv holds the arguments after cmd. Returns the
 * process exit code. */
int cli_main(const char *cmd, int argc, char **argv);

#endif
