/* The inside of struct comm, shared by communicator.c, comm_exec.c and comm_upload.c only. */
#ifndef ENVUP_PROVISIONERS_COMM_PRIV_H
#define ENVUP_PROVISIONERS_COMM_PRIV_H

#include <libssh/libssh.h>

struct comm {
	ssh_session s;
	char where[300]; /* "user@host:port" for messages */
	char fingerprint[200];
};

#endif
