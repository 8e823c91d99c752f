/* A streamOptimized VMDK converted to qcow2 as it is read front to back (from an archive
 * entry), so that the VMDK itself is never written to disk. */
#ifndef ENVUP_BOXES_VMDK_STREAM_H
#define ENVUP_BOXES_VMDK_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"

/* Reads up to len bytes of the stream: the count, 0 at its end, -1 on error (e set). */
typedef ssize_t (*vmdk_stream_read_fn)(void *ctx, void *buf, size_t len, struct err *e);

/* True when head (a file's first len bytes) starts with the header of a VMDK whose grains
 * are compressed with markers and whose embedded descriptor, inside head, says
 * createType="streamOptimized": what vmdk_stream_to_qcow2 reads. */
bool vmdk_stream_is(const void *head, size_t len);

/* Reads the whole stream through rd and writes it as a qcow2 base image (the layout
 * image_convert writes) into fd, an empty file named name in messages; synced before it
 * returns. The stream is untrusted: header, descriptor (no parent disk), markers and each
 * grain are checked (grains in increasing order inside the capacity, each inflating to one
 * grain); a virtual size over max_size is refused before anything is written. */
int vmdk_stream_to_qcow2(vmdk_stream_read_fn rd, void *ctx, int fd, const char *name,
			 uint64_t max_size, struct err *e);

#endif
