/* envprovision: run provision steps again on running machines (all but run: never, or the
 * ones --provision-with names). Also the --provision-with parsing envup shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/machines.h"
#include "core/ui.h"
#include "provisioners/provision.h"

int cmd_provision_with_option(int argc, char **argv, int *i, struct provision_opts *o)
{
	const char *v;
	char *copy, *save = NULL;

	if (!strcmp(argv[*i], "--provision-with")) {
		if (*i + 1 >= argc) {
			ui_error("--provision-with needs step names (A,B,...)");
			return -1;
		}
		v = argv[++*i];
	} else if (!strncmp(argv[*i], "--provision-with=", 17)) {
		v = argv[*i] + 17;
	} else {
		return 0;
	}
	copy = strdup(v);
	if (!copy)
		return -1;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char **nb = realloc(o->only, (o->nonly + 1) * sizeof(char *));
		char *name = strdup(t);

		if (!nb || !name) {
			free(name);
			if (nb)
				o->only = nb;
			free(copy);
			return -1;
		}
		o->only = nb;
		o->only[o->nonly++] = name;
	}
	free(copy);
	if (!o->nonly) {
		ui_error("--provision-with needs step names (A,B,...)");
		return -1;
	}
	return 1;
}

int cmd_provision_names_known(const struct env *env, const struct machine **list, size_t n,
			      const struct provision_opts *o, struct err *e)
{
	for (size_t k = 0; k < o->nonly; k++) {
		bool found = false;

		for (size_t i = 0; i < n && !found; i++)
			found = provision_check_names(list[i], &o->only[k], 1, e) == 0;
		if (found)
			continue;
		if (n == 1)
			return -1; /* e says which, with a suggestion */
		return err_set(e, ERR_USAGE, "no provision step named '%s' in the machines chosen",
			       o->only[k]);
	}
	return 0;
}

void cmd_provision_opts_free(struct provision_opts *o)
{
	for (size_t i = 0; i < o->nonly; i++)
		free(o->only[i]);
	free(o->only);
	o->only = NULL;
	o->nonly = 0;
}

static void step_started(void *ctx, const struct provision_step *st)
{
	struct cmd_output *o = ctx;

	cmd_output_flush(o);
	ui_info("==> %s: Running provisioner: %s (%s)...", o->name, st->name,
		st->kind == PROVISION_SHELL ? "shell" : "file");
}

struct provision_cmd {
	struct provision_opts prov;
	bool prefix; /* several machines have steps: prefix their output */
};

static int provision_one(const struct env *env, const struct project *p, const struct machine *m,
			 void *ctx, struct err *e)
{
	const struct provision_cmd *pc = ctx;
	const struct provision_opts *o = &pc->prov;
	struct provider_ctx c;
	struct comm *comm = NULL;
	struct cmd_output out = {m->name, pc->prefix, {false, false}};
	struct provision_hooks h = {step_started, {cmd_output_write, &out}, &out};
	int rc, nran = 0;

	if (cmd_machines_connect(&c, env, m, p, &comm, e) < 0)
		return -1;
	rc = provision_run(comm, m, c.machine_dir, o, &h, &nran, e);
	cmd_output_flush(&out);
	if (rc == 0 && !nran)
		ui_info("==> %s: no provision steps to run", m->name);
	comm_close(comm);
	provider_ctx_free(&c);
	return rc;
}

static int provision_option(int argc, char **argv, int *i, void *ctx)
{
	return cmd_provision_with_option(argc, argv, i, ctx);
}

int cmd_provision(int argc, char **argv)
{
	struct provision_cmd pc = {.prov = {.again = true}};
	const struct machine **list = NULL, **with = NULL;
	struct env *env = NULL;
	struct err e = {0};
	char **names;
	size_t n = 0, nwith = 0;
	int nnames, rc;

	rc = cmd_machines_args(cmd_lookup("provision"), argc, argv, provision_option, &pc.prov,
			       &names, &nnames);
	if (rc >= 0)
		goto out;
	rc = EXIT_OK;
	if (cmd_load_env(&env, &e) < 0 ||
	    cmd_machines_select(env, names, nnames, nnames ? 0 : SELECT_AUTOSTART, &list, &n, &e) <
		    0 ||
	    cmd_provision_names_known(env, list, n, &pc.prov, &e) < 0)
		goto fail;
	/* Only machines that have steps: the others need not even be running. */
	with = calloc(n ? n : 1, sizeof(*with));
	if (!with) {
		err_set(&e, ERR_FAIL, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		if (list[i]->nsteps)
			with[nwith++] = list[i];
	pc.prefix = nwith > 1;
	if (cmd_machines_each_locked(env, with, nwith, provision_one, &pc, &e) < 0)
		goto fail;
	goto out;
fail:
	rc = cmd_fail(&e);
out:
	envfile_free(env);
	free(list);
	free(with);
	free(names);
	cmd_provision_opts_free(&pc.prov);
	return rc;
}
