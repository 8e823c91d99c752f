#include "vmm/virtio_net.h"

#include <stddef.h>
#include <string.h>

#include "vmm/log.h"

#define NET_F_MAC (1ULL << 5)
#define NET_F_STATUS (1ULL << 16)
#define NET_RXQ 0
#define NET_TXQ 1

void virtio_net_receive(void *opaque, const uint8_t *frame, size_t len)
{
	struct virtio_net *n = opaque;
	struct virtio_dev *d = &n->vdev;
	struct virtqueue *vq = &d->vq[NET_RXQ];
	struct vq_chain *c = &d->chain[NET_RXQ];
	uint8_t hdr[VIRTIO_NET_HDR] = {0};
	const char *why;
	int r;

	if (!(d->status & VIRTIO_STATUS_DRIVER_OK) || !vq->ready) {
		n->rx_dropped++;
		return;
	}
	r = vq_pop(vq, c, &why);
	if (r == 0) {
		n->rx_dropped++; /* no buffer: TCP retransmits, UDP is lossy anyway */
		return;
	}
	if (r < 0) {
		log_guest("virtio-net: bad receive chain: %s", why);
		vq_push(vq, c->head, 0);
		virtio_notify(d, NET_RXQ);
		n->rx_dropped++;
		return;
	}
	if (c->in_len < VIRTIO_NET_HDR + len) {
		log_msg(LOG_DEBUG, "virtio-net: receive buffer of %llu bytes too small for %zu",
			(unsigned long long)c->in_len, len);
		vq_push(vq, c->head, 0);
		virtio_notify(d, NET_RXQ);
		n->rx_dropped++;
		return;
	}
	hdr[10] = 1; /* num_buffers */
	vq_chain_write(c, 0, hdr, sizeof(hdr));
	vq_chain_write(c, sizeof(hdr), frame, len);
	vq_push(vq, c->head, (uint32_t)(sizeof(hdr) + len));
	virtio_notify(d, NET_RXQ);
	n->rx_frames++;
}

void virtio_net_tx(struct virtio_net *n)
{
	struct virtio_dev *d = &n->vdev;
	struct virtqueue *vq = &d->vq[NET_TXQ];
	struct vq_chain *c = &d->chain[NET_TXQ];
	const char *why;
	int r;

	while ((r = vq_pop(vq, c, &why)) != 0) {
		uint64_t len;
		if (r < 0) {
			log_guest("virtio-net: bad transmit chain: %s", why);
			vq_push(vq, c->head, 0);
			n->tx_dropped++;
			continue;
		}
		len = c->out_len;
		if (len <= VIRTIO_NET_HDR || len - VIRTIO_NET_HDR > sizeof(n->frame)) {
			n->tx_dropped++;
		} else {
			len -= VIRTIO_NET_HDR;
			vq_chain_read(c, VIRTIO_NET_HDR, n->frame, len);
			n->tx_frames++;
			if (n->slirp)
				net_slirp_input(n->slirp, n->frame, len);
		}
		vq_push(vq, c->head, 0);
	}
	virtio_notify(d, NET_TXQ);
}

static void net_notify(struct virtio_dev *d, unsigned q)
{
	if (q == NET_TXQ)
		virtio_net_tx(d->priv);
	/* New receive buffers need no action: frames are delivered as slirp produces them. */
}

static const struct virtio_ops net_ops = {
	.device_id = 1,
	.class_code = 0x02000000,
	.nqueues = 2,
	.features = NET_F_MAC | NET_F_STATUS,
	.notify = net_notify,
};

int virtio_net_init(struct virtio_net *n, struct vm *vm, struct eventloop *el,
		    const struct net_opts *o, bool has_msi, struct err *e)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

	memset(n, 0, offsetof(struct virtio_net, frame));
	memcpy(n->config, mac, 6);
	n->config[6] = 1; /* VIRTIO_NET_S_LINK_UP */
	virtio_init(&n->vdev, vm, &net_ops, n, n->config, sizeof(n->config), has_msi);
	if (el && net_slirp_new(vm, el, o, virtio_net_receive, n, &n->slirp, e) < 0)
		return -1;
	return 0;
}

void virtio_net_close(struct virtio_net *n)
{
	net_slirp_free(n->slirp);
	n->slirp = NULL;
}
