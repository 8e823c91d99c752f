/* Synced folders over rsync: envrsync (sync again) and envrsync-auto (watch the host folders
 * and sync what changed until interrupted), and the plan that envup's first sync shares
 * (cmd/folders_up.c). In the light envctl: a sync costs what a hand-typed rsync does. */
#include <fnmatch.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/folders.h"
#include "core/fsutil.h"
#include "core/project.h"
#include "core/ui.h"
#include "core/watch.h"
#include "providers/share9p.h"

/* Bursts (a checkout, a build writing many files) become one sync: it starts once nothing
 * changed for QUIET_MS, or MAX_MS after the first change of a steady stream. */
#define QUIET_MS 150
#define MAX_MS 1000

/* Whether the machine's state says its guest has no 9p. */
static bool guest_has_no_9p(const struct provider_ctx *c)
{
	struct json_object *st = NULL, *v;
	struct err ignored = {0};
	bool no = false;

	if (machine_state_load(c->machine_dir, &st, &ignored) < 0)
		return false;
	no = json_object_object_get_ex(st, SHARE9P_STATE_NO_9P, &v) && json_object_get_boolean(v);
	json_object_put(st);
	return no;
}

int cmd_folder_how(const struct provider_ctx *c, const struct provider *pv,
		   const struct synced_folder *f, enum folder_how *how, const char **why,
		   struct err *e)
{
	if (provider_folder_how(pv, c->m, f, how, why, e) < 0)
		return -1;
	if (*how == FOLDER_BY_PROVIDER && f->type == FOLDER_AUTO && guest_has_no_9p(c)) {
		*how = FOLDER_BY_RSYNC;
		*why = "auto: rsync, the guest kernel has no 9p";
	}
	return 0;
}

void cmd_folder_sync_free(struct folder_sync *fs)
{
	for (size_t i = 0; i < fs->njobs; i++)
		free(fs->jobs[i].nested);
	free(fs->jobs);
	openssh_opts_free(&fs->ssh);
	if (fs->have_ctx)
		provider_ctx_free(&fs->c);
	memset(fs, 0, sizeof(*fs));
}

/* Guest paths of m's other enabled folders strictly inside f's. */
static const char **nested_in(const struct machine *m, const struct synced_folder *f, size_t *n)
{
	const char **v = calloc(m->nfolders + 1, sizeof(*v));
	size_t len = strlen(f->guest);

	*n = 0;
	for (size_t i = 0; v && i < m->nfolders; i++) {
		const char *g = m->folders[i].guest;

		if (&m->folders[i] != f && !m->folders[i].disabled && !strncmp(g, f->guest, len) &&
		    g[len] == '/')
			v[(*n)++] = g;
	}
	return v;
}

int cmd_folder_sync_plan(struct folder_sync *fs, struct err *e)
{
	const struct machine *m = fs->c.m;
	struct provider_ssh_info si;

	fs->jobs = calloc(m->nfolders + 1, sizeof(*fs->jobs));
	if (!fs->jobs)
		return err_set(e, ERR_FAIL, "out of memory");
	for (size_t i = 0; i < m->nfolders; i++) {
		const struct synced_folder *f = &m->folders[i];
		struct folder_job *fj = &fs->jobs[fs->njobs];
		enum folder_how how;
		const char *why;

		if (cmd_folder_how(&fs->c, fs->pv, f, &how, &why, e) < 0)
			return -1;
		if (how != FOLDER_BY_RSYNC)
			continue;
		fj->j.m = m;
		fj->j.f = f;
		fj->j.project_dir = fs->c.env->dir;
		fj->j.ssh = &fs->ssh;
		fj->nested = nested_in(m, f, &fj->j.nnested);
		if (!fj->nested)
			return err_set(e, ERR_FAIL, "out of memory");
		fj->j.nested = fj->nested;
		fs->njobs++;
	}
	if (!fs->njobs)
		return 0;
	if (fs->pv->ssh_info(&fs->c, &si, e) < 0)
		return -1;
	return openssh_opts_init(&fs->ssh, m, fs->c.machine_dir, si.host, si.port, e);
}

