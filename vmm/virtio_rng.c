#include "vmm/virtio_rng.h"

#include <sys/random.h>

#include "vmm/log.h"

/* At most this much entropy per request, so one request cannot stall the vCPU for long. */
#define RNG_MAX_REQ 65536

static void rng_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_rng *rng = d->priv;
	struct virtqueue *vq = &d->vq[q];
	struct vq_chain *c = &d->chain[q];
	const char *why;
	int r;

	while ((r = vq_pop(vq, c, &why)) != 0) {
		uint32_t done = 0;
		if (r < 0) {
			log_guest("virtio-rng: bad request: %s", why);
			vq_push(vq, c->head, 0);
			continue;
		}
		for (unsigned i = 0; i < c->n && done < RNG_MAX_REQ; i++) {
			uint32_t want = c->seg[i].len;
			ssize_t got;
			if (!c->seg[i].write)
				continue;
			if (want > RNG_MAX_REQ - done)
				want = RNG_MAX_REQ - done;
			got = getrandom(c->seg[i].p, want, GRND_NONBLOCK);
			if (got <= 0)
				break;
			done += (uint32_t)got;
			if ((uint32_t)got < want)
				break;
		}
		vq_push(vq, c->head, done);
		rng->bytes += done;
	}
	virtio_notify(d, q);
}

static const struct virtio_ops rng_ops = {
	.device_id = 4,
	.class_code = 0x00ff0000,
	.nqueues = 1,
	.features = 0,
	.notify = rng_notify,
};

void virtio_rng_init(struct virtio_rng *rng, struct vm *vm, bool has_msi)
{
	rng->bytes = 0;
	virtio_init(&rng->vdev, vm, &rng_ops, rng, NULL, 0, has_msi);
}
