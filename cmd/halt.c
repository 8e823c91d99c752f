/* envhalt: stop machines, dependents first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/machines.h"
#include "core/ui.h"

int cmd_halt_machine(const struct env *env, const struct project *p, const struct machine *m,
		     void *ctx, struct err *e)
{
	bool force = *(bool *)ctx;
	struct provider_ctx c;
	const struct provider *pv;
	enum machine_status s;
	int rc = 0;

	if (cmd_machines_reach(&c, env, m, p, &s, &pv, e) < 0)
		return -1;
	if (s == MACHINE_NOT_CREATED || s == MACHINE_HALTED) {
		ui_info("==> %s: %s, nothing to do", m->name,
			s == MACHINE_HALTED ? "already halted" : "not created");
	} else {
		ui_info("==> %s: Halting%s...", m->name, force ? " (forced)" : "");
		rc = provider_ops(pv)->halt(&c, force, e);
	}
	provider_ctx_free(&c);
	return rc;
}

int cmd_halt(int argc, char **argv)
{
	bool force = false;

	return cmd_machines_command(argc, argv, cmd_force_option, &force, SELECT_REVERSE,
				    cmd_halt_machine, &force);
}
