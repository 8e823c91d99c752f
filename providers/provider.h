/* The one interface every provider (vmm, qemu, static, ...) implements, in two halves: struct
 * provider (state, SSH endpoint, capabilities) and struct provider_ops (up, halt, destroy, ...).
 * The CLI never asks a provider what it is: it looks at the capabilities word and at which
 * operations are set. */
#ifndef ENVUP_PROVIDERS_PROVIDER_H
#define ENVUP_PROVIDERS_PROVIDER_H

#include <stdbool.h>

#include "boxes/store.h"
#include "core/envfile.h"
#include "core/err.h"
#include "core/progress.h"
#include "core/project.h"

/* What a machine is doing, as a provider sees it. */
enum machine_status {
	MACHINE_NOT_CREATED,
	MACHINE_RUNNING,
	MACHINE_HALTED,
	MACHINE_SUSPENDED,
	MACHINE_ABORTED, /* it was running and is gone without envhalt */
};

/* Capabilities: what a provider can do beyond up/halt/destroy/state/ssh_info. */
enum provider_cap {
	PROVIDER_CAP_SUSPEND = 1u << 0,	      /* suspend and resume are set */
	PROVIDER_CAP_SNAPSHOT = 1u << 1,      /* the snapshot_* operations are set */
	PROVIDER_CAP_PORT_FORWARD = 1u << 2,  /* forwarded_ports are honoured */
	PROVIDER_CAP_NETWORKS = 1u << 3,      /* private/public networks are honoured */
	PROVIDER_CAP_BOX = 1u << 4,	      /* the machine is made from its box */
	PROVIDER_CAP_GRACEFUL_HALT = 1u << 5, /* halt asks the guest before forcing */
	/* The provider shares host folders live (virtio-9p): synced folders of type 9p, and of
	 * type auto, are its to mount; without it, auto means rsync and 9p is refused. rsync
	 * needs nothing from a provider but SSH. */
	PROVIDER_CAP_LIVE_SHARE = 1u << 6,
	/* Its live share keeps the owners the guest gives files apart from the host's (QEMU's
	 * mapped-xattr): envup gives the folder to the SSH user after mounting. Without it the
	 * guest sees the host's owners, and a chown would walk the folder for nothing. */
	PROVIDER_CAP_SHARE_OWNERS = 1u << 7,
};

/* Messages a provider wants the person to see (cmd/ prints them, nothing below does). */
struct provider_log {
	void (*info)(void *ctx, const char *msg);
	void *ctx;
};

/* Everything an operation gets: one machine of one project. */
struct provider_ctx {
	const struct env *env;
	const struct machine *m;
	const struct project *proj;
	const char *machine_dir; /* .envup/machines/NAME; exists after up */
	struct provider_log log;
	struct progress progress; /* long work (box copies, downloads) */
	/* The installed box the machine is made from: set by envup (which resolves and fetches
	 * it) for providers with PROVIDER_CAP_BOX; NULL otherwise and for the other commands. */
	const struct box_entry *box;
};

/* Where SSH to the machine answers. */
struct provider_ssh_info {
	char host[256];
	int port;
};

/* What envstatus, envvalidate and envssh need of a provider: its name, what it can do, and
 * the machine's state and SSH endpoint. Reading these must stay cheap to link and to load:
 * the light envctl links this and not the lifecycle operations below. */
struct provider {
	const char *name;
	unsigned caps; /* enum provider_cap bits */
	int (*state)(const struct provider_ctx *c, enum machine_status *out, struct err *e);
	int (*ssh_info)(const struct provider_ctx *c, struct provider_ssh_info *out, struct err *e);
};

/* What changes a machine. Reached only through provider_ops(), which only the commands that
 * change machines call (they run in envctl-full): the code behind these (overlay disks, the
 * box store, the image library and its codecs) then stays out of the light envctl. */
