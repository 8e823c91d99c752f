/* virtio-net (one queue pair, no offloads) connected to libslirp. */
#ifndef ENVUP_VMM_VIRTIO_NET_H
#define ENVUP_VMM_VIRTIO_NET_H

#include "vmm/net_slirp.h"
#include "vmm/virtio_pci.h"

#define VIRTIO_NET_HDR 12
#define VIRTIO_NET_MAX_FRAME 65536

struct virtio_net {
	struct virtio_dev vdev;
	struct net_slirp *slirp;
	uint8_t config[8]; /* mac, status */
	uint64_t rx_frames, tx_frames, rx_dropped, tx_dropped;
	uint8_t frame[VIRTIO_NET_MAX_FRAME];
};

/* Prepares the device with MAC 52:54:00:12:34:56 and starts slirp on el. */
int virtio_net_init(struct virtio_net *n, struct vm *vm, struct eventloop *el,
		    const struct net_opts *o, bool has_msi, struct err *e);

/* Gives a frame to the guest, or drops it when the guest has no buffer posted (vm->lock). */
void virtio_net_receive(void *opaque, const uint8_t *frame, size_t len);

/* Handles the transmit queue (the fuzzers call this without slirp: frames are dropped). */
void virtio_net_tx(struct virtio_net *n);

/* Stops slirp. */
void virtio_net_close(struct virtio_net *n);

#endif
