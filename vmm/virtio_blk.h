/* virtio-blk on a disk image (raw or qcow2 through boxes/image.h): read, write, flush
 * (fdatasync), device ID; read-only disks refuse writes. */
#ifndef ENVUP_VMM_VIRTIO_BLK_H
#define ENVUP_VMM_VIRTIO_BLK_H

#include "boxes/image.h"
#include "vmm/virtio_pci.h"

#define VIRTIO_BLK_ID_BYTES 20

struct virtio_blk {
	struct virtio_dev vdev;
	struct image *img;
	bool readonly;
	uint64_t capacity; /* bytes, a multiple of 512 */
	char serial[VIRTIO_BLK_ID_BYTES + 1];
	uint8_t config[24];
	uint64_t reads, writes, flushes, errors;
	/* Queue processing (see blk_notify), under vm->lock. */
	bool busy;	 /* a thread is handling the queue (with vm->lock released for I/O) */
	bool kicked;	 /* the driver notified since that thread last looked */
	unsigned resets; /* device resets so far */
};

/* Opens path as fmt (read-only when readonly) and prepares the device; backing (or NULL) is
 * an absolute path a qcow2 overlay may name as its backing file although it lies outside the
 * overlay's directory (the image library's trusted_backing). */
int virtio_blk_init(struct virtio_blk *b, struct vm *vm, const char *path, enum image_format fmt,
		    bool readonly, const char *backing, const char *serial, bool has_msi,
		    struct err *e);

/* Handles one request chain on b (the device logic without queues; fuzzers call it). Returns
 * the number of bytes written into the chain. */
uint32_t virtio_blk_request(struct virtio_blk *b, const struct vq_chain *c);

/* Flushes and closes the image. */
void virtio_blk_close(struct virtio_blk *b);

#endif
