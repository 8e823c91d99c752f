/* envctl: one program, many commands. Dispatches on argv[0] ("envup" -> up) when run through
 * a link, else on the first word ("envctl up"), through one table as git does. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/strutil.h"
#include "core/ui.h"

struct cli_options cli;
char **cli_argv;
static char *cli_arg0; /* argv[0] before dispatch renamed it to the command */

static const struct command commands[] = {
	{"box", cmd_box, "manage boxes: add, list, remove, outdated, update, prune, convert, info",
	 "SUBCOMMAND [ARGS]"},
	{"destroy", cmd_destroy, "remove machines and what envup keeps about them",
	 "[-f] [MACHINE...]"},
	{"halt", cmd_halt, "stop machines", "[-f] [MACHINE...]"},
	{"help", cmd_help, "show the commands or one command's usage", "[COMMAND]"},
	{"init", cmd_init, "write a commented Envfile in the current directory", "[--box NAME]"},
	{"provision", cmd_provision, "run provision steps on running machines",
	 "[MACHINE...] [--provision-with A,B]"},
	{"reload", cmd_reload, "halt machines and bring them up again, disks kept",
	 "[MACHINE...] [--provision|--no-provision] [--provision-with A,B]"},
	{"rsync", cmd_rsync, "sync the synced folders that go by rsync to running machines again",
	 "[MACHINE...]"},
	{"rsync-auto", cmd_rsync_auto,
	 "watch the rsync synced folders and sync each change until interrupted", "[MACHINE...]"},
	{"ssh", cmd_ssh, "log in to a machine, or run one command there",
	 "[MACHINE] [-c COMMAND] [-t] [-- ARGS]"},
	{"ssh-config", cmd_ssh_config, "print OpenSSH Host blocks for the machines",
	 "[MACHINE...]"},
	{"status", cmd_status, "show each machine's recorded state", "[MACHINE...] [--json]"},
	{"up", cmd_up, "create, start and provision machines",
	 "[MACHINE...] [--provider NAME] [--provision|--no-provision] [--provision-with A,B]"},
	{"validate", cmd_validate, "check the Envfile and report every problem", "[--json]"},
	{"version", cmd_version, "print the version", "[--json]"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

const struct command *cmd_lookup(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/* Whether the build and make install make an envNAME link for c. */
static bool has_link(const struct command *c)
{
	return strcmp(c->name, "help") && strcmp(c->name, "version");
}

void cmd_usage(const struct command *c, bool to_stderr)
{
	FILE *f = to_stderr ? stderr : stdout;

	/* help and version have no envNAME link (see --list-commands) */
	if (has_link(c))
		fprintf(f, "usage: env%s %s\n       envctl %s %s\n\n%s\n", c->name, c->usage,
			c->name, c->usage, c->summary);
	else
		fprintf(f, "usage: envctl %s %s\n\n%s\n", c->name, c->usage, c->summary);
	fprintf(f, "\ncommon options: -v (verbose), -q (quiet), --json, --no-wait, --help\n");
}

int cmd_common_option(const struct command *c, const char *arg)
{
	if (!strcmp(arg, "-v") || !strcmp(arg, "--verbose"))
		cli.verbosity++;
	else if (!strcmp(arg, "-vv"))
		cli.verbosity += 2;
	else if (!strcmp(arg, "-q") || !strcmp(arg, "--quiet"))
		cli.verbosity = UI_QUIET;
	else if (!strcmp(arg, "--json"))
		cli.json = true;
	else if (!strcmp(arg, "--no-wait"))
		cli.no_wait = true;
	else if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
		cmd_usage(c, false);
		return -1;
	} else
		return 0;
	ui_init(cli.verbosity, cli.json);
	return 1;
}

/* The one rule for exit codes (README "Exit codes"): 2 only when the command line itself is
 * wrong, 1 for every other failure. Below cmd/, ERR_USAGE means "a value the caller passed
 * is wrong", and the layers that read files, catalogs, Envfiles and images report what they
 * find there as ERR_CORRUPT or ERR_UNSUPPORTED, never as ERR_USAGE. */
int cmd_fail(const struct err *e)
{
	ui_error("%s", e->msg);
	return e->code == ERR_USAGE ? EXIT_USAGE : EXIT_FAIL;
}

static void list_commands(FILE *f)
{
	fprintf(f, "usage: envctl [-v|-q] [--json] COMMAND [ARGS]   (or envCOMMAND, e.g. envup)\n\n"
		   "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nexit codes: 0 success, 1 failure, 2 usage error\n");
}

int cmd_help(int argc, char **argv)
{
	const struct command *self = cmd_lookup("help"), *c;
	int nargs, r = cmd_parse_common(self, argc, argv, &nargs);

	if (r < 0)
		return r == -1 ? EXIT_OK : EXIT_USAGE;
	if (nargs < 1) {
		list_commands(stdout);
		return EXIT_OK;
	}
	c = cmd_lookup(argv[1]);
	if (!c) {
		ui_error("unknown command '%s'", argv[1]);
		return EXIT_USAGE;
	}
	cmd_usage(c, false);
	return EXIT_OK;
}

int cmd_version(int argc, char **argv)
{
	const struct command *self = cmd_lookup("version");

	for (int i = 1; i < argc; i++) {
		int r = cmd_common_option(self, argv[i]);

		if (r < 0)
			return EXIT_OK;
		if (r == 0) {
			ui_error("version: unknown option '%s'", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (cli.json)
		printf("{\"version\":\"%s\"}\n", ENVUP_VERSION);
	else
		printf("envup %s\n", ENVUP_VERSION);
	return EXIT_OK;
}

static int unknown_command(const char *name)
{
	const char *names[NCOMMANDS];
	const char *s;

	for (size_t i = 0; i < NCOMMANDS; i++)
		names[i] = commands[i].name;
	s = str_suggest(name, names, NCOMMANDS);
	if (s)
		ui_error("unknown command '%s' (did you mean '%s'?)", name, s);
	else
		ui_error("unknown command '%s'; 'envctl help' lists them", name);
	return EXIT_USAGE;
}

int cmd_exec_full(void)
{
	char self[PATH_MAX], *dir, *full;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0) {
		ui_error("cannot find this program's own path: %s", strerror(errno));
		return EXIT_FAIL;
	}
	self[n] = '\0';
	dir = dirname(self);
	if (asprintf(&full, "%s/../libexec/envup/envctl-full", dir) < 0)
		return EXIT_FAIL;
	cli_argv[0] = cli_arg0;
	fflush(NULL); /* a command may hand over midway (envrsync): what it printed stays */
	execv(full, cli_argv);
	ui_error("cannot run %s (is envup installed completely?): %s", full, strerror(errno));
	free(full);
	return EXIT_FAIL;
}

/* The light envctl lacks some commands (their functions are NULL): envctl-full has them. */
static int run(const struct command *c, int argc, char **argv)
{
	if (!c->fn)
		return cmd_exec_full();
	return c->fn(argc, argv);
}

int main(int argc, char **argv)
{
	char *self = basename(argv[0]);
	const struct command *c;
	int i = 1;

	cli_argv = argv;
	cli_arg0 = argv[0];
	ui_init(UI_NORMAL, false);
	/* envup, envssh-config, envbox ... are links: the name after "env" is the command. */
	if (strcmp(self, "envctl") && str_starts_with(self, "env") && self[3]) {
		c = cmd_lookup(self + 3);
		if (!c)
			return unknown_command(self + 3);
		argv[0] = (char *)c->name;
		return run(c, argc, argv);
	}
	/* Options before the command word. */
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--version"))
			return cmd_version(1, argv);
		/* Hidden: the envNAME links the build and make install create (help and version
		 * are about envctl itself). */
		if (!strcmp(argv[i], "--list-commands")) {
			for (size_t j = 0; j < NCOMMANDS; j++)
				if (has_link(&commands[j]))
					printf("%s\n", commands[j].name);
			return EXIT_OK;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			list_commands(stdout);
			return EXIT_OK;
		}
		/* The same options as after a command (cmd_common_option's --help needs one). */
		if (!cmd_common_option(NULL, argv[i])) {
			ui_error("unknown option '%s'", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		list_commands(stderr);
		return EXIT_USAGE;
	}
	c = cmd_lookup(argv[i]);
	if (!c)
		return unknown_command(argv[i]);
	return run(c, argc - i, argv + i);
}
