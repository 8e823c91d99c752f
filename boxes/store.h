/* The box store: $XDG_DATA_HOME/envup/boxes/NAME/VERSION/PROVIDER-ARCH/ holding the box's
 * files, base.qcow2 and envup-box.json (where it came from). NAME's "/" is stored as
 * "-VAGRANTSLASH-" as Vagrant does. Installation is atomic: a work directory under
 * boxes/.tmp/ renamed into place at the end, under a per-name lock (boxes/.locks/).
 *
 * Machines that use a box version are recorded in its users/ directory: one file per machine,
 * named by a hash of the machine directory and holding that directory's path. Providers call
 * box_store_use when they create a machine from a box and box_store_unuse when they destroy
 * it; prune and remove never take a version that a machine still on disk uses. */
#ifndef ENVUP_BOXES_STORE_H
#define ENVUP_BOXES_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct box_store {
	char *root;  /* .../envup/boxes */
	char *cache; /* .../envup (cache dir: downloads/ lives below) */
};

struct box_entry {
	char *name, *version, *provider, *arch;
	char *dir; /* the installed directory */
};

/* True for names the store can hold: ORG/BOX or one word of letters, digits, '.', '_', '-'
 * (no leading dot, no ".."). */
bool box_store_name_valid(const char *name);

/* Opens the store in the XDG directories (created when missing). */
int box_store_open(struct box_store *s, struct err *e);

/* Frees s's strings. */
void box_store_close(struct box_store *s);

/* The record envup writes next to base.qcow2 in every installed box: a directory without
 * one is not an installed box. */
#define BOX_RECORD_FILE "envup-box.json"

/* Called for each thing in the store's tree that is not a box (a stray file, an empty or
 * half-made directory), with its path and why. */
typedef void (*box_store_skip_fn)(void *ctx, const char *path, const char *why);

/* Every installed box, sorted by name, then version (newest last), provider, architecture;
 * what is not a box is skipped (and told to skip when given). */
int box_store_list_report(const struct box_store *s, struct box_entry **out, size_t *n,
			  box_store_skip_fn skip, void *ctx, struct err *e);

/* box_store_list_report without the report. */
int box_store_list(const struct box_store *s, struct box_entry **out, size_t *n, struct err *e);

/* Frees a list from box_store_list. */
void box_entries_free(struct box_entry *v, size_t n);

/* Frees one entry's strings. */
void box_entry_free(struct box_entry *b);

/* Bytes the box takes on disk. It walks the directory: only for where it is shown. */
uint64_t box_entry_size(const struct box_entry *b);

/* The newest installed version of name satisfying constraint (NULL: any), with provider and
 * arch when given (NULL: any; then the preferred box provider and the host's architecture
 * win among copies of one version). ERR_NOTFOUND when none. */
int box_store_find(const struct box_store *s, const char *name, const char *constraint,
		   const char *provider, const char *arch, struct box_entry *out, struct err *e);

/* The directory a box version would be installed in (heap string). */
char *box_store_path(const struct box_store *s, const char *name, const char *version,
		     const char *provider, const char *arch);

/* Takes the lock of name: one add/remove of a name at a time. Returns an fd; without wait,
 * ERR_BUSY when another process holds it. */
int box_store_lock(const struct box_store *s, const char *name, bool wait, struct err *e);

/* Releases a lock from box_store_lock. */
void box_store_unlock(int fd);

/* Makes a fresh, empty work directory for name (removing one a killed run left); the caller
 * holds name's lock. */
int box_store_workdir(const struct box_store *s, const char *name, char **out, struct err *e);

/* Moves a finished work directory into place for (name, version, provider, arch); replace
 * removes an installed copy first. ERR_EXISTS when installed and !replace. */
int box_store_commit(const struct box_store *s, const char *workdir, const char *name,
		     const char *version, const char *provider, const char *arch, bool replace,
		     struct err *e);

/* Removes one installed box version (refused with ERR_BUSY while a machine uses it unless
 * force). */
int box_store_remove(const struct box_store *s, const struct box_entry *b, bool force,
		     struct err *e);

/* Records that the machine in machine_dir uses box b. */
int box_store_use(const struct box_entry *b, const char *machine_dir, struct err *e);

/* Forgets that machine_dir uses box b (missing record is fine). */
int box_store_unuse(const struct box_entry *b, const char *machine_dir, struct err *e);

/* The machine directories still on disk that use b (stale records are dropped). */
int box_store_users(const struct box_entry *b, char ***out, size_t *n, struct err *e);

/* Frees a list from box_store_users. */
void box_store_users_free(char **v, size_t n);

/* Removes what killed adds and removes left in .tmp/ (names nobody holds the lock of). */
void box_store_sweep(const struct box_store *s);

/* Removes every version that is neither the newest of its name (per provider and
 * architecture) nor used by a machine, and leftovers of killed adds. Calls removed() for
 * each version removed (or that would be, with dry_run). */
int box_store_prune(const struct box_store *s, bool dry_run,
		    void (*removed)(void *ctx, const struct box_entry *b), void *ctx,
		    struct err *e);

#endif
