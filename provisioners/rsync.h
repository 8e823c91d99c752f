/* Synced folders over rsync: the host's rsync, through OpenSSH with the machine's own key and
 * pinned host key, into one guest folder (--delete never reaches outside it). */
#ifndef ENVUP_PROVISIONERS_RSYNC_H
#define ENVUP_PROVISIONERS_RSYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/envfile.h"
#include "core/err.h"
#include "provisioners/communicator.h"
#include "provisioners/openssh.h"

struct rsync_job {
	const struct machine *m;
	const struct synced_folder *f;
	const char *project_dir;	/* its .envup/ is never sent (nor deleted in the guest) */
	const struct openssh_opts *ssh; /* from openssh_opts_init */
	const char *const *nested;	/* guest paths of other synced folders inside f's: kept */
	size_t nnested;
};

struct rsync_result {
	unsigned long files;   /* regular files sent */
	unsigned long deleted; /* files deleted in the guest */
	double seconds;
};

/* The host rsync's argument vector for job j (NULL-terminated, heap; rsync_argv_free). */
int rsync_argv(const struct rsync_job *j, char ***out, struct err *e);
void rsync_argv_free(char **argv);

/* Syncs one folder (making the host folder first when create: true). Errors name the machine
 * and the guest folder; a guest without rsync is ERR_NOTFOUND. */
int rsync_run(const struct rsync_job *j, struct rsync_result *r, struct err *e);

/* Over an open connection: fails naming the machine when the guest has no rsync, unless
 * install (rsync__install) lets envup install it with the guest's package manager. *installed
 * (may be NULL) says whether it did. */
int rsync_guest_ensure(struct comm *c, const struct machine *m, bool install, bool *installed,
		       struct err *e);

/* The error (ERR_NOTFOUND) for a guest without rsync, naming m and rsync__install. */
int rsync_missing(const struct machine *m, struct err *e);

/* Whether any enabled folder of m allows envup to install rsync (rsync__install: true). */
bool rsync_install_allowed(const struct machine *m);

#endif
