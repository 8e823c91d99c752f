/* Bounded LRU cache of qcow2 L2 tables. Without it every mapped request cost an extra pread
 * of its L2 entries; a whole table (one cluster) is read once and then served from memory.
 * Slots are few (at most 128), so a linear scan beats any index, and the last hit is checked
 * first because guest I/O is mostly local. The lock is held across a miss's read so that two
 * threads never load the same table into two slots. */
#include <stdlib.h>
#include <string.h>

#include "boxes/image_impl.h"
#include "boxes/qcow2_l2cache.h"

int qcow2_l2cache_init(struct qcow2_l2cache *c, size_t table_bytes, uint64_t ntables, struct err *e)
{
	uint64_t n = QCOW2_L2CACHE_BYTES / table_bytes;

	if (n < QCOW2_L2CACHE_MIN_SLOTS)
		n = QCOW2_L2CACHE_MIN_SLOTS;
	if (n > QCOW2_L2CACHE_MAX_SLOTS)
		n = QCOW2_L2CACHE_MAX_SLOTS;
	if (n > ntables)
		n = ntables ? ntables : 1;
	memset(c, 0, sizeof(*c));
	c->table_bytes = table_bytes;
	c->nslots = (unsigned)n;
	c->slot = calloc(n, sizeof(*c->slot));
	if (!c->slot)
		return err_set(e, ERR_FAIL, "out of memory");
	if (pthread_mutex_init(&c->lock, NULL) != 0)
		return err_set(e, ERR_FAIL, "cannot create a lock");
	c->lock_init = true;
	return 0;
}

static struct qcow2_l2slot *find(struct qcow2_l2cache *c, uint64_t l2off)
{
	if (c->slot[c->last].off == l2off)
		return &c->slot[c->last];
	for (unsigned i = 0; i < c->nslots; i++)
		if (c->slot[i].off == l2off) {
			c->last = i;
			return &c->slot[i];
		}
	return NULL;
}

/* The slot to load a missing table into: an empty one, else the least recently used. */
static struct qcow2_l2slot *victim(struct qcow2_l2cache *c)
{
	unsigned v = 0;

	for (unsigned i = 0; i < c->nslots; i++) {
		if (!c->slot[i].off) {
			v = i;
			break;
		}
		if (c->slot[i].used < c->slot[v].used)
			v = i;
	}
	c->last = v;
	return &c->slot[v];
}

int qcow2_l2cache_read(struct qcow2_l2cache *c, struct image *img, uint64_t l2off, size_t pos,
		       size_t len, uint8_t *out, struct err *e)
{
	struct qcow2_l2slot *s;
	int rc = 0;

	if (pos > c->table_bytes || len > c->table_bytes - pos || !l2off)
		return err_set(e, ERR_FAIL, "%s: L2 table read of %zu bytes at %zu out of range",
			       img->name, len, pos);
	pthread_mutex_lock(&c->lock);
	s = find(c, l2off);
	if (s) {
		c->hits++;
	} else {
		c->misses++;
		s = victim(c);
		s->off = 0;
		if (!s->buf && !(s->buf = malloc(c->table_bytes)))
			rc = err_set(e, ERR_FAIL, "out of memory");
		if (rc == 0)
			rc = image_read_exact(img, img->fd, s->buf, c->table_bytes, l2off,
					      "L2 table", e);
		if (rc == 0)
			s->off = l2off;
	}
	if (rc == 0) {
		s->used = ++c->tick;
		memcpy(out, s->buf + pos, len);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void qcow2_l2cache_written(struct qcow2_l2cache *c, uint64_t l2off, size_t pos, const uint8_t *data,
			   size_t len, bool ok)
{
	struct qcow2_l2slot *s;

	if (!c->slot)
		return;
	pthread_mutex_lock(&c->lock);
	s = find(c, l2off);
	if (s) {
		if (ok && pos <= c->table_bytes && len <= c->table_bytes - pos)
			memcpy(s->buf + pos, data, len);
		else
			s->off = 0;
	}
	pthread_mutex_unlock(&c->lock);
}

void qcow2_l2cache_free(struct qcow2_l2cache *c)
{
	if (c->slot)
		for (unsigned i = 0; i < c->nslots; i++)
			free(c->slot[i].buf);
	free(c->slot);
	c->slot = NULL;
	if (c->lock_init)
		pthread_mutex_destroy(&c->lock);
	c->lock_init = false;
}
