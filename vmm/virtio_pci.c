#include "vmm/virtio_pci.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/eventloop.h"
#include "vmm/log.h"
#include "vmm/vm.h"

/* BAR0 layout. */
#define BAR_COMMON 0x0000
#define BAR_ISR 0x1000
#define BAR_DEVICE 0x2000
#define BAR_NOTIFY 0x3000
#define BAR_MSIX 0x4000
#define BAR_PBA 0x5000
#define BAR_SIZE 0x8000
#define NOTIFY_MULT 4
#define COMMON_LEN 0x40

#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4
#define CAP_PCI_CFG 5

static void le_put(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le_get(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

uint64_t virtio_features(const struct virtio_dev *d)
{
	return d->ops->features | VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC;
}

static void virtio_intx_update(struct virtio_dev *d)
{
	int level = d->isr != 0 && !(d->pci.cfg[0x05] & 0x04); /* INTx disable bit */

	if (level != d->intx_level) {
		d->intx_level = level;
		pci_intx(d->vm, &d->pci, level);
	}
}

static void virtio_msix_fire(struct virtio_dev *d, uint16_t vec)
{
	const uint32_t *ent;

	if (vec == VIRTIO_NO_VECTOR || vec >= VIRTIO_MSIX_VECTORS)
		return;
	ent = d->msix_table[vec];
	if (d->msix_masked || (ent[3] & 1)) {
		d->msix_pba |= 1u << vec; /* delivered when unmasked */
		return;
	}
	d->signals++;
	if (vm_signal_msi(d->vm, (uint64_t)ent[1] << 32 | ent[0], ent[2]) < 0)
		log_msg(LOG_DEBUG, "virtio %u: MSI delivery failed", d->ops->device_id);
}

static void virtio_interrupt(struct virtio_dev *d, uint8_t isr_bit, uint16_t vec)
{
	if (d->msix_enabled) {
		virtio_msix_fire(d, vec);
		return;
	}
	d->signals++;
	d->isr |= isr_bit;
	virtio_intx_update(d);
}

void virtio_notify(struct virtio_dev *d, unsigned q)
{
	if (q < d->ops->nqueues && vq_should_notify(&d->vq[q]))
		virtio_interrupt(d, 1, d->vq_vector[q]);
}

static void virtio_reset(struct virtio_dev *d)
{
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		vq_reset(&d->vq[q]);
		d->vq[q].size = VQ_MAX_SIZE;
		d->vq_vector[q] = VIRTIO_NO_VECTOR;
	}
	d->drv_features = 0;
	d->dev_feature_sel = d->drv_feature_sel = 0;
	d->status = 0;
	d->queue_sel = 0;
	d->msix_config = VIRTIO_NO_VECTOR;
	d->isr = 0;
	virtio_intx_update(d);
	if (d->ops->reset)
		d->ops->reset(d);
}

static void common_image(const struct virtio_dev *d, uint8_t *r)
{
	const struct virtqueue *vq = d->queue_sel < d->ops->nqueues ? &d->vq[d->queue_sel] : NULL;
	uint64_t f = virtio_features(d);

	memset(r, 0, COMMON_LEN);
	le_put(r + 0x00, d->dev_feature_sel, 4);
	le_put(r + 0x04, d->dev_feature_sel < 2 ? (uint32_t)(f >> (32 * d->dev_feature_sel)) : 0,
	       4);
	le_put(r + 0x08, d->drv_feature_sel, 4);
	le_put(r + 0x0c,
	       d->drv_feature_sel < 2 ? (uint32_t)(d->drv_features >> (32 * d->drv_feature_sel))
				      : 0,
	       4);
	le_put(r + 0x10, d->msix_config, 2);
	le_put(r + 0x12, d->ops->nqueues, 2);
	r[0x14] = d->status;
	r[0x15] = d->config_gen;
	le_put(r + 0x16, d->queue_sel, 2);
	if (vq) {
		le_put(r + 0x18, vq->size, 2);
		le_put(r + 0x1a, d->vq_vector[d->queue_sel], 2);
		le_put(r + 0x1c, vq->ready, 2);
		le_put(r + 0x1e, d->queue_sel, 2); /* queue_notify_off */
		le_put(r + 0x20, vq->desc, 8);
		le_put(r + 0x28, vq->avail, 8);
		le_put(r + 0x30, vq->used, 8);
	}
}

static void virtio_set_status(struct virtio_dev *d, uint8_t v)
{
	if (v == 0) {
		virtio_reset(d);
		return;
	}
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(d->status & VIRTIO_STATUS_FEATURES_OK)) {
		/* Accept only a subset of what was offered, and only modern drivers. */
		if ((d->drv_features & ~virtio_features(d)) ||
		    !(d->drv_features & VIRTIO_F_VERSION_1)) {
			log_guest("virtio %u: driver asked for features %#llx; refused",
				  d->ops->device_id, (unsigned long long)d->drv_features);
			v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	d->status = v;
}

static void common_write(struct virtio_dev *d, unsigned off, const uint8_t *data, unsigned len)
{
	uint8_t r[COMMON_LEN];
	struct virtqueue *vq = d->queue_sel < d->ops->nqueues ? &d->vq[d->queue_sel] : NULL;
	bool may_set = !(d->status & VIRTIO_STATUS_DRIVER_OK) && vq && !vq->ready;

	common_image(d, r);
	memcpy(r + off, data, len);
	/* Decode every field the write touched. */
	for (unsigned o = off; o < off + len; o++) {
		switch (o) {
		case 0x00: d->dev_feature_sel = (uint32_t)le_get(r, 4); break;
		case 0x08: d->drv_feature_sel = (uint32_t)le_get(r + 0x08, 4); break;
		case 0x0c:
		case 0x0d:
		case 0x0e:
		case 0x0f:
			if (d->drv_feature_sel < 2 && !(d->status & VIRTIO_STATUS_FEATURES_OK)) {
				uint64_t mask = 0xffffffffULL << (32 * d->drv_feature_sel);
				d->drv_features =
					(d->drv_features & ~mask) |
					(le_get(r + 0x0c, 4) << (32 * d->drv_feature_sel));
			}
			break;
		case 0x10: d->msix_config = (uint16_t)le_get(r + 0x10, 2); break;
		case 0x14: virtio_set_status(d, r[0x14]); break;
		case 0x16:
			/* Later bytes of this same write refer to the newly selected queue. */
			d->queue_sel = (uint16_t)le_get(r + 0x16, 2);
			vq = d->queue_sel < d->ops->nqueues ? &d->vq[d->queue_sel] : NULL;
			may_set = !(d->status & VIRTIO_STATUS_DRIVER_OK) && vq && !vq->ready;
			break;
		case 0x18: {
			uint16_t n = (uint16_t)le_get(r + 0x18, 2);
			if (may_set && n && n <= VQ_MAX_SIZE && !(n & (n - 1)))
				vq->size = n;
			break;
		}
		case 0x1a:
			if (vq)
				d->vq_vector[d->queue_sel] = (uint16_t)le_get(r + 0x1a, 2);
			break;
		case 0x1c:
			if (vq && le_get(r + 0x1c, 2) == 1 && !vq->ready) {
				vq->event_idx = d->drv_features & VIRTIO_F_EVENT_IDX;
				vq->indirect = d->drv_features & VIRTIO_F_INDIRECT_DESC;
				if (!vq_enable(vq, &d->vm->mem)) {
					log_guest("virtio %u: queue %u rings are misaligned or "
						  "outside "
						  "guest RAM",
						  d->ops->device_id, d->queue_sel);
					d->status |= VIRTIO_STATUS_NEEDS_RESET;
				}
			}
			break;
		case 0x20:
			if (may_set)
				vq->desc = le_get(r + 0x20, 8);
			break;
		case 0x28:
			if (may_set)
				vq->avail = le_get(r + 0x28, 8);
			break;
		case 0x30:
			if (may_set)
				vq->used = le_get(r + 0x30, 8);
			break;
		default:
			/* Upper bytes of a multi-byte field were handled at its first byte only
			 * when written together; handle partial writes of the 64-bit addresses. */
			if (may_set && o > 0x20 && o < 0x38) {
				unsigned base = o & ~7u;
				uint64_t v = le_get(r + base, 8);
				if (base == 0x20)
					vq->desc = v;
				if (base == 0x28)
					vq->avail = v;
				if (base == 0x30)
					vq->used = v;
			}
			break;
		}
	}
}

static void msix_write(struct virtio_dev *d, unsigned off, const uint8_t *data, unsigned len)
{
	unsigned vec = off / 16, word = (off % 16) / 4;
	uint8_t b[4];
	bool was_masked;

	if (vec >= VIRTIO_MSIX_VECTORS || (off % 4) + len > 4)
		return;
	was_masked = d->msix_table[vec][3] & 1;
	le_put(b, d->msix_table[vec][word], 4);
	memcpy(b + off % 4, data, len);
	d->msix_table[vec][word] = (uint32_t)le_get(b, 4);
	if (was_masked && !(d->msix_table[vec][3] & 1) && (d->msix_pba & (1u << vec))) {
		d->msix_pba &= ~(1u << vec);
		virtio_msix_fire(d, (uint16_t)vec);
	}
}

static void msix_read(const struct virtio_dev *d, unsigned off, uint8_t *data, unsigned len)
{
	unsigned vec = off / 16, word = (off % 16) / 4;
	uint8_t b[4];

	memset(data, 0, len);
	if (vec >= VIRTIO_MSIX_VECTORS || (off % 4) + len > 4)
		return;
	le_put(b, d->msix_table[vec][word], 4);
	memcpy(data, b + off % 4, len);
}

void virtio_bar(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct virtio_dev *d = opaque;
	unsigned o;

	if (len > 8 || off >= BAR_SIZE)
		return;
	if (off < BAR_COMMON + COMMON_LEN && off + len <= COMMON_LEN) {
		uint8_t r[COMMON_LEN];
		if (write) {
			common_write(d, (unsigned)off, data, len);
		} else {
			common_image(d, r);
			memcpy(data, r + off, len);
		}
	} else if (off == BAR_ISR) {
		if (!write) {
			memset(data, 0, len);
			data[0] = d->isr;
			d->isr = 0; /* reading ISR acknowledges INTx */
			virtio_intx_update(d);
		}
	} else if (off >= BAR_DEVICE && off - BAR_DEVICE + len <= d->config_len) {
		o = (unsigned)(off - BAR_DEVICE);
		if (!write)
			memcpy(data, d->config + o,
			       len); /* device configuration is read-only here */
	} else if (off >= BAR_NOTIFY && off < BAR_NOTIFY + NOTIFY_MULT * VIRTIO_MAX_QUEUES) {
		unsigned q = (unsigned)(off - BAR_NOTIFY) / NOTIFY_MULT;
		if (write && q < d->ops->nqueues && d->vq[q].ready &&
		    (d->status & VIRTIO_STATUS_DRIVER_OK))
			d->ops->notify(d, q);
		else if (!write)
			memset(data, 0, len);
	} else if (off >= BAR_MSIX && off < BAR_MSIX + 16 * VIRTIO_MSIX_VECTORS) {
		if (write)
			msix_write(d, (unsigned)(off - BAR_MSIX), data, len);
		else
			msix_read(d, (unsigned)(off - BAR_MSIX), data, len);
	} else if (off >= BAR_PBA && off < BAR_PBA + 8) {
		if (!write) {
			uint8_t b[8];
			le_put(b, d->msix_pba, 8);
			memcpy(data, b + (off - BAR_PBA), len <= 8 - (off - BAR_PBA) ? len : 0);
		}
	} else if (!write) {
		memset(data, 0, len);
	}
}

/* Where the notify registers are now, or 0 when the guest has memory decoding off. */
static uint64_t kick_base(const struct virtio_dev *d)
{
	if (!(d->pci.cfg[0x04] & PCI_CMD_MEM) || !d->pci.bar[0].addr)
		return 0;
	return (uint64_t)d->pci.bar[0].addr + BAR_NOTIFY;
}

/* Moves the ioeventfd registrations after the guest moved BAR0 or toggled decoding. Only
 * registrations KVM accepted are recorded (and later undone); where it refuses one (another
 * device's BAR at the same address: EEXIST), that queue's kicks stay trapped MMIO writes. The
 * guest can cause that at will, so it is logged once per device. */
static void kicks_sync(struct virtio_dev *d)
{
	uint64_t base = kick_base(d);

	if (!d->el || base == d->kick_base)
		return;
	d->kick_base = base;
	for (unsigned q = 0; q < d->ops->nqueues; q++) {
		struct virtio_kick *k = &d->kick[q];
		if (k->fd < 0)
			continue;
		if (k->addr && vm_ioeventfd(d->vm, k->addr, 2, k->fd, false) < 0)
			log_guest("virtio %u: KVM_IOEVENTFD deassign: %s", d->ops->device_id,
				  strerror(errno));
		k->addr = 0;
		if (!base)
			continue;
		if (vm_ioeventfd(d->vm, base + q * NOTIFY_MULT, 2, k->fd, true) == 0) {
			k->addr = base + q * NOTIFY_MULT;
		} else if (!d->kick_warned) {
			d->kick_warned = true;
			log_msg(LOG_WARN,
				"virtio %u: KVM_IOEVENTFD at %#llx: %s; kicks stay trapped "
				"(logged once)",
				d->ops->device_id, (unsigned long long)(base + q * NOTIFY_MULT),
				strerror(errno));
		}
	}
}

static void on_kick(void *opaque, short revents)
{
	struct virtio_kick *k = opaque;
	struct virtio_dev *d = k->dev;
	uint64_t v;

	if (read(k->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&d->vm->lock);
	if (d->vq[k->q].ready && (d->status & VIRTIO_STATUS_DRIVER_OK))
		d->ops->notify(d, k->q);
	pthread_mutex_unlock(&d->vm->lock);
}

void virtio_use_ioeventfd(struct virtio_dev *d, struct eventloop *el)
{
	struct err e = {0};

	d->el = el;
	for (unsigned q = 0; q < d->ops->nqueues; q++) {
		struct virtio_kick *k = &d->kick[q];
		k->dev = d;
		k->q = q;
		k->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (k->fd < 0 || el_add(el, k->fd, POLLIN, on_kick, k, &e) < 0) {
			log_msg(LOG_WARN,
				"virtio %u: no eventfd for queue kicks; they stay trapped",
				d->ops->device_id);
			if (k->fd >= 0)
				close(k->fd);
			k->fd = -1;
		}
	}
	kicks_sync(d);
}

void virtio_close(struct virtio_dev *d)
{
	if (!d->el)
		return; /* never set up (or zeroed): no descriptors of ours */
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (d->kick[q].fd >= 0)
			close(d->kick[q].fd);
		d->kick[q].fd = -1;
	}
}

/* The VIRTIO_PCI_CAP_PCI_CFG window: the driver sets bar, offset and length in the capability,
 * then reads or writes pci_cfg_data to reach BAR0 through configuration space. Returns the
 * BAR offset and length of the access, or false when the window is not set to one. */
static bool cfg_window(const struct virtio_dev *d, uint64_t *boff, uint32_t *blen)
{
	const uint8_t *c = d->pci.cfg + d->cfg_cap;

	*boff = le_get(c + 8, 4);
	*blen = (uint32_t)le_get(c + 12, 4);
	return d->cfg_cap && c[4] == 0 && (*blen == 1 || *blen == 2 || *blen == 4) &&
	       *boff % *blen == 0 && *boff + *blen <= BAR_SIZE;
}

static bool touches(unsigned off, unsigned len, unsigned at, unsigned n)
{
	return off < at + n && at < off + len;
}

static void virtio_cfg_reading(struct pci_dev *p, unsigned off, unsigned len)
{
	struct virtio_dev *d = p->owner;
	uint64_t boff;
	uint32_t blen;

	if (d->cfg_cap && touches(off, len, d->cfg_cap + 16, 4) && cfg_window(d, &boff, &blen)) {
		memset(p->cfg + d->cfg_cap + 16, 0, 4);
		virtio_bar(d, boff, p->cfg + d->cfg_cap + 16, blen, false);
	}
}

static void virtio_cfg_written(struct pci_dev *p, unsigned off, unsigned len)
{
	struct virtio_dev *d = p->owner;
	uint64_t boff;
	uint32_t blen;

	if (d->cfg_cap && touches(off, len, d->cfg_cap + 16, 4) && cfg_window(d, &boff, &blen))
		virtio_bar(d, boff, p->cfg + d->cfg_cap + 16, blen, true);

	(void)off;
	(void)len;
	for (unsigned o = p->cfg[0x34]; o; o = p->cfg[o + 1]) {
		if (p->cfg[o] == 0x11) {
			uint16_t mc = (uint16_t)le_get(p->cfg + o + 2, 2);
			bool was_masked = d->msix_masked;
			d->msix_enabled = d->has_msi && (mc & 0x8000);
			d->msix_masked = mc & 0x4000;
			if (was_masked && !d->msix_masked) {
				for (unsigned v = 0; v < VIRTIO_MSIX_VECTORS; v++) {
					if (d->msix_pba & (1u << v)) {
						d->msix_pba &= ~(1u << v);
						virtio_msix_fire(d, (uint16_t)v);
					}
				}
			}
		}
		if (o >= PCI_CFG_SIZE - 2)
			break;
	}
	virtio_intx_update(d);
	kicks_sync(d);
}

static void add_vcap(struct virtio_dev *d, uint8_t type, uint32_t off, uint32_t len)
{
	uint8_t cap[20] = {0x09, 0, 16, type, 0};

	le_put(cap + 8, off, 4);
	le_put(cap + 12, len, 4);
	if (type == CAP_NOTIFY) {
		cap[2] = 20;
		le_put(cap + 16, NOTIFY_MULT, 4);
	}
	pci_dev_add_cap(&d->pci, cap, cap[2]);
}

void virtio_init(struct virtio_dev *d, struct vm *vm, const struct virtio_ops *ops, void *priv,
		 uint8_t *config, unsigned config_len, bool has_msi)
{
	uint8_t msix[12] = {0x11, 0, VIRTIO_MSIX_VECTORS - 1, 0};
	unsigned off;

	memset(d, 0, sizeof(*d));
	d->vm = vm;
	d->ops = ops;
	d->priv = priv;
	d->config = config;
	d->config_len = config_len;
	d->has_msi = has_msi;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		d->kick[q].fd = -1;
	pci_dev_init(&d->pci, 0x1af4, (uint16_t)(0x1040 + ops->device_id), ops->class_code | 1,
		     0x1af4, ops->device_id);
	d->pci.owner = d;
	d->pci.cfg_written = virtio_cfg_written;
	d->pci.cfg_reading = virtio_cfg_reading;
	pci_dev_set_bar(&d->pci, 0, BAR_SIZE, virtio_bar, d);
	add_vcap(d, CAP_COMMON, BAR_COMMON, COMMON_LEN);
	add_vcap(d, CAP_NOTIFY, BAR_NOTIFY, NOTIFY_MULT * VIRTIO_MAX_QUEUES);
	add_vcap(d, CAP_ISR, BAR_ISR, 1);
	if (config_len)
		add_vcap(d, CAP_DEVICE, BAR_DEVICE, config_len);
	{
		/* bar, offset, length and the data window are the driver's to write. */
		uint8_t cap[20] = {0x09, 0, 20, CAP_PCI_CFG, 0};
		d->cfg_cap = pci_dev_add_cap(&d->pci, cap, sizeof(cap));
		if (d->cfg_cap) {
			d->pci.wmask[d->cfg_cap + 4] = 0xff;
			memset(d->pci.wmask + d->cfg_cap + 8, 0xff, 12);
		}
	}
	if (has_msi) {
		le_put(msix + 4, BAR_MSIX, 4); /* BIR 0 */
		le_put(msix + 8, BAR_PBA, 4);
		off = pci_dev_add_cap(&d->pci, msix, sizeof(msix));
		if (off)
			d->pci.wmask[off + 3] = 0xc0; /* enable, function mask */
	}
	virtio_reset(d);
}
