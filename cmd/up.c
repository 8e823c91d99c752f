/* envup: make every machine exist, run and be provisioned. Machines come up in parallel, each
 * in its own process, a machine starting once those it depends on are up; their output lines
 * carry their names. envreload is envhalt then envup. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "boxes/add.h"
#include "cmd/box_store.h"
#include "cmd/cmd.h"
#include "cmd/folders.h"
#include "core/ui.h"
#include "core/userconf.h"
#include "provisioners/provision.h"

struct up_opts {
	const char *provider;
	bool no_provision;
	struct provision_opts prov;
	bool prefix; /* several machines: prefix their output */
	bool reload; /* envreload: halt the machines first */
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
	struct box_add_opts o = {
		.source = c->m->box_url ? c->m->box_url : c->m->box,
		.name = c->m->box,
		.constraint = c->m->box_version,
		.registries = env->registries,
		.nregistries = env->nregistries,
		.uc = &uc,
	};
	struct cmd_add_progress progress;
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
	/* a box of gigabytes takes minutes: the same bar as envbox add's */
	cmd_add_progress_attach(&progress, &o);
	rc = box_ensure(&s, &o, out, &added, e);
	ui_progress_done(&progress.bar);
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
	const struct provider_ops *ops = provider_ops(pv);
	char *tail = NULL;
	struct err ignored = {0};

	if (!ops->console_tail || e->code != ERR_TIMEOUT ||
	    ops->console_tail(c, 20, &tail, &ignored) < 0)
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
	struct timespec t0, t1;
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
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (provider_ops(pv)->up(&c, e) < 0)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ui_verbose("==> %s: started in %ld ms", m->name,
		   (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
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
	/* Folders before provisioning: steps may use what they hold. 9p mounts first: an rsync
	 * folder inside a 9p one lands in the mounted folder, as the guest sees it. */
	if (cmd_folders_mount(&c, pv, comm, e) < 0 || cmd_folders_sync(&c, pv, comm, e) < 0)
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

/* One machine's envup, run in a child process. */
struct up_job {
	const struct machine *m;
	enum { JOB_WAITING, JOB_RUNNING, JOB_UP, JOB_FAILED, JOB_SKIPPED } state;
	pid_t pid;
	int fd[3];	    /* its stdout, its stderr, its error message; -1 once at EOF */
	char part[2][1024]; /* a line not ended yet, per stream */
	size_t npart[2];
	char msg[512]; /* why it failed or was skipped (first line) */
	int exit_code;
	time_t start, end;
};

/* Writes one line of job j's stream (0 stdout, 1 stderr) to ours, ended by a newline whether
 * it had one or not (a piece of an overlong line, the last line). Lines that name the machine
 * already ("==> web: ...", "    web: ...") stay as they are; the others (errors, warnings)
 * get "web: " in front. One write per line: machines' lines never mix. */
static void job_line(const struct up_job *j, int stream, const char *line, size_t len)
{
	char head[300], buf[sizeof(head) + sizeof(j->part[0]) + 1];
	size_t nh = 0;
	int l = snprintf(head, sizeof(head), "==> %s: ", j->m->name);
	bool named = len >= (size_t)l &&
		     (!memcmp(line, head, (size_t)l) ||
		      (!memcmp(line, "    ", 4) && !memcmp(line + 4, head + 4, (size_t)l - 4)));
	ssize_t w;

	if (!named)
		nh = (size_t)snprintf(head, sizeof(head), "%s: ", j->m->name);
	if (len > sizeof(j->part[0]))
		len = sizeof(j->part[0]);
	memcpy(buf, head, nh);
	memcpy(buf + nh, line, len);
	if (!len || line[len - 1] != '\n')
		buf[nh + len++] = '\n';
	w = write(stream ? STDERR_FILENO : STDOUT_FILENO, buf, nh + len);
	(void)w; /* our own output is gone: nowhere to say so */
}

/* Reads what job j wrote on fd[k]; whole lines go out at once. */
static void job_read(struct up_job *j, int k)
{
	char buf[4096];
	ssize_t r = read(j->fd[k], buf, sizeof(buf));

	if (r < 0 && errno == EINTR)
		return;
	if (r <= 0) {
		if (k < 2 && j->npart[k]) /* a last line without newline */
			job_line(j, k, j->part[k], j->npart[k]);
		close(j->fd[k]);
		j->fd[k] = -1;
		return;
	}
	if (k == 2) { /* the error message: its first line, for the summary */
		size_t have = strlen(j->msg), n = (size_t)r;

		if (have + n >= sizeof(j->msg))
			n = sizeof(j->msg) - 1 - have;
		memcpy(j->msg + have, buf, n);
		j->msg[have + n] = 0;
		return;
	}
	for (ssize_t i = 0; i < r; i++) {
		char *part = j->part[k];

		part[j->npart[k]++] = buf[i];
		if (buf[i] == '\n' || j->npart[k] == sizeof(j->part[k])) {
			job_line(j, k, part, j->npart[k]);
			j->npart[k] = 0;
		}
	}
}

/* The child: envup of one machine with its output into pipes; exits 0, 1 or 2. */
static void job_child(const struct env *env, const struct project *p, struct up_job *j,
		      struct up_opts *o, int out[2], int errp[2], int res[2])
{
	struct err e = {0};
	int nul = open("/dev/null", O_RDONLY);

	/* envup killed (even by SIGKILL) takes its machines' runs with it: the next envup
	 * resumes them, and nothing works on a machine that nobody waits for */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(EXIT_FAIL);
	dup2(nul, STDIN_FILENO);
	dup2(out[1], STDOUT_FILENO);
	dup2(errp[1], STDERR_FILENO);
	close(out[0]), close(errp[0]), close(res[0]);
	close(out[1]), close(errp[1]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (up_one(env, p, j->m, o, &e) == 0) {
		close(res[1]);
		exit(EXIT_OK);
	}
	ui_error("%s", e.msg);
	if (write(res[1], e.msg, strnlen(e.msg, sizeof(e.msg))) < 0)
		e.code = ERR_FAIL;
	close(res[1]);
	exit(e.code == ERR_USAGE ? EXIT_USAGE : EXIT_FAIL);
}

static int job_start(const struct env *env, const struct project *p, struct up_job *j,
		     struct up_opts *o)
{
	int out[2], errp[2], res[2];

	if (pipe2(out, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(errp, O_CLOEXEC) < 0) {
		close(out[0]), close(out[1]);
		return -1;
	}
	if (pipe2(res, O_CLOEXEC) < 0) {
		close(out[0]), close(out[1]), close(errp[0]), close(errp[1]);
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	j->pid = fork();
	if (j->pid == 0)
		job_child(env, p, j, o, out, errp, res);
	close(out[1]), close(errp[1]), close(res[1]);
	if (j->pid < 0) {
		close(out[0]), close(errp[0]), close(res[0]);
		return -1;
	}
	j->fd[0] = out[0], j->fd[1] = errp[0], j->fd[2] = res[0];
	j->state = JOB_RUNNING;
	j->start = time(NULL);
	return 0;
}

/* The job of machine m in jobs, or NULL (a dependency not brought up by this run). */
static struct up_job *job_of(struct up_job *jobs, size_t n, const struct machine *m)
{
	for (size_t i = 0; i < n; i++)
		if (jobs[i].m == m)
			return &jobs[i];
	return NULL;
}

/* Starts every waiting job whose dependencies are up; skips those whose dependency failed. */
static void jobs_start_ready(const struct env *env, const struct project *p, struct up_job *jobs,
			     size_t n, struct up_opts *o)
{
	for (size_t i = 0; i < n; i++) {
		struct up_job *j = &jobs[i];
		bool ready = true;

		if (j->state != JOB_WAITING)
			continue;
		for (size_t d = 0; d < j->m->ndepends && j->state == JOB_WAITING; d++) {
			const struct machine *dm = &env->machines[j->m->dep_index[d]];
			struct up_job *dj = job_of(jobs, n, dm);

			if (!dj)
				continue;
			if (dj->state == JOB_FAILED || dj->state == JOB_SKIPPED) {
				j->state = JOB_SKIPPED;
				snprintf(j->msg, sizeof(j->msg), "depends on %s, which is not up",
					 dm->name);
				ui_info("==> %s: Not started: %s", j->m->name, j->msg);
			}
			ready &= dj->state == JOB_UP;
		}
		if (j->state == JOB_WAITING && ready && job_start(env, p, j, o) < 0) {
			j->state = JOB_FAILED;
			j->exit_code = EXIT_FAIL;
			snprintf(j->msg, sizeof(j->msg), "cannot start a process: %s",
				 strerror(errno));
		}
	}
}

/* Forwards the running jobs' output until one of them ends; reaps it. */
static void jobs_wait_one(struct up_job *jobs, size_t n)
{
	struct pollfd *pf = calloc(3 * n, sizeof(*pf));
	size_t np = 0;

	if (!pf) {
		sleep(1);
		return;
	}

	for (size_t i = 0; i < n; i++)
		for (int k = 0; jobs[i].state == JOB_RUNNING && k < 3; k++)
			if (jobs[i].fd[k] >= 0) {
				pf[np++] = (struct pollfd){jobs[i].fd[k], POLLIN, 0};
			}
	if (np && poll(pf, np, -1) > 0)
		for (size_t p = 0; p < np; p++)
			for (size_t i = 0; pf[p].revents && i < n; i++)
				for (int k = 0; k < 3; k++)
					if (jobs[i].fd[k] == pf[p].fd) {
						job_read(&jobs[i], k);
						pf[p].revents = 0;
						break;
					}
	free(pf);
	for (size_t i = 0; i < n; i++) {
		struct up_job *j = &jobs[i];
		int status;

		if (j->state != JOB_RUNNING || j->fd[0] >= 0 || j->fd[1] >= 0 || j->fd[2] >= 0)
			continue;
		while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
			;
		j->end = time(NULL);
		j->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_FAIL;
		j->state = j->exit_code == 0 ? JOB_UP : JOB_FAILED;
		if (j->state == JOB_FAILED && !j->msg[0])
			snprintf(j->msg, sizeof(j->msg), "its envup process ended by signal %d",
				 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		char *nl = strchr(j->msg, '\n');
		if (nl)
			*nl = 0;
	}
}

/* envup of several machines: each in its own process as soon as what it depends on is up.
 * Returns the exit code; prints a summary of every machine. */
static int up_parallel(const struct env *env, const struct project *p, const struct machine **list,
		       size_t n, struct up_opts *o)
{
	struct up_job *jobs = calloc(n, sizeof(*jobs));
	size_t nup = 0;
	int rc = EXIT_OK;
	bool busy;

	if (!jobs) {
		ui_error("out of memory");
		return EXIT_FAIL;
	}
	for (size_t i = 0; i < n; i++)
		jobs[i] = (struct up_job){.m = list[i], .fd = {-1, -1, -1}};
	do {
		jobs_start_ready(env, p, jobs, n, o);
		busy = false;
		for (size_t i = 0; i < n; i++)
			busy |= jobs[i].state == JOB_RUNNING;
		if (busy)
			jobs_wait_one(jobs, n);
	} while (busy);
	for (size_t i = 0; i < n; i++)
		nup += jobs[i].state == JOB_UP;
	ui_info("==> %zu of %zu machines up:", nup, n);
	for (size_t i = 0; i < n; i++) {
		const struct up_job *j = &jobs[i];

		if (j->state == JOB_UP)
			ui_info("    %s: up (%d s)", j->m->name, (int)(j->end - j->start));
		else if (j->state == JOB_FAILED)
			ui_info("    %s: FAILED after %d s: %s", j->m->name,
				(int)(j->end - j->start), j->msg);
		else
			ui_info("    %s: not started: %s", j->m->name, j->msg);
		if (j->state != JOB_UP && rc == EXIT_OK)
			rc = j->state == JOB_FAILED ? j->exit_code : EXIT_FAIL;
	}
	free(jobs);
	return rc;
}

/* envreload's first half: every machine of list that runs (or ran) is halted, dependents
 * first; its disk is kept. */
static int reload_halt(const struct env *env, const struct project *p, const struct machine **list,
		       size_t n, struct err *e)
{
	bool force = false;

	for (size_t i = n; i-- > 0;)
		if (cmd_halt_machine(env, p, list[i], &force, e) < 0)
			return -1;
	return 0;
}

/* envup and envreload: options, the machines, the project lock, then the work. */
static int up_command(int argc, char **argv, bool reload)
{
	struct up_opts o = {.reload = reload};
	const struct machine **list = NULL;
	struct env *env = NULL;
	struct project proj = {.lock_fd = -1};
	bool opened = false;
	struct err e = {0};
	char **names;
	size_t n = 0;
	/* envreload brings up what it halted: the machines named, not their dependencies */
	unsigned flags = reload ? SELECT_AUTOSTART : SELECT_DEPS | SELECT_AUTOSTART;
	int nnames, rc;

	rc = cmd_machines_args(cmd_lookup(argv[0]), argc, argv, up_option, &o, &names, &nnames);
	if (rc >= 0)
		goto out;
	rc = EXIT_OK;
	if (cmd_load_env(&env, &e) < 0 ||
	    cmd_machines_select(env, names, nnames, flags, &list, &n, &e) < 0 ||
	    cmd_provision_names_known(env, list, n, &o.prov, &e) < 0)
		goto fail;
	if (project_open(env, &proj, &e) < 0)
		goto fail;
	opened = true;
	if (project_lock(&proj, !cli.no_wait, &e) < 0 ||
	    (reload && reload_halt(env, &proj, list, n, &e) < 0))
		goto fail;
	o.prefix = n > 1;
	if (n > 1) {
		rc = up_parallel(env, &proj, list, n, &o);
		goto out;
	}
	if (n == 1 && up_one(env, &proj, list[0], &o, &e) < 0)
		goto fail;
	goto out;
fail:
	rc = cmd_fail(&e);
out:
	if (opened)
		project_close(&proj);
	envfile_free(env);
	free(list);
	free(names);
	cmd_provision_opts_free(&o.prov);
	return rc;
}

int cmd_up(int argc, char **argv)
{
	return up_command(argc, argv, false);
}

int cmd_reload(int argc, char **argv)
{
	return up_command(argc, argv, true);
}
