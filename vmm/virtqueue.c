#include "vmm/virtqueue.h"

#include <string.h>

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* Ring sizes for a queue of n entries, with the event-index word at the end. */
static uint64_t avail_bytes(uint16_t n)
{
	return 4 + 2ULL * n + 2;
}

static uint64_t used_bytes(uint16_t n)
{
	return 4 + 8ULL * n + 2;
}

void vq_reset(struct virtqueue *vq)
{
	memset(vq, 0, sizeof(*vq));
}

bool vq_enable(struct virtqueue *vq, const struct guest_mem *mem)
{
	vq->mem = mem;
	vq->ready = false;
	if (!vq->size || vq->size > VQ_MAX_SIZE || (vq->size & (vq->size - 1)))
		return false;
	if ((vq->desc & 15) || (vq->avail & 1) || (vq->used & 3))
		return false;
	if (!gm_ptr(mem, vq->desc, 16ULL * vq->size) ||
	    !gm_ptr(mem, vq->avail, avail_bytes(vq->size)) ||
	    !gm_ptr(mem, vq->used, used_bytes(vq->size)))
		return false;
	vq->last_avail = vq->used_idx = 0;
	vq->signalled_valid = false;
	vq->ready = true;
	return true;
}

static uint16_t ld16(const struct virtqueue *vq, uint64_t gpa)
{
	uint16_t v = 0;
	const void *p = gm_ptr(vq->mem, gpa, 2); /* checked once at enable; still never trusted */

	if (p)
		v = __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
	return v;
}

static void st16(const struct virtqueue *vq, uint64_t gpa, uint16_t v)
{
	void *p = gm_ptr(vq->mem, gpa, 2);

	if (p)
		__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELEASE);
}

static int add_seg(struct vq_chain *c, const struct virtqueue *vq, const struct vring_desc *d,
		   const char **why)
{
	struct vq_seg *s;
	bool w = d->flags & VRING_DESC_F_WRITE;

	if (c->n == VQ_MAX_SEGS) {
		*why = "chain longer than the queue";
		return -1;
	}
	if (!w && c->in_len) {
		*why = "device-readable descriptor after a writable one";
		return -1;
	}
	s = &c->seg[c->n];
	s->p = d->len ? gm_ptr(vq->mem, d->addr, d->len) : NULL;
	if (d->len && !s->p) {
		*why = "descriptor buffer outside guest RAM";
		return -1;
	}
	s->len = d->len;
	s->write = w;
	if (w)
		c->in_len += d->len;
	else
		c->out_len += d->len;
	c->n++;
	return 0;
}

/* Walks an indirect table of n descriptors at gpa. */
static int walk_indirect(const struct virtqueue *vq, struct vq_chain *c, uint64_t gpa, uint32_t len,
			 const char **why)
{
	const struct vring_desc *tab;
	uint32_t n = len / 16, i = 0, steps = 0;

	if (!vq->indirect || len == 0 || len % 16 || n > VQ_MAX_SEGS) {
		*why = "bad indirect descriptor";
		return -1;
	}
	tab = gm_ptr(vq->mem, gpa, len);
	if (!tab) {
		*why = "indirect table outside guest RAM";
		return -1;
	}
	for (;;) {
		struct vring_desc d;
		memcpy(&d, &tab[i], sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT) {
			*why = "nested indirect descriptor";
			return -1;
		}
		if (add_seg(c, vq, &d, why) < 0)
			return -1;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		/* n steps at most: a longer walk must have a cycle. */
		if (++steps >= n || d.next >= n) {
			*why = "indirect chain loops or leaves its table";
			return -1;
		}
		i = d.next;
	}
}

int vq_pop(struct virtqueue *vq, struct vq_chain *c, const char **why)
{
	uint16_t avail_idx, i, steps = 0;
	const struct vring_desc *table;

	*why = NULL;
	c->n = 0;
	c->in_len = c->out_len = 0;
	c->head = 0;
	if (!vq->ready)
		return 0;
	avail_idx = ld16(vq, vq->avail + 2);
	if (avail_idx == vq->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - vq->last_avail) > vq->size) {
		*why = "avail index ran more than a queue ahead";
		vq->ready = false; /* the ring cannot be trusted any more */
		return 0;
	}
	i = ld16(vq, vq->avail + 4 + 2ULL * (vq->last_avail % vq->size));
	vq->last_avail++;
	if (vq->event_idx)
		st16(vq, vq->used + 4 + 8ULL * vq->size, vq->last_avail);
	c->head = i;
	if (i >= vq->size) {
		*why = "head index out of range";
		c->head = 0xffff;
		return -1;
	}
	table = gm_ptr(vq->mem, vq->desc, 16ULL * vq->size);
	if (!table)
		return -1;
	for (;;) {
		struct vring_desc d;
		memcpy(&d, &table[i], sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if ((d.flags & VRING_DESC_F_NEXT) || c->n) {
				*why = "indirect descriptor inside a chain";
				return -1;
			}
			return walk_indirect(vq, c, d.addr, d.len, why) < 0 ? -1 : 1;
		}
		if (add_seg(c, vq, &d, why) < 0)
			return -1;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 1;
		if (++steps >= vq->size || d.next >= vq->size) {
			*why = "chain loops or leaves the descriptor table";
			return -1;
		}
		i = d.next;
	}
}

void vq_push(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	uint64_t elem;
	uint32_t v[2] = {head, len};
	void *p;

	if (!vq->ready || head >= vq->size)
		return;
	elem = vq->used + 4 + 8ULL * (vq->used_idx % vq->size);
	p = gm_ptr(vq->mem, elem, 8);
	if (!p)
		return;
	memcpy(p, v, 8);
	vq->used_idx++;
	st16(vq, vq->used + 2, vq->used_idx); /* release: the element is visible first */
}

bool vq_should_notify(struct virtqueue *vq)
{
	uint16_t old = vq->signalled, now = vq->used_idx, event;
	bool valid = vq->signalled_valid;

	if (!vq->ready)
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* used->idx before reading the driver's wish */
	vq->signalled = now;
	vq->signalled_valid = true;
	if (!vq->event_idx)
		return !(ld16(vq, vq->avail) & VRING_AVAIL_F_NO_INTERRUPT);
	event = ld16(vq, vq->avail + 4 + 2ULL * vq->size);
	return !valid || (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

size_t vq_chain_read(const struct vq_chain *c, size_t off, void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < c->n && done < len; i++) {
		const struct vq_seg *s = &c->seg[i];
		size_t n;
		if (s->write)
			break;
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)buf + done, s->p + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t vq_chain_write(const struct vq_chain *c, size_t off, const void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < c->n && done < len; i++) {
		const struct vq_seg *s = &c->seg[i];
		size_t n;
		if (!s->write)
			continue;
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off;
		if (n > len - done)
			n = len - done;
		memcpy(s->p + off, (const uint8_t *)buf + done, n);
		done += n;
		off = 0;
	}
	return done;
}
