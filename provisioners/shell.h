/* The shell provisioner: a script (inline or a file in the project) uploaded to the machine and
 * run there with its args and env, through sudo when privileged. */
#ifndef ENVUP_PROVISIONERS_SHELL_H
#define ENVUP_PROVISIONERS_SHELL_H

#include "core/envfile.h"
#include "provisioners/communicator.h"

/* The remote command that runs the uploaded script at remote_path for step st (heap). */
char *shell_command(const struct provision_step *st, const char *remote_path);

/* Uploads and runs step st, streaming its output to out; *status is the script's exit status.
 * Fails only when the step could not be run at all. */
int shell_step_run(struct comm *c, const struct provision_step *st, const struct comm_output *out,
		   int *status, struct err *e);

#endif
