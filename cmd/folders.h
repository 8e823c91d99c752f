/* Synced folders for the machine commands: which way each goes and the rsync of those that go
 * by rsync (cmd/rsync.c, in the light envctl too), and envup's steps that use its SSH session:
 * 9p mounts, and rsync checked for or installed before the first sync (cmd/folders_up.c). */
#ifndef ENVUP_CMD_FOLDERS_H
#define ENVUP_CMD_FOLDERS_H

#include <stdbool.h>

#include "cmd/machines.h"
#include "provisioners/openssh.h"
#include "provisioners/rsync.h"

struct folder_job {
	struct rsync_job j;
	const char **nested;
	bool dirty; /* envrsync-auto: changed since its last sync */
};

/* The rsync folders of one running machine. */
struct folder_sync {
	struct provider_ctx c;
	bool have_ctx; /* c is ours to free */
	const struct provider *pv;
	struct openssh_opts ssh;
	struct folder_job *jobs;
	size_t njobs;
};

/* How folder f of machine c->m reaches the guest: provider_folder_how, except that an auto
 * folder goes by rsync once the machine's guest turned out to have no 9p. */
int cmd_folder_how(const struct provider_ctx *c, const struct provider *pv,
		   const struct synced_folder *f, enum folder_how *how, const char **why,
		   struct err *e);

/* Which folders of fs->c.m go by rsync (fs->c and fs->pv set), and the SSH options to reach
 * it when any does. */
int cmd_folder_sync_plan(struct folder_sync *fs, struct err *e);

/* rsync of one planned folder, reported on one line. */
int cmd_folder_sync_run(const struct folder_job *fj, struct err *e);

void cmd_folder_sync_free(struct folder_sync *fs);

/* Installs rsync in fs->c.m's guest over SSH (rsync__install). envctl-full only
 * (cmd/folders_up.c): the light envctl, which links no SSH library, sees NULL and hands the
 * command to envctl-full. */
int cmd_rsync_install(struct folder_sync *fs, struct err *e) __attribute__((weak));

/* Syncs machine c->m's synced folders that go by rsync, over the connection comm to check
 * for (or install) rsync in the guest first. */
int cmd_folders_sync(const struct provider_ctx *c, const struct provider *pv, struct comm *comm,
		     struct err *e);

/* Mounts machine c->m's synced folders that its provider shares live (9p) over comm, parents
 * before the folders inside them, each unless it is mounted already. A guest without 9p turns
 * its auto folders to rsync (a warning), and fails its 9p ones. */
int cmd_folders_mount(const struct provider_ctx *c, const struct provider *pv, struct comm *comm,
		      struct err *e);

#endif
