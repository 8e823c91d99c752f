/* The file provisioner: a file or directory of the project copied to the machine. */
#ifndef ENVUP_PROVISIONERS_FILE_H
#define ENVUP_PROVISIONERS_FILE_H

#include "core/envfile.h"
#include "provisioners/communicator.h"

/* Uploads st->source to st->destination as the SSH user (modes kept, parents created). */
int file_step_run(struct comm *c, const struct provision_step *st, const struct progress *p,
		  struct err *e);

#endif
