/* Synced folders that a provider shares live over virtio-9p (PROVIDER_CAP_LIVE_SHARE): the
 * hypervisor's share arguments for each, and the guest's command that mounts it over SSH.
 * The qemu provider serves them with QEMU's own -virtfs, the vmm provider with envvmm's
 * --share; envup mounts them after SSH is ready (cmd/folders_up.c). */
#ifndef ENVUP_PROVIDERS_SHARE9P_H
#define ENVUP_PROVIDERS_SHARE9P_H

#include <stdbool.h>
#include <stddef.h>

#include "providers/local.h"

/* The guest's 9p mount options before the Envfile's mount_options (which come after them
 * and so win where they repeat one). */
#define SHARE9P_MOUNT_OPTIONS "trans=virtio,version=9p2000.L,msize=512000"

/* Mount tags are "envup" and the folder's index in its machine's synced_folders: stable as
 * long as the Envfile keeps its folders' order, short enough for QEMU (31 bytes) and envvmm. */
#define SHARE9P_TAG_LEN 32
void share9p_tag(size_t index, char out[SHARE9P_TAG_LEN]);

/* True when f's mount_options hold "ro": the hypervisor then shares the folder read-only
 * too, so the guest cannot write it by mounting it again without "ro". */
bool share9p_readonly(const struct synced_folder *f);

/* s with each comma doubled, as QEMU's and envvmm's comma-separated options read a comma
 * inside a value (heap string, NULL when out of memory). */
char *share9p_commas_doubled(const char *s);

/* Adds the hypervisor's arguments for one shared folder. */
typedef void (*share9p_add_fn)(struct local_args *a, const char *host_escaped, const char *tag,
			       bool readonly);

/* For each of m's folders that pv shares live, in Envfile order: makes its host folder when
 * create: asks for it (else it must exist) and calls add. Fails naming the machine and the
 * folder. */
int share9p_args(const struct provider *pv, const struct machine *m, struct local_args *a,
		 share9p_add_fn add, struct err *e);

/* Exit statuses of the mount command besides 0 (mounted now): */
#define SHARE9P_ALREADY 3  /* mounted there already (a running machine's envup) */
#define SHARE9P_NO_CHOWN 4 /* mounted, but some files could not be given to the owner */
#define SHARE9P_NO_9P 5	   /* the guest kernel has no 9p file system, even after modprobe */
#define SHARE9P_NO_FSTAB 6 /* mounted, but its line could not be added to /etc/fstab */

/* The machine state's key (true) once a guest turned out to have no 9p: its auto folders go
 * by rsync from then on (stock cloud kernels, such as Debian's linux-image-cloud-amd64, are
 * built without 9p). */
#define SHARE9P_STATE_NO_9P "guest_has_no_9p"

/* The guest's sh command (heap string in *out) that mounts folder f, shared under tag, at
 * f->guest as root through password-less sudo, unless it is mounted there already (exit
 * SHARE9P_NO_9P when the guest kernel has no 9p), and then gives every file that the owner
 * (f's, else the SSH user) and group (f's, else the owner's primary group) do not own to them,
 * skipping .envup/ (the machine's own state, when the folder is the project); a read-only
 * folder, and any folder when !give_owners (a share that cannot keep the guest's owners),
 * keeps its owners. With f->fstab, the mount is also entered in the guest's
 * /etc/fstab (with nofail, once per tag and mount point). */
int share9p_mount_command(const struct synced_folder *f, const char *tag, bool give_owners,
			  char **out, struct err *e);

#endif