int cmd_folder_sync_run(const struct folder_job *fj, struct err *e)
{
	struct rsync_result r;
	char *host;

	if (rsync_run(&fj->j, &r, e) < 0)
		return -1;
	host = cmd_display_path(fj->j.f->host);
	ui_info("==> %s: rsync %s -> %s: %lu file%s sent, %lu deleted (%.2f s)", fj->j.m->name,
		host ? host : fj->j.f->host, fj->j.f->guest, r.files, r.files == 1 ? "" : "s",
		r.deleted, r.seconds);
	free(host);
	return 0;
}

/* One folder for envrsync(-auto): a guest without rsync gets one only now, and only when the
 * Envfile allows installing it; that takes SSH, which the light envctl hands to envctl-full. */
static int sync_job(struct folder_sync *fs, struct folder_job *fj, struct err *e)
{
	const struct machine *m = fs->c.m;
	int rc = cmd_folder_sync_run(fj, e);

	if (rc == 0 || e->code != ERR_NOTFOUND || !rsync_install_allowed(m))
		return rc;
	if (!cmd_rsync_install)
		exit(cmd_exec_full());
	ui_info("==> %s: installing rsync in the guest (rsync__install: true)", m->name);
	if (cmd_rsync_install(fs, e) < 0)
		return -1;
	return cmd_folder_sync_run(fj, e);
}

/* A running machine's folders, for envrsync and envrsync-auto. */
static int machine_open(struct folder_sync *fs, const struct env *env, const struct project *p,
			const struct machine *m, struct err *e)
{
	enum machine_status s;

	memset(fs, 0, sizeof(*fs));
	if (cmd_machines_reach(&fs->c, env, m, p, &s, &fs->pv, e) < 0)
		return -1;
	fs->have_ctx = true;
	if (s != MACHINE_RUNNING)
		return err_set(e, ERR_FAIL, "machine '%s' is %s: 'envup %s' first", m->name,
			       machine_status_name(s), m->name);
	return cmd_folder_sync_plan(fs, e);
}

static int rsync_one(const struct env *env, const struct project *p, const struct machine *m,
		     void *ctx, struct err *e)
{
	struct folder_sync fs;
	int rc = machine_open(&fs, env, p, m, e);

	if (rc == 0 && !fs.njobs)
		ui_info("==> %s: no synced folder goes by rsync", m->name);
	for (size_t i = 0; rc == 0 && i < fs.njobs; i++)
		rc = sync_job(&fs, &fs.jobs[i], e);
	cmd_folder_sync_free(&fs);
	return rc;
}

int cmd_rsync(int argc, char **argv)
{
	return cmd_machines_command(argc, argv, NULL, NULL, 0, rsync_one, NULL);
}

/* envrsync-auto */

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct auto_state {
	struct folder_sync *fs;
	size_t nfs;
	const char *envup_dir;
};

static bool excluded_name(const struct synced_folder *f, const char *name)
{
	for (size_t i = 0; i < f->nexclude; i++) {
		char pat[PATH_MAX];
		size_t n = strlen(f->exclude[i]);

		/* Unanchored patterns of one component ("node_modules", "*.tmp/"); others are
		 * left to rsync: watching too much only costs a sync that finds nothing. */
		if (n >= sizeof(pat) || f->exclude[i][0] == '/')
			continue;
		memcpy(pat, f->exclude[i], n + 1);
		if (n > 1 && pat[n - 1] == '/')
			pat[n - 1] = '\0';
		if (!strchr(pat, '/') && fnmatch(pat, name, 0) == 0)
			return true;
	}
	return false;
}

/* Skips .envup/ and directories that every folder covering them excludes. */
static bool skip_dir(void *ctx, const char *dir)
{
	const struct auto_state *st = ctx;
	const char *base = strrchr(dir, '/');
	bool covered = false;

	if (!strcmp(dir, st->envup_dir))
		return true;
	base = base ? base + 1 : dir;
	for (size_t i = 0; i < st->nfs; i++) {
		for (size_t k = 0; k < st->fs[i].njobs; k++) {
			const struct synced_folder *f = st->fs[i].jobs[k].j.f;
			size_t n = strlen(f->host);

			if (strncmp(dir, f->host, n) || (dir[n] && dir[n] != '/'))
				continue;
			if (!dir[n] || !excluded_name(f, base))
				return false;
			covered = true;
		}
	}
	return covered;
}

