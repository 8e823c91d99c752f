/* Logging in to a machine the way envup promises: the insecure Vagrant key only for the very
 * first login, replaced at once by a per-machine ed25519 key (Vagrant's insert_key), and a
 * host key pinned in the machine directory. */
#ifndef ENVUP_PROVISIONERS_LOGIN_H
#define ENVUP_PROVISIONERS_LOGIN_H

#include "core/envfile.h"
#include "core/err.h"
#include "provisioners/communicator.h"

struct login_params {
	const struct machine *m;
	const char *machine_dir; /* exists */
	const char *host;
	int port;
	int timeout_s; /* how long to wait for SSH (boot_timeout) */
	void (*waiting)(void *ctx, const char *why, int seconds_left);
	void (*info)(void *ctx, const char *msg);
	void *ctx;
};

/* Connects as the machine's SSH user: with the Envfile's private_key when it names one, else
 * with the machine's own key, else with the insecure key, which is then replaced (new key
 * added, checked by a second login, insecure key removed from ~/.ssh/authorized_keys). A
 * changed host key fails with how to reset it. Records the login in state.json. */
int login_connect(const struct login_params *p, struct comm **out, struct err *e);

#endif
