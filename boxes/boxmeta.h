/* What an extracted box holds: its metadata.json and, per provider, where its disks are.
 *   envup:          metadata.json {"provider":"envup","disk":{"path","format"},
 *                                  "kernel","initrd","cmdline"} (docs/boxes.md)
 *   libvirt:        box.img ("format", v1) or "disks":[{"path","format"}] (v2)
 *   virtualbox:     the disks of box.ovf (or the only *.ovf), in the order the VM attaches them
 *   vmware_desktop: the disks named by the *.vmx file
 * Every path is relative, stays inside the box and names a regular file. */
#ifndef ENVUP_BOXES_BOXMETA_H
#define ENVUP_BOXES_BOXMETA_H

#include <stddef.h>

#include "boxes/image.h"
#include "core/err.h"

#define BOXMETA_MAX_DISKS 16

struct boxmeta_disk {
	char *path;	       /* relative to the box directory */
	enum image_format fmt; /* IMAGE_UNKNOWN: detect at import */
};

struct boxmeta {
	char *provider;
	char *architecture; /* NULL when metadata.json has none */
	struct boxmeta_disk disks[BOXMETA_MAX_DISKS];
	size_t ndisks;			 /* the first is the main disk */
	char *kernel, *initrd, *cmdline; /* envup boxes only; NULL when absent */
};

/* Reads dir/metadata.json and finds the box's disks. */
int boxmeta_read(const char *dir, struct boxmeta *m, struct err *e);

/* Frees what boxmeta_read filled. */
void boxmeta_free(struct boxmeta *m);

#endif
