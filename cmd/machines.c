/* Machine selection, provider context and output prefixing for the machine commands (login.c
 * logs in). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/machines.h"
#include "core/ui.h"

/* Marks i and, with deps, everything it depends on. */
static void mark(const struct env *env, size_t i, bool deps, bool *want)
{
	const struct machine *m = &env->machines[i];

	if (want[i])
		return;
	want[i] = true;
	for (size_t d = 0; deps && d < m->ndepends; d++)
		mark(env, m->dep_index[d], deps, want);
}

int cmd_machines_select(const struct env *env, char **names, int n, unsigned flags,
			const struct machine ***out, size_t *nout, struct err *e)
{
	size_t nm = env->nmachines, k = 0;
	bool *want = calloc(nm + 1, sizeof(bool));
	const struct machine **list = calloc(nm + 1, sizeof(*list));
	int rc = -1;

	*out = NULL;
	*nout = 0;
	if (!want || !list) {
		err_set(e, ERR_FAIL, "out of memory");
		goto fail;
	}
	for (int a = 0; a < n; a++) {
		const struct machine *m = env_machine_named(env, names[a], e);

		if (!m)
			goto fail;
		mark(env, (size_t)(m - env->machines), flags & SELECT_DEPS, want);
	}
	/* With no names: every machine (autostart ones for up), and for up what they need even
	 * when that has autostart: false. */
	for (size_t i = 0; n == 0 && i < nm; i++)
		if (!(flags & SELECT_AUTOSTART) || env->machines[i].autostart)
			mark(env, i, flags & SELECT_DEPS, want);
	/* The loader's order: Envfile order, dependencies first. */
	for (size_t i = 0; i < nm; i++)
		if (want[env->order[i]])
			list[k++] = &env->machines[env->order[i]];
	if (flags & SELECT_REVERSE)
		for (size_t i = 0; i < k / 2; i++) {
			const struct machine *t = list[i];

			list[i] = list[k - 1 - i];
			list[k - 1 - i] = t;
		}
	*out = list;
	*nout = k;
	list = NULL;
	rc = 0;
fail:
	free(list);
	free(want);
	return rc;
}

int cmd_machines_one(const struct env *env, const char *name, const struct machine **out,
		     struct err *e)
{
	if (name) {
		*out = env_machine_named(env, name, e);
		return *out ? 0 : -1;
	}
	for (size_t i = 0; i < env->nmachines; i++)
		if (env->machines[i].primary) {
			*out = &env->machines[i];
			return 0;
		}
	if (env->nmachines == 1) {
		*out = &env->machines[0];
		return 0;
	}
	return err_set(e, ERR_USAGE, "%s has %zu machines and none is primary: name one", env->path,
		       env->nmachines);
}

static void log_info(void *ctx, const char *msg)
{
	const struct machine *m = ctx;

	ui_info("==> %s: %s", m->name, msg);
}

int cmd_machines_ctx(struct provider_ctx *c, const struct env *env, const struct machine *m,
		     const struct project *p, struct err *e)
{
	if (provider_ctx_init(c, env, m, p, e) < 0)
		return -1;
	c->log.info = log_info;
	c->log.ctx = (void *)m;
	return 0;
}

void cmd_output_write(void *ctx, int stream, const char *buf, size_t len)
{
	struct cmd_output *o = ctx;
	int i = stream == 2;
	/* --json keeps stdout for the result. */
	FILE *f = stream == 2 || ui_json() ? stderr : stdout;

	while (len) {
		const char *nl = memchr(buf, '\n', len);
		size_t n = nl ? (size_t)(nl - buf) + 1 : len;

		if (o->prefix && !o->mid_line[i])
			fprintf(f, "    %s: ", o->name);
		fwrite(buf, 1, n, f);
		o->mid_line[i] = !nl;
		buf += n;
		len -= n;
	}
	fflush(f);
}

void cmd_output_flush(struct cmd_output *o)
{
	for (int i = 0; i < 2; i++) {
		if (o->mid_line[i]) {
			fputc('\n', i || ui_json() ? stderr : stdout);
			o->mid_line[i] = false;
		}
	}
	fflush(stdout);
	fflush(stderr);
}

int cmd_machines_args(const struct command *self, int argc, char **argv, cmd_option_fn opt,
		      void *ctx, char ***names, int *nnames)
{
	*nnames = 0;
	*names = calloc((size_t)argc + 1, sizeof(char *));
	if (!*names)
		return EXIT_FAIL;
	for (int i = 1; i < argc; i++) {
		int r = opt ? opt(argc, argv, &i, ctx) : 0;

		if (r < 0)
			return EXIT_USAGE;
		if (r > 0)
			continue;
		r = cmd_common_option(self, argv[i]);
		if (r < 0)
			return EXIT_OK;
		if (r > 0)
			continue;
		if (argv[i][0] == '-') {
			cmd_usage(self, true);
			ui_error("unknown option '%s'", argv[i]);
			return EXIT_USAGE;
		}
		(*names)[(*nnames)++] = argv[i];
	}
	return -1;
}

int cmd_machines_each_locked(const struct env *env, const struct machine **list, size_t n,
			     cmd_machine_fn fn, void *ctx, struct err *e)
{
	struct project proj;
	int rc = 0;

	if (project_open(env, &proj, e) < 0)
		return -1;
	if (project_lock(&proj, !cli.no_wait, e) < 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = fn(env, &proj, list[i], ctx, e);
	project_close(&proj);
	return rc;
}

int cmd_force_option(int argc, char **argv, int *i, void *ctx)
{
	if (strcmp(argv[*i], "-f") && strcmp(argv[*i], "--force"))
		return 0;
	*(bool *)ctx = true;
	return 1;
}

int cmd_machines_reach(struct provider_ctx *c, const struct env *env, const struct machine *m,
		       const struct project *p, enum machine_status *s, const struct provider **pv,
		       struct err *e)
{
	*pv = NULL;
	if (cmd_machines_ctx(c, env, m, p, e) < 0)
		return -1;
	if (provider_machine_status(c, s, e) < 0 ||
	    (*s != MACHINE_NOT_CREATED && provider_of_existing(c, pv, e) < 0)) {
		provider_ctx_free(c);
		return -1;
	}
	return 0;
}

int cmd_machines_command(int argc, char **argv, cmd_option_fn opt, void *opt_ctx, unsigned flags,
			 cmd_machine_fn fn, void *ctx)
{
	const struct machine **list = NULL;
	struct env *env = NULL;
	struct err e = {0};
	char **names;
	size_t n = 0;
	int nnames, rc;

	rc = cmd_machines_args(cmd_lookup(argv[0]), argc, argv, opt, opt_ctx, &names, &nnames);
	if (rc < 0) {
		rc = EXIT_OK;
		if (cmd_load_env(&env, &e) < 0 ||
		    cmd_machines_select(env, names, nnames, flags, &list, &n, &e) < 0 ||
		    cmd_machines_each_locked(env, list, n, fn, ctx, &e) < 0)
			rc = cmd_fail(&e);
	}
	envfile_free(env);
	free(list);
	free(names);
	return rc;
}
