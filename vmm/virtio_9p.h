/* virtio-9p (VIRTIO 1.2 section 5.x, device type 9): one request queue carrying 9P2000.L
 * messages to the file server of vmm/p9.h, and the mount tag in the configuration space. */
#ifndef ENVUP_VMM_VIRTIO_9P_H
#define ENVUP_VMM_VIRTIO_9P_H

#include "vmm/p9.h"
#include "vmm/virtio_pci.h"

/* The mount tag's longest form (Linux reads any length; QEMU allows 31). */
#define VIRTIO_9P_TAG_MAX 64

struct virtio_9p {
	struct virtio_dev vdev;
	struct p9_server srv;
	char tag[VIRTIO_9P_TAG_MAX + 1];
	uint8_t config[2 + VIRTIO_9P_TAG_MAX];
	uint8_t *req, *resp; /* P9_MSIZE_MAX bytes each: one request is handled at a time */
	uint64_t bad_chains;
	/* Queue processing as virtio-blk's (see p9_notify), under vm->lock. */
	bool busy, kicked;
	unsigned resets;
};

/* True when tag is a usable mount tag: 1..64 of [A-Za-z0-9_.-]. */
bool virtio_9p_tag_ok(const char *tag);

/* Shares dir under tag (read-only when readonly) and prepares the device (add
 * p->vdev.pci to the PCI bus afterwards). */
int virtio_9p_init(struct virtio_9p *p, struct vm *vm, const char *dir, const char *tag,
		   bool readonly, bool has_msi, struct err *e);

/* Handles one request chain (the device logic without queues; fuzzers call it). Returns the
 * bytes written into the chain. */
uint32_t virtio_9p_request(struct virtio_9p *p, const struct vq_chain *c);

/* Closes the share and frees the buffers. */
void virtio_9p_close(struct virtio_9p *p);

#endif
