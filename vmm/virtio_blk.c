#include "vmm/virtio_blk.h"

#include <stdio.h>
#include <string.h>

#include "vmm/log.h"
#include "vmm/vm.h"

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_T_GET_ID 8
#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSUPP 2

#define BLK_F_SEG_MAX (1ULL << 2)
#define BLK_F_RO (1ULL << 5)
#define BLK_F_BLK_SIZE (1ULL << 6)
#define BLK_F_FLUSH (1ULL << 9)

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* Checks that [sector*512, +len) lies on the disk. */
static bool blk_in_range(const struct virtio_blk *b, uint64_t sector, uint64_t len)
{
	return len % 512 == 0 && sector <= b->capacity / 512 && len <= b->capacity - sector * 512;
}

static uint8_t blk_read(struct virtio_blk *b, const struct vq_chain *c, uint64_t sector,
			uint64_t len)
{
	uint64_t off = sector * 512, left = len;
	struct err e = {0};

	if (!blk_in_range(b, sector, len))
		return BLK_S_IOERR;
	for (unsigned i = 0; i < c->n && left; i++) {
		const struct vq_seg *s = &c->seg[i];
		uint64_t n = s->len < left ? s->len : left;
		if (!s->write)
			continue;
		if (image_pread(b->img, s->p, n, off, &e) < 0) {
			log_msg(LOG_WARN, "virtio-blk %s: read: %s", b->serial, e.msg);
			return BLK_S_IOERR;
		}
		off += n;
		left -= n;
	}
	b->reads++;
	return BLK_S_OK;
}

static uint8_t blk_write(struct virtio_blk *b, const struct vq_chain *c, uint64_t sector,
			 uint64_t len)
{
	uint64_t off = sector * 512, skip = sizeof(struct blk_hdr);
	struct err e = {0};

	if (b->readonly)
		return BLK_S_IOERR;
	if (!blk_in_range(b, sector, len))
		return BLK_S_IOERR;
	for (unsigned i = 0; i < c->n; i++) {
		const struct vq_seg *s = &c->seg[i];
		uint64_t n;
		if (s->write)
			break;
		if (skip >= s->len) {
			skip -= s->len;
			continue;
		}
		n = s->len - skip;
		if (image_pwrite(b->img, s->p + skip, n, off, &e) < 0) {
			log_msg(LOG_WARN, "virtio-blk %s: write: %s", b->serial, e.msg);
			return BLK_S_IOERR;
		}
		off += n;
		skip = 0;
	}
	b->writes++;
	return BLK_S_OK;
}

uint32_t virtio_blk_request(struct virtio_blk *b, const struct vq_chain *c)
{
	struct blk_hdr h;
	struct err e = {0};
	uint64_t data_in;
	uint8_t st;

	if (c->in_len < 1 || vq_chain_read(c, 0, &h, sizeof(h)) != sizeof(h)) {
		/* Without a header or a status byte there is nowhere to report to. */
		log_guest("virtio-blk %s: malformed request (no header or status)", b->serial);
		b->errors++;
		return 0;
	}
	data_in = c->in_len - 1;
	switch (h.type) {
	case BLK_T_IN: st = blk_read(b, c, h.sector, data_in); break;
	case BLK_T_OUT:
		st = blk_write(b, c, h.sector, c->out_len - sizeof(h));
		data_in = 0;
		break;
	case BLK_T_FLUSH:
		st = BLK_S_OK;
		if (!b->readonly && image_flush(b->img, &e) < 0) {
			log_msg(LOG_WARN, "virtio-blk %s: flush: %s", b->serial, e.msg);
			st = BLK_S_IOERR;
		}
		b->flushes++;
		data_in = 0;
		break;
	case BLK_T_GET_ID: {
		char id[VIRTIO_BLK_ID_BYTES] = {0};
		memcpy(id, b->serial, strnlen(b->serial, sizeof(id)));
		if (data_in > sizeof(id))
			data_in = sizeof(id);
		vq_chain_write(c, 0, id, data_in);
		st = BLK_S_OK;
		break;
	}
	default:
		st = BLK_S_UNSUPP;
		data_in = 0;
		break;
	}
	if (st != BLK_S_OK) {
		b->errors++;
		data_in = 0;
	}
	vq_chain_write(c, c->in_len - 1, &st, 1);
	return (uint32_t)(data_in + 1);
}

