/* envup: make every machine exist, run and be provisioned, in depends_on order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boxes/add.h"
#include "cmd/cmd.h"
#include "cmd/machines.h"
#include "core/ui.h"
#include "core/userconf.h"
#include "provisioners/provision.h"

struct up_opts {
	const char *provider;
	bool no_provision;
	struct provision_opts prov;
	bool prefix; /* several machines have steps: prefix their output */
};

static void warn_unsupported(const struct machine *m, const struct provider *pv)
{
	if (m->nports && !(pv->caps & PROVIDER_CAP_PORT_FORWARD))
		ui_warn("%s: provider '%s' ignores forwarded_ports", m->name, pv->name);
	if (m->nnetworks && !(pv->caps & PROVIDER_CAP_NETWORKS))
		ui_warn("%s: provider '%s' ignores networks", m->name, pv->name);
}

/* A folder the provider cannot serve (type 9p without a live share) stops envup before the
 * machine is started, not after. */
static int folders_possible(const struct machine *m, const struct provider *pv, struct err *e)
{
	for (size_t i = 0; i < m->nfolders; i++) {
		enum folder_how how;
		const char *why;

		if (provider_folder_how(pv, m, &m->folders[i], &how, &why, e) < 0)
			return -1;
	}
	return 0;
}

static void step_started(void *ctx, const struct provision_step *st)
{
	struct cmd_output *o = ctx;

	cmd_output_flush(o);
	ui_info("==> %s: Running provisioner: %s (%s)...", o->name, st->name,
		st->kind == PROVISION_SHELL ? "shell" : "file");
}

/* Which provider: the one that made the machine, unless the person asks for another. */
static int pick_provider(const struct provider_ctx *c, const char *override,
			 const struct provider **out, struct err *e)
{
	const struct provider *made = NULL;
	enum machine_status s;
	const char *notice;

	if (provider_recorded_state(c, &s, e) < 0)
		return -1;
	if (s != MACHINE_NOT_CREATED && provider_of_existing(c, &made, e) < 0)
		return -1;
	if (made && (!override || !strcmp(override, made->name))) {
		*out = made;
		return 0;
	}
	if (made)
		return err_set(e, ERR_USAGE,
			       "machine '%s' was made by provider '%s': "
			       "'envdestroy %s' before using '%s'",
			       c->m->name, made->name, c->m->name, override);
	if (provider_for_machine(c->m, override, out, &notice, e) < 0)
		return -1;
	if (notice)
		ui_warn("%s: %s", c->m->name, notice);
	return 0;
}

/* The machine's box, installed (found, or fetched through the box code) for a provider that
 * makes machines from boxes. A machine that has its disk already keeps it whatever the box
 * does now, so a halted machine needs no registry to come up again. */
static int box_resolve(const struct env *env, const struct provider_ctx *c, struct box_entry *out,
		       bool *have, struct err *e)
{
	struct box_store s;
	struct userconf uc;
	bool added = false;
	int rc;

	*have = false;
	if (!c->m->box)
		return err_set(e, ERR_USAGE, "machine '%s' has no box: set box: in the Envfile",
			       c->m->name);
	if (box_store_open(&s, e) < 0)
		return -1;
	if (userconf_load(NULL, &uc, e) < 0) {
		box_store_close(&s);
		return -1;
	}
	rc = box_ensure(&s,
			&(struct box_add_opts){
				.source = c->m->box_url ? c->m->box_url : c->m->box,
				.name = c->m->box,
				.constraint = c->m->box_version,
				.registries = env->registries,
				.nregistries = env->nregistries,
				.uc = &uc,
			},
			out, &added, e);
	if (rc == 0) {
		*have = true;
		ui_info("==> %s: Box '%s' version %s (%s)%s", c->m->name, out->name, out->version,
			out->provider, added ? ": added" : "");
	}
	userconf_free(&uc);
	box_store_close(&s);
	return rc;
}

/* A machine that never answered SSH: its console says why. */
static void console_hint(const struct provider_ctx *c, const struct provider *pv, struct err *e)
{
	char *tail = NULL;
	struct err ignored = {0};

	if (!pv->console_tail || e->code != ERR_TIMEOUT ||
	    pv->console_tail(c, 20, &tail, &ignored) < 0)
		return;
	if (*tail) {
		char msg[sizeof(e->msg)];

		snprintf(msg, sizeof(msg), "%s\nlast lines of %s/console.log:\n%s", e->msg,
			 c->machine_dir, tail);
		snprintf(e->msg, sizeof(e->msg), "%s", msg);
	}
	free(tail);
}

