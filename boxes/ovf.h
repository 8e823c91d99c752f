/* The disks of a VirtualBox box's OVF descriptor (box.ovf), in the order the virtual machine
 * attaches them: <Disk diskId fileRef> mapped through <File id href>, ordered by the hardware
 * items' HostResource "ovf:/disk/ID"; disks no item attaches come last. A bounded scanner of
 * the few elements that matter, not a general XML parser: the text is untrusted. */
#ifndef ENVUP_BOXES_OVF_H
#define ENVUP_BOXES_OVF_H

#include <stddef.h>

#include "core/err.h"

#define OVF_MAX_DISKS 16

struct ovf_disks {
	char *href[OVF_MAX_DISKS]; /* as written in the OVF; the caller checks them */
	size_t n;
};

/* Finds the disks of the OVF text (len bytes, need not be NUL-terminated). */
int ovf_disks(const char *text, size_t len, struct ovf_disks *out, struct err *e);

/* Frees the names. */
void ovf_disks_free(struct ovf_disks *d);

#endif
