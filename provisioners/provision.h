/* Running a machine's provision steps in Envfile order, choosing which by their run policy
 * and by what state.json says already ran, and recording each run. */
#ifndef ENVUP_PROVISIONERS_PROVISION_H
#define ENVUP_PROVISIONERS_PROVISION_H

#include <stdbool.h>

#include "core/envfile.h"
#include "provisioners/communicator.h"

struct provision_opts {
	/* --provision-with: exactly these steps (any run policy), in Envfile order. */
	char **only;
	size_t nonly;
	/* Run "once" steps even when they ran before (envprovision, envup --provision). */
	bool again;
};

struct provision_hooks {
	/* Called before each step that runs. */
	void (*step)(void *ctx, const struct provision_step *st);
	struct comm_output out; /* the steps' output */
	void *ctx;
};

/* Fails naming the first of names that is no step of m (with a suggestion). */
int provision_check_names(const struct machine *m, char **names, size_t n, struct err *e);

/* Whether step st would run under o, given what machine_dir's state records. */
bool provision_wanted(const struct machine *m, const char *machine_dir,
		      const struct provision_step *st, const struct provision_opts *o);

/* Records in machine_dir's state.json that st ran with exit status (-1: did not complete).
 * Fails (ERR_CORRUPT) on a state whose "provisioners" or its entry for st is no object. */
int provision_record(const char *machine_dir, const struct provision_step *st, int status,
		     struct err *e);

/* Runs the wanted steps; stops at the first failure with an error naming the machine, the
 * step and its exit status. *nran (may be NULL) counts the steps that ran. */
int provision_run(struct comm *c, const struct machine *m, const char *machine_dir,
		  const struct provision_opts *o, const struct provision_hooks *h, int *nran,
		  struct err *e);

#endif
