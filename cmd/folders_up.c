/* envup's synced-folder steps in its SSH session, once SSH is ready and before provisioning:
 * folders shared live (9p) are mounted (a folder mounted already, as at envup of a running
 * machine, is left as it is), then rsync is checked for, or installed, in the guest and the
 * rsync folders are synced (cmd/rsync.c plans them). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/folders.h"
#include "core/project.h"
#include "core/ui.h"
#include "provisioners/communicator.h"
#include "providers/share9p.h"

#define GUEST_MSG_MAX 2048 /* the guest's error output kept for the message */

/* Slashes in a guest path: parents (fewer) are mounted before the folders inside them. */
static size_t depth(const char *path)
{
	size_t n = 0;

	for (; *path; path++)
		n += *path == '/';
	return n;
}

/* The guest's message, its first lines on one line. */
static void one_line(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = 0;
	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

static int record_no_9p(const struct provider_ctx *c, struct err *e)
{
	struct json_object *st = NULL;
	int rc;

	if (machine_state_load(c->machine_dir, &st, e) < 0)
		return -1;
	json_object_object_add(st, SHARE9P_STATE_NO_9P, json_object_new_boolean(1));
	rc = machine_state_save(c->machine_dir, st, e);
	json_object_put(st);
	return rc;
}

/* 0 when mounted, 1 when folder f (type auto) goes by rsync instead: the guest has no 9p. */
static int mount_one(const struct provider_ctx *c, const struct provider *pv,
		     const struct synced_folder *f, size_t index, struct comm *comm, struct err *e)
{
	const struct machine *m = c->m;
	char tag[SHARE9P_TAG_LEN], *cmd = NULL, *errout = NULL, *host;
	int status = -1, rc = -1;

	share9p_tag(index, tag);
	if (share9p_mount_command(f, tag, pv->caps & PROVIDER_CAP_SHARE_OWNERS, &cmd, e) < 0)
		return -1;
	if (comm_capture(comm, cmd, NULL, &errout, GUEST_MSG_MAX, &status, e) < 0) {
		err_wrap(e, "machine '%s': mounting synced folder %s", m->name, f->guest);
		goto out;
	}
	if (errout)
		one_line(errout);
	host = cmd_display_path(f->host);
	switch (status) {
	case 0:
	case SHARE9P_ALREADY:
		ui_info("==> %s: 9p %s -> %s (tag %s): %s%s", m->name, host ? host : f->host,
			f->guest, tag, status ? "mounted already" : "mounted",
			f->fstab ? ", in /etc/fstab" : "");
		rc = 0;
		break;
	case SHARE9P_NO_CHOWN:
		/* the folder works; only its ownership is not the Vagrant habit */
		ui_warn("%s: 9p %s -> %s is mounted, but its files could not all be given to %s "
			"(%s)",
			m->name, host ? host : f->host, f->guest,
			f->owner ? f->owner : "the SSH user",
			errout && *errout ? errout : "no message from the guest");
		rc = 0;
		break;
	case SHARE9P_NO_FSTAB:
		err_set(e, ERR_FAIL,
			"machine '%s': synced folder %s is mounted, but its line could not be "
			"added "
			"to the guest's /etc/fstab (fstab: true): %s",
			m->name, f->guest,
			errout && *errout ? errout : "no message from the guest");
		break;
	case SHARE9P_NO_9P:
		if (f->type == FOLDER_AUTO) {
			ui_warn("%s: the guest kernel has no 9p file system: %s (type auto) "
				"and the machine's other auto folders go by rsync",
				m->name, f->guest);
			rc = record_no_9p(c, e) < 0 ? -1 : 1;
			break;
		}
		err_set(e, ERR_UNSUPPORTED,
			"machine '%s': synced folder %s has type 9p, but the guest kernel has "
			"no 9p file system (not even after modprobe 9p); use a box whose "
			"kernel has 9p and 9pnet_virtio, or type rsync (or auto, which falls "
			"back to rsync)",
			m->name, f->guest);
		break;
	default:
		err_set(e, ERR_FAIL,
			"machine '%s': mounting synced folder %s (9p, tag %s) failed (status %d): "
			"%s; the guest kernel needs 9p and 9pnet_virtio, and a folder added while "
			"the machine ran needs 'envreload %s'",
			m->name, f->guest, tag, status,
			errout && *errout ? errout : "no message from the guest", m->name);
	}
	free(host);
out:
	free(cmd);
	free(errout);
	return rc;
}

int cmd_folders_mount(const struct provider_ctx *c, const struct provider *pv, struct comm *comm,
		      struct err *e)
{
	const struct machine *m = c->m;
	size_t max_depth = 0;

	for (size_t i = 0; i < m->nfolders; i++) {
		size_t d = depth(m->folders[i].guest);

		max_depth = d > max_depth ? d : max_depth;
	}
	/* shallow first: /srv before /srv/data, whatever the Envfile's order */
	for (size_t d = 0; d <= max_depth; d++)
		for (size_t i = 0; i < m->nfolders; i++) {
			const struct synced_folder *f = &m->folders[i];
			enum folder_how how;
			const char *why;

			if (depth(f->guest) != d)
				continue;
			if (cmd_folder_how(c, pv, f, &how, &why, e) < 0)
				return -1;
			if (how == FOLDER_BY_PROVIDER && mount_one(c, pv, f, i, comm, e) < 0)
				return -1;
		}
	return 0;
}

int cmd_folders_sync(const struct provider_ctx *c, const struct provider *pv, struct comm *comm,
		     struct err *e)
{
	struct folder_sync fs = {.c = *c, .pv = pv}; /* c stays the caller's: have_ctx false */
	bool installed;
	int rc = -1;

	if (cmd_folder_sync_plan(&fs, e) < 0)
		goto out;
	if (fs.njobs) {
		if (rsync_guest_ensure(comm, c->m, rsync_install_allowed(c->m), &installed, e) < 0)
			goto out;
		if (installed)
			ui_info("==> %s: installed rsync in the guest", c->m->name);
	}
	for (size_t i = 0; i < fs.njobs; i++)
		if (cmd_folder_sync_run(&fs.jobs[i], e) < 0)
			goto out;
	rc = 0;
out:
	cmd_folder_sync_free(&fs);
	return rc;
}

int cmd_rsync_install(struct folder_sync *fs, struct err *e)
{
	struct comm *comm = NULL;
	int rc = cmd_machines_login(&fs->c, fs->pv, 30, &comm, e);

	if (rc == 0)
		rc = rsync_guest_ensure(comm, fs->c.m, true, NULL, e);
	comm_close(comm);
	return rc;
}
