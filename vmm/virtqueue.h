/* Split virtqueues (VIRTIO 1.2 section 2.7): descriptor chains read through the guest-memory
 * accessor, bounded so that a cyclic or oversized chain cannot loop or overflow, with
 * indirect descriptors and event-index notification suppression. */
#ifndef ENVUP_VMM_VIRTQUEUE_H
#define ENVUP_VMM_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/memory.h"

#define VQ_MAX_SIZE 256
#define VQ_MAX_SEGS VQ_MAX_SIZE

struct virtqueue {
	const struct guest_mem *mem;
	uint16_t size; /* set by the driver; power of two <= VQ_MAX_SIZE */
	bool ready;
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;	/* VIRTIO_F_INDIRECT_DESC negotiated */
	uint64_t desc, avail, used;
	uint16_t last_avail; /* next avail entry the device takes */
	uint16_t used_idx;   /* the device's copy of used->idx */
	uint16_t signalled;  /* used_idx when the driver was last interrupted */
	bool signalled_valid;
};

struct vq_seg {
	uint8_t *p; /* host address, checked to lie in guest RAM */
	uint32_t len;
	bool write; /* device-writable */
};

struct vq_chain {
	uint16_t head;
	unsigned n;
	uint64_t out_len, in_len; /* bytes the device may read / write */
	struct vq_seg seg[VQ_MAX_SEGS];
};

/* Checks the rings lie in guest RAM and starts at index 0; false (not ready) when not. */
bool vq_enable(struct virtqueue *vq, const struct guest_mem *mem);

/* Forgets everything (device reset). */
void vq_reset(struct virtqueue *vq);

/* Takes the next available chain: 1 with c filled, 0 when none is waiting, -1 when the chain
 * is malformed (c->head is still valid for vq_push with length 0; the reason is in why). */
int vq_pop(struct virtqueue *vq, struct vq_chain *c, const char **why);

/* Returns chain head to the driver with len bytes written. */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t len);

/* True when the driver wants an interrupt for what was pushed since the last one. */
bool vq_should_notify(struct virtqueue *vq);

/* Copies up to len device-readable bytes from offset off of the chain; returns bytes copied. */
size_t vq_chain_read(const struct vq_chain *c, size_t off, void *buf, size_t len);

/* Copies up to len bytes into the device-writable part from offset off; returns bytes copied. */
size_t vq_chain_write(const struct vq_chain *c, size_t off, const void *buf, size_t len);

#endif
