#include "vmm/virtio_9p.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/log.h"
#include "vmm/vm.h"

#define VIRTIO_9P_F_MOUNT_TAG (1ULL << 0)

bool virtio_9p_tag_ok(const char *tag)
{
	size_t n = strlen(tag);

	if (n == 0 || n > VIRTIO_9P_TAG_MAX)
		return false;
	return strspn(tag, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") ==
	       n;
}

uint32_t virtio_9p_request(struct virtio_9p *p, const struct vq_chain *c)
{
	size_t len, cap = c->in_len < P9_MSIZE_MAX ? (size_t)c->in_len : P9_MSIZE_MAX;
	size_t n;

	/* A request longer than any message may be is cut; p9_handle then sees a size field
	 * beyond what it got and answers EINVAL or EMSGSIZE. */
	len = vq_chain_read(c, 0, p->req, P9_MSIZE_MAX);
	n = p9_handle(&p->srv, p->req, len, p->resp, cap);
	if (n == 0) {
		p->bad_chains++;
		log_guest("virtio-9p %s: request chain has no room for a reply (%llu bytes)",
			  p->tag, (unsigned long long)c->in_len);
		return 0;
	}
	return (uint32_t)vq_chain_write(c, 0, p->resp, n);
}

/* Called with vm->lock held; the file system work runs with it released, as virtio-blk's
 * image I/O does (see blk_notify), one request at a time. */
static void p9_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_9p *p = d->priv;
	struct virtqueue *vq = &d->vq[q];
	struct vq_chain *c = &d->chain[q];
	const char *why;
	int r;

	p->kicked = true;
	if (p->busy)
		return;
	p->busy = true;
	while (p->kicked) {
		p->kicked = false;
		while ((r = vq_pop(vq, c, &why)) != 0) {
			unsigned resets = p->resets;
			uint32_t len;
			if (r < 0) {
				log_guest("virtio-9p %s: bad descriptor chain: %s", p->tag, why);
				p->bad_chains++;
				vq_push(vq, c->head, 0);
				continue;
			}
			pthread_mutex_unlock(&d->vm->lock);
			len = virtio_9p_request(p, c);
			pthread_mutex_lock(&d->vm->lock);
			if (resets != p->resets)
				break;
			vq_push(vq, c->head, len);
		}
		virtio_notify(d, q);
	}
	p->busy = false;
}

static void p9_reset(struct virtio_dev *d)
{
	struct virtio_9p *p = d->priv;

	p->resets++;
	/* A request in flight on another thread still uses the fids: the next Tversion (the
	 * first message of any new driver) forgets them instead. */
	if (!p->busy)
		p9_server_reset(&p->srv);
}

static const struct virtio_ops p9_ops = {
	.device_id = 9,
	.class_code = 0x01800000,
	.nqueues = 1,
	.features = VIRTIO_9P_F_MOUNT_TAG,
	.notify = p9_notify,
	.reset = p9_reset,
};

int virtio_9p_init(struct virtio_9p *p, struct vm *vm, const char *dir, const char *tag,
		   bool readonly, bool has_msi, struct err *e)
{
	uint16_t tl = (uint16_t)strlen(tag);

	memset(p, 0, sizeof(*p));
	p->srv.root_fd = p->srv.proc_fd = -1;
	if (!virtio_9p_tag_ok(tag))
		return err_set(e, ERR_USAGE,
			       "--share %s: tag '%s' must be 1..%d of A-Z a-z 0-9 _ . -", dir, tag,
			       VIRTIO_9P_TAG_MAX);
	if (p9_server_open(&p->srv, dir, readonly, e) < 0)
		return err_wrap(e, "--share");
	p->req = malloc(P9_MSIZE_MAX);
	p->resp = malloc(P9_MSIZE_MAX);
	if (!p->req || !p->resp) {
		virtio_9p_close(p);
		return err_set(e, ERR_FAIL, "--share %s: out of memory", dir);
	}
	snprintf(p->tag, sizeof(p->tag), "%s", tag);
	memcpy(p->config, &tl, 2);
	memcpy(p->config + 2, tag, tl);
	virtio_init(&p->vdev, vm, &p9_ops, p, p->config, 2 + tl, has_msi);
	return 0;
}

void virtio_9p_close(struct virtio_9p *p)
{
	if (p->srv.root_fd >= 0)
		p9_server_close(&p->srv);
	free(p->req);
	free(p->resp);
	p->req = p->resp = NULL;
}
