/* rsync in the guest, over envup's own SSH connection: looked for, and installed with the
 * guest's package manager where the Envfile allows it (rsync__install). Apart from rsync.c so
 * that the light envctl, which runs envrsync without the SSH library, does not link it. */
#include <stdlib.h>

#include "provisioners/communicator.h"
#include "provisioners/rsync.h"

/* The guest's package manager, whichever it has, as root. */
static const char install_script[] =
	"sudo -n sh -c 'if command -v apt-get >/dev/null; then "
	"DEBIAN_FRONTEND=noninteractive apt-get install -y -q rsync || "
	"{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q rsync; }; "
	"elif command -v dnf >/dev/null; then dnf install -y -q rsync; "
	"elif command -v yum >/dev/null; then yum install -y -q rsync; "
	"elif command -v zypper >/dev/null; then zypper -n -q install rsync; "
	"elif command -v apk >/dev/null; then apk add -q rsync; "
	"elif command -v pacman >/dev/null; then pacman -S --noconfirm rsync; "
	"else echo \"no package manager envup knows (apt-get, dnf, yum, zypper, apk, pacman)\" "
	">&2; exit 1; fi' 2>&1";

int rsync_guest_ensure(struct comm *c, const struct machine *m, bool install, bool *installed,
		       struct err *e)
{
	char *out = NULL;
	int status;

	if (installed)
		*installed = false;
	if (comm_capture(c, "command -v rsync", NULL, NULL, 0, &status, e) < 0)
		return err_wrap(e, "machine '%s': looking for rsync in the guest", m->name);
	if (status == 0)
		return 0;
	if (!install)
		return rsync_missing(m, e);
	if (comm_capture(c, install_script, &out, NULL, 2048, &status, e) < 0)
		return err_wrap(e, "machine '%s': installing rsync in the guest", m->name);
	if (status == 0 && comm_capture(c, "command -v rsync", NULL, NULL, 0, &status, e) == 0 &&
	    status == 0) {
		free(out);
		if (installed)
			*installed = true;
		return 0;
	}
	err_set(e, ERR_FAIL, "machine '%s': installing rsync in the guest failed%s%.300s", m->name,
		out && *out ? ": " : "", out ? out : "");
	free(out);
	return -1;
}
