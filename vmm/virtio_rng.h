/* virtio-rng: fills the guest's buffers from getrandom(2). */
#ifndef ENVUP_VMM_VIRTIO_RNG_H
#define ENVUP_VMM_VIRTIO_RNG_H

#include "vmm/virtio_pci.h"

struct virtio_rng {
	struct virtio_dev vdev;
	uint64_t bytes;
};

/* Prepares the device (add rng->vdev.pci to the PCI bus afterwards). */
void virtio_rng_init(struct virtio_rng *rng, struct vm *vm, bool has_msi);

#endif
