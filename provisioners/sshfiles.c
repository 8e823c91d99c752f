/* A machine's SSH files, which envup's own connection (libssh) and OpenSSH (envssh-config,
 * rsync) both use. No SSH library here: the light envctl links this for envrsync. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "provisioners/sshfiles.h"

#define KNOWN_HOST_MAX (64 * 1024)

char *sshfiles_known_host_path(const char *machine_dir)
{
	return fs_join(machine_dir, "known_host");
}

int sshfiles_identity(const struct machine *m, const char *machine_dir, char **out, struct err *e)
{
	*out = m->ssh.private_key ? strdup(m->ssh.private_key) : fs_join(machine_dir, SSHFILES_KEY);
	if (!*out)
		return err_set(e, ERR_FAIL, "out of memory");
	if (!m->ssh.private_key && !fs_exists(*out)) {
		free(*out);
		*out = NULL;
		return err_set(e, ERR_NOTFOUND,
			       "machine '%s' has no key of its own yet: run 'envup %s' first",
			       m->name, m->name);
	}
	return 0;
}

int sshfiles_pinned_read(const char *path, char *type, size_t tlen, char **b64, bool *found,
			 struct err *e)
{
	char *text, *line, *save = NULL;
	size_t len;

	*found = false;
	*b64 = NULL;
	if (!fs_exists(path))
		return 0;
	if (fs_read_file(path, KNOWN_HOST_MAX, &text, &len, e) < 0)
		return -1;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *alias, *t, *k, *s2 = NULL;

		if (line[0] == '#' || !line[strspn(line, " \t\r")])
			continue;
		alias = strtok_r(line, " \t", &s2);
		t = strtok_r(NULL, " \t", &s2);
		k = strtok_r(NULL, " \t\r", &s2);
		if (!alias || !t || !k || strlen(t) >= tlen)
			break;
		snprintf(type, tlen, "%s", t);
		*b64 = strdup(k);
		free(text);
		if (!*b64)
			return err_set(e, ERR_FAIL, "out of memory");
		*found = true;
		return 0;
	}
	free(text);
	return err_set(e, ERR_CORRUPT, "%s: no host key line (ALIAS TYPE KEY) in it", path);
}

const char *sshfiles_hostkey_algorithms(const char *type)
{
	if (!strcmp(type, "ssh-rsa"))
		return "rsa-sha2-512,rsa-sha2-256,ssh-rsa";
	return type;
}
