/* Making a box from a disk image (envbox package --image, envbox repackage): the disk
 * converted into one compact image and the metadata of the chosen flavour, so that envup and
 * Vagrant itself can install it:
 *   envup:      metadata.json {provider envup, disk, kernel/initrd/cmdline} + disk.qcow2
 *   libvirt:    metadata.json {provider libvirt, format qcow2, virtual_size GiB} + box.img
 *               (vagrant-libvirt's format v1) + a Vagrantfile choosing KVM
 *   virtualbox: metadata.json {provider virtualbox} + box.ovf + box-disk001.vmdk
 *               (streamOptimized, as VirtualBox exports) */
#ifndef ENVUP_BOXES_PACKAGE_H
#define ENVUP_BOXES_PACKAGE_H

#include <stdint.h>

#include "boxes/image.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/progress.h"

enum box_flavour { BOX_FLAVOUR_ENVUP, BOX_FLAVOUR_LIBVIRT, BOX_FLAVOUR_VIRTUALBOX };

struct box_package_opts {
	const char *image;	     /* the disk */
	enum image_format fmt;	     /* IMAGE_UNKNOWN: detected */
	const char *trusted_backing; /* a machine overlay's base image (image.h) or NULL */
	enum box_flavour flavour;
	const char *arch;		       /* Vagrant's name; NULL: the host's */
	const char *kernel, *initrd, *cmdline; /* envup flavour only; NULL when none */
	const char *output;		       /* the .box to write */
	const struct progress *progress;       /* converting the disk */
};

struct box_package_result {
	char sha256[HASH_HEX_MAX];
	uint64_t size;
	const char *provider; /* the flavour's provider name */
};

/* "envup", "libvirt", "virtualbox" to the enum; -1 for anything else. */
int box_flavour_from_name(const char *name);

/* The provider name a flavour's box declares. */
const char *box_flavour_provider(enum box_flavour f);

/* Writes the box o describes. */
int box_package(const struct box_package_opts *o, struct box_package_result *r, struct err *e);

#endif
