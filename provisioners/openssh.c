/* One list of OpenSSH options for a machine, so that envssh-config and rsync cannot drift. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provisioners/openssh.h"
#include "provisioners/sshfiles.h"

static void add(struct openssh_opts *o, const char *key, const char *value)
{
	if (o->n < OPENSSH_MAX_OPTS)
		o->opt[o->n++] = (struct openssh_opt){key, value};
}

int openssh_opts_init(struct openssh_opts *o, const struct machine *m, const char *machine_dir,
		      const char *host, int port, struct err *e)
{
	char type[64], *b64 = NULL;
	bool found;

	memset(o, 0, sizeof(*o));
	o->known_hosts = sshfiles_known_host_path(machine_dir);
	if (!o->known_hosts)
		return err_set(e, ERR_FAIL, "out of memory");
	if (sshfiles_identity(m, machine_dir, &o->identity, e) < 0 ||
	    sshfiles_pinned_read(o->known_hosts, type, sizeof(type), &b64, &found, e) < 0)
		goto fail;
	free(b64);
	if (!found) {
		err_set(e, ERR_FAIL, "machine '%s' has no pinned host key yet: 'envup %s' first",
			m->name, m->name);
		goto fail;
	}
	snprintf(o->host, sizeof(o->host), "%s", host);
	snprintf(o->port, sizeof(o->port), "%d", port);
	snprintf(o->algorithms, sizeof(o->algorithms), "%s", sshfiles_hostkey_algorithms(type));
	add(o, "HostName", o->host);
	add(o, "Port", o->port);
	add(o, "User", m->ssh.user);
	add(o, "IdentityFile", o->identity);
	add(o, "IdentitiesOnly", "yes");
	add(o, "UserKnownHostsFile", o->known_hosts);
	add(o, "StrictHostKeyChecking", "yes");
	/* known_host names the machine, not HOST:PORT, so a new forwarded port still matches. */
	add(o, "HostKeyAlias", m->name);
	add(o, "HostKeyAlgorithms", o->algorithms);
	add(o, "PasswordAuthentication", "no");
	add(o, "LogLevel", "ERROR");
	return 0;
fail:
	openssh_opts_free(o);
	return -1;
}

void openssh_opts_free(struct openssh_opts *o)
{
	free(o->identity);
	free(o->known_hosts);
	o->identity = o->known_hosts = NULL;
	o->n = 0;
}
