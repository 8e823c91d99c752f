/* envssh: log in to a machine (PTY, raw terminal, window size passed on) or run one command
 * whose exit status becomes envssh's. envssh-config: the OpenSSH Host block for a machine. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/machines.h"
#include "core/strutil.h"
#include "core/ui.h"
#include "provisioners/communicator.h"
#include "provisioners/openssh.h"

static volatile sig_atomic_t window_changed;

static void on_winch(int sig)
{
	(void)sig;
	window_changed = 1;
}

static bool term_size(int *cols, int *rows)
{
	struct winsize ws;

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0 || !ws.ws_col)
		return false;
	*cols = ws.ws_col;
	*rows = ws.ws_row;
	return true;
}

static bool resized(void *ctx, int *cols, int *rows)
{
	(void)ctx;
	if (!window_changed)
		return false;
	window_changed = 0;
	return term_size(cols, rows);
}

/* The remote command: -c's text, then the words after "--", each quoted. */
static char *remote_command(const char *c, char **words, int nwords)
{
	size_t len = c ? strlen(c) : 0;
	char *cmd = malloc(len + 1);

	if (!cmd)
		return NULL;
	memcpy(cmd, c ? c : "", len + 1);
	for (int i = 0; i < nwords; i++) {
		char *q = str_shell_quote(words[i]), *nb;

		nb = q ? realloc(cmd, len + strlen(q) + 2) : NULL;
		if (!nb) {
			free(q);
			free(cmd);
			return NULL;
		}
		cmd = nb;
		len += (size_t)sprintf(cmd + len, "%s%s", len ? " " : "", q);
		free(q);
	}
	return cmd;
}

static int run_session(struct comm *comm, const char *cmd, bool want_pty, int *status,
		       struct err *e)
{
	struct comm_interactive ia = {0};
	struct termios saved, raw;
	struct sigaction sa = {0};
	bool tty = isatty(STDIN_FILENO), rawmode = false;
	int rc;

	ia.cmd = cmd;
	ia.pty = want_pty || (!cmd && tty);
	ia.term = getenv("TERM");
	ia.in_fd = STDIN_FILENO;
	ia.out_fd = STDOUT_FILENO;
	ia.err_fd = STDERR_FILENO;
	ia.resized = resized;
	if (ia.pty && tty) {
		term_size(&ia.cols, &ia.rows);
		sa.sa_handler = on_winch;
		sigaction(SIGWINCH, &sa, NULL);
		if (tcgetattr(STDIN_FILENO, &saved) == 0) {
			raw = saved;
			cfmakeraw(&raw);
			rawmode = tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) == 0;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	rc = comm_interactive(comm, &ia, status, e);
	if (rawmode)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved);
	return rc;
}

int cmd_ssh(int argc, char **argv)
{
	const struct command *self = cmd_lookup("ssh");
	const char *name = NULL, *c = NULL;
	const struct machine *m;
	struct env *env = NULL;
	struct project proj = {.lock_fd = -1};
	struct comm *comm = NULL;
	struct provider_ctx pc;
	struct err e = {0};
	char **words = NULL, *cmd = NULL;
	int nwords = 0, status = 0, rc;
	bool pty = false, verbose = false;

	for (int i = 1; i < argc; i++) {
		int r;

		if (!strcmp(argv[i], "--")) {
			words = argv + i + 1;
			nwords = argc - i - 1;
			break;
		} else if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--command")) {
			if (++i >= argc) {
				ui_error("-c needs a command");
				return EXIT_USAGE;
			}
			c = argv[i];
		} else if (!strcmp(argv[i], "-t") || !strcmp(argv[i], "--tty")) {
			pty = true;
		} else if ((r = cmd_common_option(self, argv[i])) != 0) {
			if (r < 0)
				return EXIT_OK;
			verbose = cli.verbosity > 0;
		} else if (argv[i][0] == '-' || name) {
			cmd_usage(self, true);
			ui_error("unexpected argument '%s'", argv[i]);
			return EXIT_USAGE;
		} else {
			name = argv[i];
		}
	}
	/* The session's own output is the point: envup's progress lines only with -v. */
	if (!verbose)
		ui_init(UI_QUIET, cli.json);
	if (c || nwords) {
		cmd = remote_command(c, words, nwords);
		if (!cmd)
			return EXIT_FAIL;
	}
	if (cmd_load_env(&env, &e) < 0 || cmd_machines_one(env, name, &m, &e) < 0 ||
	    project_peek(env, &proj, &e) < 0 ||
	    cmd_machines_connect(&pc, env, m, &proj, &comm, &e) < 0) {
		rc = cmd_fail(&e);
	} else {
		rc = run_session(comm, cmd, pty, &status, &e) < 0 ? cmd_fail(&e) : status;
		comm_close(comm);
		provider_ctx_free(&pc);
	}
	project_close(&proj);
	envfile_free(env);
	free(cmd);
	return rc;
}

