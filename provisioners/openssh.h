/* The OpenSSH client options that reach a machine the way envup does: its own key, the
 * pinned host key under the machine's name, nothing from ~/.ssh. envssh-config prints them;
 * rsync runs ssh with them. */
#ifndef ENVUP_PROVISIONERS_OPENSSH_H
#define ENVUP_PROVISIONERS_OPENSSH_H

#include <stddef.h>

#include "core/envfile.h"
#include "core/err.h"

#define OPENSSH_MAX_OPTS 12

struct openssh_opt {
	const char *key; /* ssh_config keyword */
	const char *value;
};

struct openssh_opts {
	struct openssh_opt opt[OPENSSH_MAX_OPTS];
	size_t n;
	char *identity;	   /* heap */
	char *known_hosts; /* heap */
	char host[256];
	char port[8];
	char algorithms[128];
};

/* Fills o for machine m answering at host:port. Fails with 'envup NAME' first when envup has
 * not logged in to it yet (no key of its own, no pinned host key). */
int openssh_opts_init(struct openssh_opts *o, const struct machine *m, const char *machine_dir,
		      const char *host, int port, struct err *e);
void openssh_opts_free(struct openssh_opts *o);

#endif
