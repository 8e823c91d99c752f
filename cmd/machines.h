/* What the machine commands (up, provision, halt, destroy, ssh, ssh-config) share: choosing
 * machines in dependency order, reaching their provider, logging in, printing their output. */
#ifndef ENVUP_CMD_MACHINES_H
#define ENVUP_CMD_MACHINES_H

#include <stdbool.h>

#include "cmd/cmd.h"
#include "core/envfile.h"
#include "core/project.h"
#include "providers/provider.h"
#include "provisioners/communicator.h"

enum select_flags {
	SELECT_DEPS = 1,      /* named machines bring the machines they depend on */
	SELECT_AUTOSTART = 2, /* with no names, skip machines with autostart: false */
	SELECT_REVERSE = 4,   /* dependents first (halt, destroy) */
};

/* The machines named (all when n is 0) in depends_on order. *out is a heap array. */
int cmd_machines_select(const struct env *env, char **names, int n, unsigned flags,
			const struct machine ***out, size_t *nout, struct err *e);

/* A command's own option at argv[*i] (it may consume more words by moving *i): 1 when it was
 * one, 0 when not, -1 after a usage error it printed. */
typedef int (*cmd_option_fn)(int argc, char **argv, int *i, void *ctx);

/* Parses "[MACHINE...] [OPTIONS]" for a machine command: its own options through opt (may be
 * NULL), then the common ones; names into *names (heap, caller frees, even on return >= 0).
 * Returns -1 to go on, or an exit code to return at once (--help, usage error). */
int cmd_machines_args(const struct command *self, int argc, char **argv, cmd_option_fn opt,
		      void *ctx, char ***names, int *nnames);

/* What a machine command does to one machine. */
typedef int (*cmd_machine_fn)(const struct env *env, const struct project *p,
			      const struct machine *m, void *ctx, struct err *e);

/* Takes the project lock (waiting unless --no-wait) and runs fn on each machine of list in
 * order, stopping at the first failure. */
int cmd_machines_each_locked(const struct env *env, const struct machine **list, size_t n,
			     cmd_machine_fn fn, void *ctx, struct err *e);

/* envhalt of one machine (ctx: a bool, force); envreload halts with it too. */
int cmd_halt_machine(const struct env *env, const struct project *p, const struct machine *m,
		     void *ctx, struct err *e);

/* "-f"/"--force" into *(bool *)ctx, for cmd_machines_args. */
int cmd_force_option(int argc, char **argv, int *i, void *ctx);

/* The one machine a single-machine command means: named, else the primary, else the only. */
int cmd_machines_one(const struct env *env, const char *name, const struct machine **out,
		     struct err *e);

/* Sets c up for m, wiring provider messages to the terminal. */
int cmd_machines_ctx(struct provider_ctx *c, const struct env *env, const struct machine *m,
		     const struct project *p, struct err *e);

/* Sets c up for m and reads its status through its provider: *pv is the provider that created
 * it, NULL when it is not created. On success the caller frees c. */
int cmd_machines_reach(struct provider_ctx *c, const struct env *env, const struct machine *m,
		       const struct project *p, enum machine_status *s, const struct provider **pv,
		       struct err *e);

/* Sets c up for m, which must be running, and logs in (errors say 'envup NAME' first). On
 * success the caller frees c and closes *comm. */
int cmd_machines_connect(struct provider_ctx *c, const struct env *env, const struct machine *m,
			 const struct project *p, struct comm **comm, struct err *e);

/* A whole machine command (argv[0] names it): its arguments (opt for its own options), the Envfile,
 * the machines named (select flags), then fn on each under the project lock. Returns the exit code.
 */
int cmd_machines_command(int argc, char **argv, cmd_option_fn opt, void *opt_ctx, unsigned flags,
			 cmd_machine_fn fn, void *ctx);

/* Logs in to a running machine through its provider's ssh_info (waiting up to timeout_s). */
int cmd_machines_login(const struct provider_ctx *c, const struct provider *pv, int timeout_s,
		       struct comm **out, struct err *e);

/* Output of remote commands to our stdout/stderr, each line prefixed "    NAME: " when
 * prefix is set. */
struct cmd_output {
	const char *name;
	bool prefix;
	bool mid_line[2];
};
void cmd_output_write(void *ctx, int stream, const char *buf, size_t len);
/* Ends a started line so later messages begin on their own. */
void cmd_output_flush(struct cmd_output *o);

struct provision_opts;

/* Parses "--provision-with A,B" or "--provision-with=A,B" at argv[*i] into o (adding to
 * what is there): 1 when consumed, 0 when not this option, -1 after a usage error. */
int cmd_provision_with_option(int argc, char **argv, int *i, struct provision_opts *o);

/* Fails when a --provision-with name is a step of none of the machines. */
int cmd_provision_names_known(const struct env *env, const struct machine **list, size_t n,
			      const struct provision_opts *o, struct err *e);

void cmd_provision_opts_free(struct provision_opts *o);

#endif
