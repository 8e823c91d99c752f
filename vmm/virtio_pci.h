/* The virtio 1.x PCI transport (VIRTIO 1.2 section 4.1): modern capabilities in one memory BAR
 * (common, notify, ISR, device configuration), MSI-X, and INTx as fallback. */
#ifndef ENVUP_VMM_VIRTIO_PCI_H
#define ENVUP_VMM_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "vmm/pci.h"
#include "vmm/virtqueue.h"

struct vm;
struct virtio_dev;
struct eventloop;

#define VIRTIO_MAX_QUEUES 4
#define VIRTIO_MSIX_VECTORS (VIRTIO_MAX_QUEUES + 1)
#define VIRTIO_NO_VECTOR 0xffff

#define VIRTIO_F_INDIRECT_DESC (1ULL << 28)
#define VIRTIO_F_EVENT_IDX (1ULL << 29)
#define VIRTIO_F_VERSION_1 (1ULL << 32)

#define VIRTIO_STATUS_ACK 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

struct virtio_ops {
	uint16_t device_id;  /* VIRTIO device type: 1 net, 2 block, 4 entropy */
	uint32_t class_code; /* PCI class << 8 */
	unsigned nqueues;
	uint64_t features; /* device-specific feature bits */
	/* The driver made buffers available on queue q (called with vm->lock held; may release
	 * and retake it). */
	void (*notify)(struct virtio_dev *d, unsigned q);
	/* The driver reset the device. */
	void (*reset)(struct virtio_dev *d);
};

struct virtio_dev {
	struct pci_dev pci;
	struct vm *vm;
	const struct virtio_ops *ops;
	void *priv;
	uint8_t *config; /* device configuration space, config_len bytes, owned by the device */
	unsigned config_len;

	uint32_t dev_feature_sel, drv_feature_sel;
	uint64_t drv_features;
	uint8_t status;
	uint8_t config_gen;
	uint16_t queue_sel;
	uint16_t msix_config;
	uint8_t isr;
	int intx_level;
	struct virtqueue vq[VIRTIO_MAX_QUEUES];
	uint16_t vq_vector[VIRTIO_MAX_QUEUES];
	/* Each queue's chain in handling: one queue's handler may run inside another's (slirp
	 * answers a transmitted frame on the receive queue from inside slirp_input). */
	struct vq_chain chain[VIRTIO_MAX_QUEUES];

	bool msix_enabled, msix_masked;
	uint32_t msix_table[VIRTIO_MSIX_VECTORS][4];
	uint32_t msix_pba;
	bool has_msi;	  /* KVM can deliver MSIs (KVM_CAP_SIGNAL_MSI) */
	uint64_t signals; /* interrupts raised (for tests and status) */

	/* Queue kicks through ioeventfd, handled on the device thread (see virtio_use_ioeventfd).
	 */
	struct eventloop *el;
	struct virtio_kick {
		struct virtio_dev *dev;
		unsigned q;
		int fd;
		uint64_t addr; /* where KVM signals fd; 0: not registered */
	} kick[VIRTIO_MAX_QUEUES];
	uint64_t kick_base; /* the notify registers' address at the last sync; 0: off */
	bool kick_warned;   /* a failed registration was logged */
	unsigned cfg_cap;   /* offset of the VIRTIO_PCI_CAP_PCI_CFG window in config space */
};

/* Sets up d's PCI function for ops (config: the device's configuration bytes). */
void virtio_init(struct virtio_dev *d, struct vm *vm, const struct virtio_ops *ops, void *priv,
		 uint8_t *config, unsigned config_len, bool has_msi);

/* Lets KVM turn queue-notify writes into eventfd signals that el's thread handles, so that a
 * vCPU does not wait for the device. Where KVM cannot, kicks stay trapped MMIO writes (logged
 * once). Call after pci_add. */
void virtio_use_ioeventfd(struct virtio_dev *d, struct eventloop *el);

/* Closes the kick eventfds. */
void virtio_close(struct virtio_dev *d);

/* The features this device offers (transport bits included). */
uint64_t virtio_features(const struct virtio_dev *d);

/* Interrupts the driver for queue q if it wants one (call after vq_push). */
void virtio_notify(struct virtio_dev *d, unsigned q);

/* The BAR0 handler (exposed for the fuzzers). */
void virtio_bar(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write);

#endif
