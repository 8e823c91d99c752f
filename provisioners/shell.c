/* Shell steps. The script is uploaded rather than passed on the command line so that its size
 * and content never meet a shell's quoting; it runs through env(1), whose execvp falls back to
 * /bin/sh for scripts without a #! line even under sudo. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/fsutil.h"
#include "core/strutil.h"
#include "provisioners/shell.h"

#define SCRIPT_MAX (16u << 20)

/* Appends " " and s quoted to *buf; false on allocation failure. */
static bool append_quoted(char **buf, size_t *len, const char *prefix, const char *s)
{
	char *q = str_shell_quote(s), *nb;
	size_t n;

	if (!q)
		return false;
	n = strlen(prefix) + strlen(q) + 1;
	nb = realloc(*buf, *len + n + 1);
	if (!nb) {
		free(q);
		return false;
	}
	snprintf(nb + *len, n + 1, " %s%s", prefix, q);
	*len += strlen(nb + *len);
	*buf = nb;
	free(q);
	return true;
}

char *shell_command(const struct provision_step *st, const char *remote_path)
{
	char *cmd = NULL, *qp = str_shell_quote(remote_path);
	size_t len;
	bool ok = true;

	if (!qp ||
	    asprintf(&cmd, "chmod +x %s && %senv", qp, st->privileged ? "sudo -n -H " : "") < 0) {
		free(qp);
		return NULL;
	}
	len = strlen(cmd);
	for (size_t i = 0; ok && i < st->nenv; i++) {
		char *kv;

		if (asprintf(&kv, "%s=%s", st->env[i].key, st->env[i].value) < 0) {
			ok = false;
			break;
		}
		ok = append_quoted(&cmd, &len, "", kv);
		free(kv);
	}
	ok = ok && append_quoted(&cmd, &len, "", remote_path);
	for (size_t i = 0; ok && i < st->nargs; i++)
		ok = append_quoted(&cmd, &len, "", st->args[i]);
	if (ok) {
		/* Keep the script's status, remove the script either way. */
		char *full;

		if (asprintf(&full, "%s; r=$?; rm -f %s; exit $r", cmd, qp) < 0)
			ok = false;
		else {
			free(cmd);
			cmd = full;
		}
	}
	free(qp);
	if (!ok) {
		free(cmd);
		return NULL;
	}
	return cmd;
}

int shell_step_run(struct comm *c, const struct provision_step *st, const struct comm_output *out,
		   int *status, struct err *e)
{
	unsigned char rnd[8];
	char remote[64], *script = NULL, *cmd = NULL;
	size_t len;
	int rc = -1;

	if (st->inline_script) {
		script = strdup(st->inline_script);
		len = script ? strlen(script) : 0;
		if (!script)
			return err_set(e, ERR_FAIL, "out of memory");
	} else if (fs_read_file(st->path, SCRIPT_MAX, &script, &len, e) < 0) {
		return -1;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		err_sys(e, "getrandom");
		goto out;
	}
	snprintf(remote, sizeof(remote), "/tmp/envup-shell-%02x%02x%02x%02x%02x%02x%02x%02x.sh",
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	if (comm_upload_data(c, script, len, remote, 0700, e) < 0)
		goto out;
	cmd = shell_command(st, remote);
	if (!cmd) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	rc = comm_exec(c, cmd, false, out, status, e);
out:
	free(cmd);
	free(script);
	return rc;
}
