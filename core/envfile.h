/* The Envfile: loading, validation and the plain structure every command works from.
 * Nothing else in the program parses YAML. */
#ifndef ENVUP_CORE_ENVFILE_H
#define ENVUP_CORE_ENVFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Where a value came from, for error messages: Envfile:LINE:COLUMN. */
struct src_pos {
	int line;
	int col;
};

struct kv {
	char *key;
	char *value;
};

enum provision_kind { PROVISION_SHELL, PROVISION_FILE };
enum provision_run { RUN_ONCE, RUN_ALWAYS, RUN_NEVER };

struct provision_step {
	enum provision_kind kind;
	char *name;          /* as given, or "shell 1", "file 2" (1-based position) */
	enum provision_run run;
	/* shell */
	char *inline_script; /* exactly one of inline_script and path */
	char *path;          /* resolved against the project directory */
	char **args;
	size_t nargs;
	struct kv *env;
	size_t nenv;
	bool privileged;     /* default true */
	/* file */
	char *source;        /* resolved against the project directory */
	char *destination;
	struct src_pos pos;
};

struct forwarded_port {
	int guest;
	int host;
	char *host_ip;       /* default "127.0.0.1" */
	char *protocol;      /* "tcp" or "udp" */
	bool auto_correct;   /* a taken host port is replaced by a free one (2200-2250) */
};

struct network {
	char *type;          /* "private" or "public" */
	char *ip;            /* may be NULL (dhcp) */
};

/* How a synced folder reaches the guest: auto is the provider's live share where it has one
 * (PROVIDER_CAP_LIVE_SHARE), else rsync. */
enum folder_type { FOLDER_AUTO, FOLDER_RSYNC, FOLDER_9P };

struct synced_folder {
	char *host;          /* absolute; canonical when it exists */
	char *guest;         /* absolute, normalised (no trailing '/', no '..'), never "/" */
	enum folder_type type; /* default auto */
	char **exclude;      /* rsync patterns */
	size_t nexclude;
	char *owner;         /* NULL: the SSH user */
	char *group;         /* NULL: the SSH user's primary group, or the owner's name */
	char **mount_options; /* 9p only */
	size_t nmount_options;
	bool create;         /* make host when it is missing */
	bool disabled;
	bool rsync_install;  /* rsync__install: envup may install rsync in the guest */
	bool fstab;          /* 9p: also a line in the guest's /etc/fstab (a reboot inside mounts it) */
	bool implicit;       /* the default entry: the project directory on /vagrant */
	struct src_pos pos;
};

struct ssh_settings {
	char *user;          /* default "vagrant" */
	int port;            /* default 22 */
	char *private_key;   /* NULL: the insecure key first, then a per-machine key */
};

struct static_host {
	char *host;
	int port;            /* default 22 */
};

struct machine {
	char *name;
	char *box;
	char *box_version;   /* constraint string, validated */
	char *box_url;
	char *provider;      /* "auto" (default), "vmm", "qemu" or "static" */
	int cpus;            /* default 1 */
	uint64_t memory_mib; /* default 1024 */
	uint64_t disk_bytes; /* 0: the box's own size */
	char *hostname;
	int boot_timeout;    /* seconds, default 300 */
	bool primary;
	bool autostart;      /* default true */
	char **depends_on;
	size_t *dep_index;   /* depends_on resolved: indices into env->machines */
	size_t ndepends;
	struct forwarded_port *ports;
	size_t nports;
	struct network *networks;
	size_t nnetworks;
	struct synced_folder *folders;
	size_t nfolders;
	struct ssh_settings ssh;
	struct static_host static_host;
	struct provision_step *steps;
	size_t nsteps;
	struct src_pos pos;
};

struct env {
	char *path;          /* the Envfile, absolute */
	char *dir;           /* the project directory (the Envfile's), absolute */
	int version;
	char **registries;
	size_t nregistries;
	struct machine *machines; /* in Envfile order */
	size_t nmachines;
	/* Indices into machines: Envfile order, except that each machine comes after those it
	 * depends on. */
	size_t *order;
};

#define ENVFILE_BOX_MAX 4096

/* True when box can be a machine's box: a name, URL or path without control characters, not
 * empty, at most ENVFILE_BOX_MAX bytes (the Envfile and envinit --box apply the same rule). */
bool envfile_box_valid(const char *box);

/* Loads and validates the Envfile at path. On error, e->msg is "FILE:LINE:COL: key.path: why"
 * for the first problem (with a count of the others). */
int envfile_load(const char *path, struct env **out, struct err *e);

/* Every problem found in a YAML file, in file order (for envvalidate). */
struct yaml_report {
	char **msgs;
	size_t n;
};

/* Like envfile_load, naming the file display in messages and collecting every problem in rep
 * (which the caller frees with yaml_report_free, on success too). */
int envfile_load_report(const char *path, const char *display, struct env **out,
			struct yaml_report *rep, struct err *e);
void yaml_report_free(struct yaml_report *rep);

/* Frees everything envfile_load returned. NULL is fine. */
void envfile_free(struct env *env);

/* The machine called name, or NULL. */
const struct machine *env_machine(const struct env *env, const char *name);

/* The machine called name, or NULL with a usage error naming the Envfile and suggesting the
 * nearest name (for a machine named on the command line). */
const struct machine *env_machine_named(const struct env *env, const char *name, struct err *e);

/* Finds the Envfile for a command run in cwd: $ENVUP_ENVFILE, else "Envfile" in cwd or the
 * nearest parent. Returns a heap path. */
int envfile_find(const char *cwd, char **path, struct err *e);

#endif
