/* The command table and what every command shares: option parsing, loading the project,
 * turning errors into messages and exit codes. Only cmd/ prints or picks exit codes. */
#ifndef ENVUP_CMD_CMD_H
#define ENVUP_CMD_CMD_H

#include <stdbool.h>
#include <stdio.h>

#include "core/envfile.h"
#include "core/err.h"

enum exit_code { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* argv[0] is the command's name ("up", "box"); returns an exit code. */
typedef int (*cmd_fn)(int argc, char **argv);

struct command {
	const char *name;
	cmd_fn fn;
	const char *summary;
	const char *usage; /* options after "envctl NAME" */
};

/* Options every command accepts (parsed by cmd_common_option). */
struct cli_options {
	int verbosity;
	bool json;
	bool no_wait;
};
extern struct cli_options cli;

/* Handles -v, -q, --json, --no-wait, --help if arg is one of them: returns 1 (consumed),
 * 0 (not a common option), or -1 after printing help (caller exits 0). */
int cmd_common_option(const struct command *c, const char *arg);

/* The command called name, or NULL. */
const struct command *cmd_lookup(const char *name);

/* Prints "usage: envctl NAME USAGE" and the summary to f. */
void cmd_usage(const struct command *c, bool to_stderr);

/* Prints e (with "error: ") and returns the exit code its kind deserves. */
int cmd_fail(const struct err *e);

/* Finds and loads the project's Envfile (searching upward from the working directory). */
int cmd_load_env(struct env **env, struct err *e);

/* Like cmd_load_env, collecting every problem in rep (freed by the caller). */
int cmd_load_env_report(struct env **env, struct yaml_report *rep, struct err *e);

/* path relative to the working directory when it lies below it (heap string). */
char *cmd_display_path(const char *path);

/* For commands with only common options: consumes them and moves the positional arguments to
 * argv[1..*nargs]. Returns 0, -1 after --help (exit 0), -2 on a usage error (printed). */
int cmd_parse_common(const struct command *c, int argc, char **argv, int *nargs);

/* The command functions. They are weak: the light envctl is linked without the commands that
 * need the network and SSH libraries (so that status and validate start in about a
 * millisecond), sees NULL for them, and hands them to envctl-full (cmd_exec_full). */
#define CMD_FUNCTION(name) int name(int argc, char **argv) __attribute__((weak))
CMD_FUNCTION(cmd_init);
CMD_FUNCTION(cmd_validate);
CMD_FUNCTION(cmd_status);
CMD_FUNCTION(cmd_version);
CMD_FUNCTION(cmd_help);
CMD_FUNCTION(cmd_box);
/* The usage line of box subcommand name (its one place is cmd/box.c's table). */
const char *cmd_box_usage(const char *name);
CMD_FUNCTION(cmd_up);
CMD_FUNCTION(cmd_provision);
CMD_FUNCTION(cmd_destroy);
CMD_FUNCTION(cmd_halt);
CMD_FUNCTION(cmd_reload);
CMD_FUNCTION(cmd_ssh);
CMD_FUNCTION(cmd_ssh_config);
CMD_FUNCTION(cmd_rsync);
CMD_FUNCTION(cmd_rsync_auto);

/* Runs the same command line in envctl-full (installed as ../libexec/envup/envctl-full
 * relative to envctl); returns only on failure, with an exit code. */
int cmd_exec_full(void);

/* The command line as main() got it, for cmd_exec_full. */
extern char **cli_argv;

#endif