struct provider_ops {
	/* Creates the machine if needed and starts it; returns once it runs (not once SSH
	 * answers: the communicator waits for that). Records its state. */
	int (*up)(const struct provider_ctx *c, struct err *e);
	/* Stops it (force: without asking the guest). */
	int (*halt)(const struct provider_ctx *c, bool force, struct err *e);
	/* Removes what the provider made; the caller then removes the machine directory. */
	int (*destroy)(const struct provider_ctx *c, struct err *e);
	/* Optional (NULL unless the matching capability is set). */
	int (*suspend)(const struct provider_ctx *c, struct err *e);
	int (*resume)(const struct provider_ctx *c, struct err *e);
	int (*snapshot_save)(const struct provider_ctx *c, const char *name, struct err *e);
	int (*snapshot_restore)(const struct provider_ctx *c, const char *name, struct err *e);
	int (*snapshot_delete)(const struct provider_ctx *c, const char *name, struct err *e);
	/* names: heap array of heap strings. */
	int (*snapshot_list)(const struct provider_ctx *c, char ***names, size_t *n, struct err *e);
	/* Optional: the last lines (at most n) of the machine's console, for a machine that
	 * does not boot; *out is a heap string (empty when there is no console yet). */
	int (*console_tail)(const struct provider_ctx *c, int n, char **out, struct err *e);
};

/* The lifecycle operations of pv (providers/ops.c); NULL for a provider this build does not
 * register. Call it only from commands that change machines: a reference to it links every
 * provider's up code into the program. */
const struct provider_ops *provider_ops(const struct provider *pv);

/* How a synced folder reaches the guest on a provider. */
enum folder_how {
	FOLDER_SKIP,	    /* disabled: true */
	FOLDER_BY_RSYNC,    /* envup runs rsync over SSH */
	FOLDER_BY_PROVIDER, /* the provider's live share */
};

/* How folder f reaches the guest of provider pv; *why (static) says why in a few words, for
 * envvalidate and messages. Fails naming the machine, the guest path and the provider when f
 * asks for 9p from a provider that cannot share live. */
int provider_folder_how(const struct provider *pv, const struct machine *m,
			const struct synced_folder *f, enum folder_how *out, const char **why,
			struct err *e);

/* The provider registered under name, or NULL when this build has none by that name. */
const struct provider *provider_lookup(const char *name);

/* The provider for machine m: override (--provider, may be NULL) wins over the Envfile's
 * provider:, and "auto" picks vmm on hosts with hardware virtualization, else qemu. Fails
 * naming the machine when the chosen provider is unknown or not in this build. *notice
 * (may be NULL) gets a one-line remark for the person, or NULL. */
int provider_for_machine(const struct machine *m, const char *override, const struct provider **out,
			 const char **notice, struct err *e);

/* /dev/kvm opens and the CPU has VT-x or AMD-V: KVM runs ordinary guests at full speed. */
bool provider_hardware_virt(void);

/* Fills c for machine m of project p (machine_dir is a heap string freed by
 * provider_ctx_free). */
int provider_ctx_init(struct provider_ctx *c, const struct env *env, const struct machine *m,
		      const struct project *p, struct err *e);
void provider_ctx_free(struct provider_ctx *c);

/* The provider that created machine m (recorded in its state), else the one it would get.
 * Lets status/destroy/ssh reach machines whatever --provider says today. */
int provider_of_existing(const struct provider_ctx *c, const struct provider **out, struct err *e);

/* The machine's status through its provider; not_created when it has no state. */
int provider_machine_status(const struct provider_ctx *c, enum machine_status *out, struct err *e);

/* "not_created", "running", "halted", "suspended", "aborted". */
const char *machine_status_name(enum machine_status s);

/* Records state (and the provider's name) in the machine's state.json, creating the
 * machine directory if needed. */
int provider_record_state(const struct provider_ctx *c, const char *provider, enum machine_status s,
			  struct err *e);

/* Reads the recorded state; MACHINE_NOT_CREATED when there is none. */
int provider_recorded_state(const struct provider_ctx *c, enum machine_status *out, struct err *e);

#endif
