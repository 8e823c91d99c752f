/* Writing a streamOptimized VMDK (deflate-compressed grains with markers, grain tables and
 * directory at the end: the format VirtualBox and VMware put in OVF exports and Vagrant's
 * virtualbox boxes), and the OVF descriptor that names it. */
#ifndef ENVUP_BOXES_VMDK_WRITE_H
#define ENVUP_BOXES_VMDK_WRITE_H

#include <stdint.h>

#include "core/err.h"

/* Writes the qcow2 image src as a streamOptimized VMDK at dst (zero grains left out); its
 * size in bytes goes to *size. */
int vmdk_write_stream(const char *src, const char *dst, uint64_t *size, struct err *e);

/* An OVF 1.0 descriptor (heap) for one VM named name with one SATA disk: the VMDK file href
 * of file_size bytes holding a disk of capacity bytes; NULL when out of memory. */
char *vmdk_ovf(const char *name, const char *href, uint64_t file_size, uint64_t capacity);

#endif