/* hostname: set in the guest (and /etc/hosts) once SSH answers. */
static int set_hostname(struct comm *comm, const struct machine *m, struct err *e)
{
	char cmd[1024];
	int status = -1;

	if (!m->hostname)
		return 0;
	/* the Envfile allows only letters, digits, '-' and '.' in a hostname: no quoting needed */
	snprintf(cmd, sizeof(cmd),
		 "[ \"$(hostname)\" = %s ] || sudo sh -c 'echo %s >/etc/hostname && hostname %s "
		 "&& sed -i /^127.0.1.1/d /etc/hosts && printf \"127.0.1.1\\t%s\\n\" >>/etc/hosts'",
		 m->hostname, m->hostname, m->hostname, m->hostname);
	if (comm_exec(comm, cmd, false, NULL, &status, e) < 0)
		return -1;
	if (status != 0)
		return err_set(e, ERR_FAIL, "machine '%s': setting hostname %s failed (status %d)",
			       m->name, m->hostname, status);
	return 0;
}

static int up_one(const struct env *env, const struct project *p, const struct machine *m,
		  void *ctx, struct err *e)
{
	const struct up_opts *o = ctx;
	bool prefix = o->prefix;
	struct provider_ctx c;
	const struct provider *pv;
	struct comm *comm = NULL;
	struct cmd_output out = {m->name, prefix, {false, false}};
	struct box_entry box = {0};
	bool have_box = false;
	struct provision_hooks h = {step_started, {cmd_output_write, &out}, &out};
	char *dir = NULL;
	time_t start = time(NULL);
	int rc = -1, nran, left;

	if (cmd_machines_ctx(&c, env, m, p, e) < 0)
		return -1;
	if (pick_provider(&c, o->provider, &pv, e) < 0 || folders_possible(m, pv, e) < 0)
		goto out;
	warn_unsupported(m, pv);
	if (project_machine_dir_create(p, m->name, &dir, e) < 0)
		goto out;
	if ((pv->caps & PROVIDER_CAP_BOX) && box_resolve(env, &c, &box, &have_box, e) < 0)
		goto out;
	c.box = have_box ? &box : NULL;
	ui_info("==> %s: Bringing machine up with provider '%s'...", m->name, pv->name);
	if (pv->up(&c, e) < 0)
		goto out;
	/* boot_timeout covers the whole boot: what up used is not given again to SSH. */
	left = m->boot_timeout - (int)(time(NULL) - start);
	if (cmd_machines_login(&c, pv, left > 10 ? left : 10, &comm, e) < 0) {
		console_hint(&c, pv, e);
		goto out;
	}
	ui_info("==> %s: SSH ready (%s, host key %s) after %d s", m->name, m->ssh.user,
		comm_host_key_fingerprint(comm), (int)(time(NULL) - start));
	if (set_hostname(comm, m, e) < 0)
		goto out;
	/* Folders before provisioning: steps may use what they hold. */
	if (cmd_folders_sync(&c, pv, comm, e) < 0)
		goto out;
	if (!o->no_provision) {
		rc = provision_run(comm, m, c.machine_dir, &o->prov, &h, &nran, e);
		cmd_output_flush(&out);
		if (rc < 0)
			goto out;
		if (!nran && m->nsteps)
			ui_info("==> %s: nothing to provision (run: once steps already ran; "
				"'envprovision' or 'envup --provision' runs them again)",
				m->name);
	}
	rc = 0;
out:
	comm_close(comm);
	if (have_box)
		box_entry_free(&box);
	free(dir);
	provider_ctx_free(&c);
	return rc;
}

static int up_option(int argc, char **argv, int *i, void *ctx)
{
	struct up_opts *o = ctx;

	if (!strcmp(argv[*i], "--provider") && *i + 1 < argc)
		o->provider = argv[++*i];
	else if (!strncmp(argv[*i], "--provider=", 11))
		o->provider = argv[*i] + 11;
	else if (!strcmp(argv[*i], "--provision"))
		o->prov.again = true;
	else if (!strcmp(argv[*i], "--no-provision"))
		o->no_provision = true;
	else
		return cmd_provision_with_option(argc, argv, i, &o->prov);
	return 1;
}

int cmd_up(int argc, char **argv)
{
	struct up_opts o = {0};
	const struct machine **list = NULL;
	struct env *env = NULL;
	struct err e = {0};
	char **names;
	size_t n = 0;
	int nnames, rc, with_steps = 0;

	rc = cmd_machines_args(cmd_lookup("up"), argc, argv, up_option, &o, &names, &nnames);
	if (rc >= 0)
		goto out;
	rc = EXIT_OK;
	if (cmd_load_env(&env, &e) < 0 ||
	    cmd_machines_select(env, names, nnames, SELECT_DEPS | SELECT_AUTOSTART, &list, &n, &e) <
		    0 ||
	    cmd_provision_names_known(env, list, n, &o.prov, &e) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		with_steps += list[i]->nsteps > 0;
	o.prefix = with_steps > 1;
	if (cmd_machines_each_locked(env, list, n, up_one, &o, &e) < 0)
		goto fail;
	goto out;
fail:
	rc = cmd_fail(&e);
out:
	envfile_free(env);
	free(list);
	free(names);
	cmd_provision_opts_free(&o.prov);
	return rc;
}
