/* The kit's virtio driver (polling) and its device checks. */
#ifndef KIT_VIRTIO_H
#define KIT_VIRTIO_H

#include "kit.h"

#define VIRTIO_F_VERSION_1 (1ULL << 32)
#define VIRTIO_F_INDIRECT (1ULL << 28)
#define VIRTIO_F_EVENT_IDX (1ULL << 29)
#define VD_NEXT 1
#define VD_WRITE 2
#define VD_INDIRECT 4

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct kvq {
	uint16_t qsize, avail_idx, last_used;
	uint8_t *ring;
	struct vdesc *desc;
	volatile uint16_t *avail;
	volatile uint32_t *used;
	uint64_t notify_addr;
};

struct kv {
	unsigned slot, msix_cap, vector;
	uint64_t common, notify, isr, device, msix_table;
	uint32_t notify_mult;
	uint64_t features;
	struct kvq q[2];
};

uint32_t pci_rd32(unsigned slot, unsigned off);
void pci_wr32(unsigned slot, unsigned off, uint32_t v);
void pci_wr16(unsigned slot, unsigned off, uint16_t v);
unsigned kv_find(unsigned dev_id, unsigned index);
bool kv_open(struct kv *v, unsigned slot, uint64_t want, unsigned vector, unsigned nq);
long kv_run(struct kv *v, uint16_t head);
void kvq_add(struct kvq *q, uint16_t head);
/* Takes the next used entry of q: true with its head and length. */
bool kvq_used(struct kvq *q, uint16_t *head, uint32_t *len);
bool kv_irr(unsigned vector);

void kit_rng_checks(void);
void kit_blk_checks(void);
void kit_net_checks(void);

#endif
