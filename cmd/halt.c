/* envhalt: stop machines, dependents first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/machines.h"
#include "core/ui.h"

static int halt_one(const struct env *env, const struct project *p, const struct machine *m,
		    bool force, struct err *e)
{
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
	const struct command *self = cmd_lookup("halt");
	const struct machine **list = NULL;
	struct env *env = NULL;
	struct project proj = {.lock_fd = -1};
	struct err e = {0};
	char **names = calloc((size_t)argc + 1, sizeof(char *));
	size_t n = 0;
	int nnames = 0, rc = EXIT_OK;
	bool force = false;

	if (!names)
		return EXIT_FAIL;
	for (int i = 1; i < argc; i++) {
		int r;

		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--force")) {
			force = true;
		} else if ((r = cmd_common_option(self, argv[i])) != 0) {
			if (r < 0)
				goto out;
		} else if (argv[i][0] == '-') {
			cmd_usage(self, true);
			ui_error("unknown option '%s'", argv[i]);
			rc = EXIT_USAGE;
			goto out;
		} else {
			names[nnames++] = argv[i];
		}
	}
	if (cmd_load_env(&env, &e) < 0 ||
	    cmd_machines_select(env, names, nnames, SELECT_REVERSE, &list, &n, &e) < 0 ||
	    project_open(env, &proj, &e) < 0 || project_lock(&proj, !cli.no_wait, &e) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (halt_one(env, &proj, list[i], force, &e) < 0)
			goto fail;
	goto out;
fail:
	rc = cmd_fail(&e);
out:
	project_close(&proj);
	envfile_free(env);
	free(list);
	free(names);
	return rc;
}
