/* envhalt: stop machines, dependents first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/machines.h"
#include "core/ui.h"

static int halt_one(const struct env *env, const struct project *p, const struct machine *m,
		    void *ctx, struct err *e)
{
	bool force = *(bool *)ctx;
	struct provider_ctx c;
	const struct provider *pv;
	enum machine_status s;
	int rc = -1;

	if (cmd_machines_ctx(&c, env, m, p, e) < 0)
		return -1;
	if (provider_machine_status(&c, &s, e) < 0)
		goto out;
	if (s == MACHINE_NOT_CREATED || s == MACHINE_HALTED) {
		ui_info("==> %s: %s, nothing to do", m->name,
			s == MACHINE_HALTED ? "already halted" : "not created");
		rc = 0;
		goto out;
	}
	if (provider_of_existing(&c, &pv, e) < 0)
		goto out;
	ui_info("==> %s: Halting%s...", m->name, force ? " (forced)" : "");
	rc = pv->halt(&c, force, e);
out:
	provider_ctx_free(&c);
	return rc;
}

int cmd_halt(int argc, char **argv)
{
	const struct machine **list = NULL;
	struct env *env = NULL;
	struct err e = {0};
	char **names;
	size_t n = 0;
	int nnames, rc;
	bool force = false;

	rc = cmd_machines_args(cmd_lookup("halt"), argc, argv, cmd_force_option, &force, &names,
			       &nnames);
	if (rc < 0) {
		rc = EXIT_OK;
		if (cmd_load_env(&env, &e) < 0 ||
		    cmd_machines_select(env, names, nnames, SELECT_REVERSE, &list, &n, &e) < 0 ||
		    cmd_machines_each_locked(env, list, n, halt_one, &force, &e) < 0)
			rc = cmd_fail(&e);
	}
	envfile_free(env);
	free(list);
	free(names);
	return rc;
}