/* s as one ssh_config argument (quoted when it has blanks), or NULL when it cannot be one: a
 * quote or a control character would end the argument or the line. */
static const char *cfg_arg(const char *s, char *buf, size_t len)
{
	for (const char *p = s; *p; p++)
		if (*p == '"' || (unsigned char)*p < 0x20 || *p == 0x7f)
			return NULL;
	if (!strpbrk(s, " \t"))
		return s;
	snprintf(buf, len, "\"%s\"", s);
	return buf;
}

static int config_block(const struct env *env, const struct project *p, const struct machine *m,
			struct err *e)
{
	struct provider_ctx c;
	const struct provider *pv;
	struct provider_ssh_info si;
	struct openssh_opts o = {0};
	enum machine_status s;
	char buf[PATH_MAX + 3];
	int rc = -1;

	if (cmd_machines_reach(&c, env, m, p, &s, &pv, e) < 0)
		return -1;
	if (s == MACHINE_NOT_CREATED) {
		err_set(e, ERR_FAIL, "machine '%s' is not created: 'envup %s' first", m->name,
			m->name);
		goto out;
	}
	if (pv->ssh_info(&c, &si, e) < 0 ||
	    openssh_opts_init(&o, m, c.machine_dir, si.host, si.port, e) < 0)
		goto out;
	for (size_t i = 0; i < o.n; i++) {
		if (!cfg_arg(o.opt[i].value, buf, sizeof(buf))) {
			err_set(e, ERR_USAGE,
				"machine '%s': the project path has a quote or a "
				"control character, which ssh_config cannot hold",
				m->name);
			goto out;
		}
	}
	ui_out("Host %s", m->name);
	for (size_t i = 0; i < o.n; i++)
		ui_out("  %s %s", o.opt[i].key, cfg_arg(o.opt[i].value, buf, sizeof(buf)));
	ui_out("%s", "");
	rc = 0;
out:
	openssh_opts_free(&o);
	provider_ctx_free(&c);
	return rc;
}

int cmd_ssh_config(int argc, char **argv)
{
	const struct command *self = cmd_lookup("ssh-config");
	const struct machine **list = NULL;
	struct env *env = NULL;
	struct project proj = {.lock_fd = -1};
	struct err e = {0};
	size_t n = 0, shown = 0;
	int nargs, r = cmd_parse_common(self, argc, argv, &nargs), rc = EXIT_OK;

	if (r < 0)
		return r == -1 ? EXIT_OK : EXIT_USAGE;
	if (cmd_load_env(&env, &e) < 0 ||
	    cmd_machines_select(env, argv + 1, nargs, 0, &list, &n, &e) < 0 ||
	    project_peek(env, &proj, &e) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct err e2 = {0};

		if (config_block(env, &proj, list[i], &e2) == 0) {
			shown++;
		} else if (nargs) {
			e = e2;
			goto fail;
		}
	}
	if (!shown) {
		err_set(&e, ERR_FAIL, "no machine is up: 'envup' first");
		goto fail;
	}
	goto out;
fail:
	rc = cmd_fail(&e);
out:
	project_close(&proj);
	envfile_free(env);
	free(list);
	return rc;
}
