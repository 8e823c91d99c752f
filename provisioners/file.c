/* File steps: SFTP as the SSH user, as Vagrant's file provisioner does (a destination that
 * needs root is reached with a file step to /tmp and a privileged shell step). */
#include "provisioners/file.h"

int file_step_run(struct comm *c, const struct provision_step *st, const struct progress *p,
		  struct err *e)
{
	if (!st->source || !st->destination)
		return err_set(e, ERR_USAGE, "step '%s': source and destination are required",
			       st->name);
	return comm_upload(c, st->source, st->destination, p, e);
}
