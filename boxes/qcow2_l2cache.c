/* Bounded LRU cache of qcow2 L2 tables. Without it every mapped request cost an extra pread
 * of its L2 entries; a whole table (one cluster) is read once and then served from memory.
 * Slots are few (at most 128), so a linear scan beats any index, and the last hit is checked
 * first because guest I/O is mostly local. The lock is held across a miss's read so that two
 * threads never load the same table into two slots. The writer stores into tables here and
 * they are written back later (see qcow2_l2cache.h). */
#include <stdlib.h>
#include <string.h>

#include "boxes/image_impl.h"
#include "boxes/qcow2_l2cache.h"

int qcow2_l2cache_init(struct qcow2_l2cache *c, size_t table_bytes, uint64_t ntables,
		       size_t bytes, struct err *e)
{
	uint64_t n = (bytes ? bytes : QCOW2_L2CACHE_BYTES) / table_bytes;

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

/* The slot holding the table at l2off, loading it (or, fresh, zeroing it) into a victim slot
 * on a miss; a dirty victim is written back first. Called with the lock held. */
static int lookup(struct qcow2_l2cache *c, struct image *img, uint64_t l2off, bool fresh,
		  struct qcow2_l2slot **out, struct err *e)
{
	struct qcow2_l2slot *s = find(c, l2off);

	if (s) {
		if (fresh)
			memset(s->buf, 0, c->table_bytes);
		*out = s;
		return 0;
	}
	s = victim(c);
	if (s->dirty) {
		if (c->writeback(img, s->off, s->buf, e) < 0)
			return -1;
		s->dirty = false;
		c->ndirty--;
	}
	s->off = 0;
	if (!s->buf && !(s->buf = malloc(c->table_bytes)))
		return err_set(e, ERR_FAIL, "out of memory");
	if (fresh)
		memset(s->buf, 0, c->table_bytes);
	else if (image_read_exact(img, img->fd, s->buf, c->table_bytes, l2off, "L2 table", e) < 0)
		return -1;
	s->off = l2off;
	*out = s;
	return 0;
}

static int check_range(const struct qcow2_l2cache *c, const struct image *img, uint64_t l2off,
		       size_t pos, size_t len, struct err *e)
{
	if (pos > c->table_bytes || len > c->table_bytes - pos || !l2off)
		return err_set(e, ERR_FAIL, "%s: L2 table access of %zu bytes at %zu out of range",
			       img->name, len, pos);
	return 0;
}

int qcow2_l2cache_read(struct qcow2_l2cache *c, struct image *img, uint64_t l2off, size_t pos,
		       size_t len, uint8_t *out, struct err *e)
{
	struct qcow2_l2slot *s;
	int rc;

	if (check_range(c, img, l2off, pos, len, e) < 0)
		return -1;
	pthread_mutex_lock(&c->lock);
	rc = lookup(c, img, l2off, false, &s, e);
	if (rc == 0) {
		s->used = ++c->tick;
		memcpy(out, s->buf + pos, len);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int qcow2_l2cache_store(struct qcow2_l2cache *c, struct image *img, uint64_t l2off, size_t pos,
			const uint8_t *data, size_t len, bool fresh, struct err *e)
{
	struct qcow2_l2slot *s;
	int rc;

	if (check_range(c, img, l2off, pos, len, e) < 0)
		return -1;
	if (!c->writeback)
		return err_set(e, ERR_FAIL, "%s: L2 table store without a writer", img->name);
	pthread_mutex_lock(&c->lock);
	rc = lookup(c, img, l2off, fresh, &s, e);
	if (rc == 0) {
		s->used = ++c->tick;
		if (len)
			memcpy(s->buf + pos, data, len);
		if (!s->dirty) {
			s->dirty = true;
			c->ndirty++;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int qcow2_l2cache_write_dirty(struct qcow2_l2cache *c, struct image *img, struct err *e)
{
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < c->nslots && c->ndirty && rc == 0; i++) {
		struct qcow2_l2slot *s = &c->slot[i];

		if (!s->dirty)
			continue;
		rc = c->writeback(img, s->off, s->buf, e);
		if (rc == 0) {
			s->dirty = false;
			c->ndirty--;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
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