/* Called with vm->lock held. The image I/O (fdatasync included) runs with vm->lock released,
 * so that the other vCPUs' exits, slirp and the API go on meanwhile. Rings and the chain are
 * touched only with the lock held; b->busy keeps one thread at a time in the queue and a kick
 * meanwhile only sets b->kicked for that thread to see. A reset during the I/O drops the
 * completion: its ring is gone. */
static void blk_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_blk *b = d->priv;
	struct virtqueue *vq = &d->vq[q];
	struct vq_chain *c = &d->chain[q];
	const char *why;
	int r;

	b->kicked = true;
	if (b->busy)
		return;
	b->busy = true;
	while (b->kicked) {
		b->kicked = false;
		while ((r = vq_pop(vq, c, &why)) != 0) {
			unsigned resets = b->resets;
			uint32_t len;
			if (r < 0) {
				log_guest("virtio-blk %s: bad descriptor chain: %s", b->serial,
					  why);
				b->errors++;
				vq_push(vq, c->head, 0);
				continue;
			}
			pthread_mutex_unlock(&d->vm->lock);
			len = virtio_blk_request(b, c);
			pthread_mutex_lock(&d->vm->lock);
			if (resets != b->resets)
				break;
			vq_push(vq, c->head, len);
		}
		virtio_notify(d, q);
	}
	b->busy = false;
}

static void blk_reset(struct virtio_dev *d)
{
	struct virtio_blk *b = d->priv;

	b->resets++;
}

static const struct virtio_ops blk_ops_rw = {
	.device_id = 2,
	.class_code = 0x01800000,
	.nqueues = 1,
	.features = BLK_F_SEG_MAX | BLK_F_BLK_SIZE | BLK_F_FLUSH,
	.notify = blk_notify,
	.reset = blk_reset,
};

static const struct virtio_ops blk_ops_ro = {
	.device_id = 2,
	.class_code = 0x01800000,
	.nqueues = 1,
	.features = BLK_F_SEG_MAX | BLK_F_BLK_SIZE | BLK_F_FLUSH | BLK_F_RO,
	.notify = blk_notify,
	.reset = blk_reset,
};

int virtio_blk_init(struct virtio_blk *b, struct vm *vm, const char *path, enum image_format fmt,
		    bool readonly, const char *backing, const char *serial, bool has_msi,
		    struct err *e)
{
	struct image_open_opts o = {
		.writable = !readonly, .follow_refs = true, .trusted_backing = backing};
	uint32_t seg_max = VQ_MAX_SEGS - 2, blk_size = 512;

	memset(b, 0, sizeof(*b));
	if (image_open(path, fmt, &o, &b->img, e) < 0)
		return err_wrap(e, "--disk %s", path);
	b->readonly = readonly;
	b->capacity = image_size(b->img) & ~511ULL;
	snprintf(b->serial, sizeof(b->serial), "%s", serial);
	memcpy(b->config, &(uint64_t){b->capacity / 512}, 8);
	memcpy(b->config + 12, &seg_max, 4);
	memcpy(b->config + 20, &blk_size, 4);
	virtio_init(&b->vdev, vm, readonly ? &blk_ops_ro : &blk_ops_rw, b, b->config,
		    sizeof(b->config), has_msi);
	return 0;
}

void virtio_blk_close(struct virtio_blk *b)
{
	struct err e = {0};

	if (!b->img)
		return;
	if (!b->readonly && image_flush(b->img, &e) < 0)
		log_msg(LOG_WARN, "virtio-blk %s: final flush: %s", b->serial, e.msg);
	image_close(b->img);
	b->img = NULL;
}
