/* Logging in to a machine for the machine commands. Apart from machines.c so that the light
 * envctl, which links no SSH library, can use the rest (envrsync, envstatus). */
#include "cmd/machines.h"
#include "core/ui.h"
#include "provisioners/login.h"

/* A running machine answers SSH quickly; envup alone waits the whole boot_timeout. */
#define SSH_READY_TIMEOUT 30

static void waiting(void *ctx, const char *why, int left)
{
	const struct machine *m = ctx;

	ui_info("==> %s: waiting for SSH (%s; %d s left)", m->name, why, left);
}

int cmd_machines_login(const struct provider_ctx *c, const struct provider *pv, int timeout_s,
		       struct comm **out, struct err *e)
{
	struct provider_ssh_info si;
	struct login_params lp = {0};

	if (pv->ssh_info(c, &si, e) < 0)
		return -1;
	lp.m = c->m;
	lp.machine_dir = c->machine_dir;
	lp.host = si.host;
	lp.port = si.port;
	lp.timeout_s = timeout_s;
	lp.waiting = waiting;
	lp.info = c->log.info;
	lp.ctx = (void *)c->m;
	return login_connect(&lp, out, e);
}

int cmd_machines_connect(struct provider_ctx *c, const struct env *env, const struct machine *m,
			 const struct project *p, struct comm **comm, struct err *e)
{
	const struct provider *pv;
	enum machine_status s;

	if (cmd_machines_reach(c, env, m, p, &s, &pv, e) < 0)
		return -1;
	if (s != MACHINE_RUNNING)
		err_set(e, ERR_FAIL, "machine '%s' is %s: 'envup %s' first", m->name,
			machine_status_name(s), m->name);
	else if (cmd_machines_login(c, pv, SSH_READY_TIMEOUT, comm, e) == 0)
		return 0;
	provider_ctx_free(c);
	return -1;
}