static void mark_changed(void *ctx, const char *dir)
{
	struct auto_state *st = ctx;

	for (size_t i = 0; i < st->nfs; i++) {
		for (size_t k = 0; k < st->fs[i].njobs; k++) {
			struct folder_job *fj = &st->fs[i].jobs[k];
			size_t n = strlen(fj->j.f->host);

			if (!dir || (!strncmp(dir, fj->j.f->host, n) && (!dir[n] || dir[n] == '/')))
				fj->dirty = true;
		}
	}
}

/* Syncs every dirty folder; a failure is shown and the watch goes on (the next change tries
 * again), as a network hiccup must not end the session. */
static void sync_dirty(struct auto_state *st)
{
	for (size_t i = 0; i < st->nfs; i++) {
		for (size_t k = 0; k < st->fs[i].njobs; k++) {
			struct folder_job *fj = &st->fs[i].jobs[k];
			struct err e = {0};

			if (!fj->dirty)
				continue;
			fj->dirty = false;
			if (sync_job(&st->fs[i], fj, &e) < 0)
				ui_error("%s", e.msg);
		}
	}
}

static int auto_loop(struct auto_state *st, struct err *e)
{
	struct sigaction sa = {0};
	struct watch *w = NULL;
	size_t njobs = 0;
	int rc = -1, r;

	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (watch_open(&w, skip_dir, st, e) < 0)
		return -1;
	for (size_t i = 0; i < st->nfs; i++) {
		for (size_t k = 0; k < st->fs[i].njobs; k++, njobs++) {
			const struct synced_folder *f = st->fs[i].jobs[k].j.f;

			if (f->create && !fs_exists(f->host) && fs_mkdir_p(f->host, 0755, e) < 0)
				goto out;
			if (watch_add_tree(w, f->host, e) < 0)
				goto out;
			st->fs[i].jobs[k].dirty = true;
		}
	}
	if (!njobs) {
		err_set(e, ERR_USAGE, "no running machine has a synced folder that goes by rsync");
		goto out;
	}
	/* Changes made before the watches were in place are caught by this first sync. */
	sync_dirty(st);
	ui_info("==> watching %zu folder%s for changes (Ctrl-C stops)", njobs,
		njobs == 1 ? "" : "s");
	while ((r = watch_wait(w, QUIET_MS, MAX_MS, mark_changed, st, &stop_requested, e)) > 0)
		sync_dirty(st);
	if (r == 0) {
		ui_info("==> stopped watching");
		rc = 0;
	}
out:
	watch_close(w);
	return rc;
}

int cmd_rsync_auto(int argc, char **argv)
{
	const struct machine **list = NULL;
	struct auto_state st = {0};
	struct env *env = NULL;
	struct project proj = {.lock_fd = -1};
	struct err e = {0};
	char **names;
	char *envup_dir = NULL;
	size_t n = 0;
	int nnames, rc;

	rc = cmd_machines_args(cmd_lookup("rsync-auto"), argc, argv, NULL, NULL, &names, &nnames);
	if (rc >= 0)
		goto out;
	rc = EXIT_OK;
	/* No project lock: the watch lasts until interrupted and must not block envup. */
	if (cmd_load_env(&env, &e) < 0 ||
	    cmd_machines_select(env, names, nnames, 0, &list, &n, &e) < 0 ||
	    project_peek(env, &proj, &e) < 0)
		goto fail;
	envup_dir = fs_join(env->dir, ".envup");
	st.fs = calloc(n + 1, sizeof(*st.fs));
	if (!st.fs || !envup_dir) {
		err_set(&e, ERR_FAIL, "out of memory");
		goto fail;
	}
	st.envup_dir = envup_dir;
	for (size_t i = 0; i < n; i++) {
		if (machine_open(&st.fs[st.nfs], env, &proj, list[i], &e) == 0) {
			st.nfs++;
			continue;
		}
		cmd_folder_sync_free(&st.fs[st.nfs]);
		/* Named machines must be up; of all machines, those up are watched. */
		if (nnames)
			goto fail;
		ui_warn("%s", e.msg);
	}
	if (auto_loop(&st, &e) == 0)
		goto out;
fail:
	rc = cmd_fail(&e);
out:
	for (size_t i = 0; i < st.nfs; i++)
		cmd_folder_sync_free(&st.fs[i]);
	free(st.fs);
	free(envup_dir);
	project_close(&proj);
	envfile_free(env);
	free(list);
	free(names);
	return rc;
}
