/* qcow2 v3 writer: creating standalone images and overlays, and writing into images opened
 * writable. Clusters are allocated at the end of the file and never reused.
 *
 * Metadata is written back, as a disk with a volatile write cache does: the refcounts of new
 * clusters and L2/L1 updates stay in memory until image_flush, image_close or the reuse of a
 * dirty L2-cache slot. Write-back goes refcounts, fdatasync (which also covers the data),
 * L2 tables, then, when a new L2 table appeared, fdatasync and L1 entries. A process killed
 * or a host crashed at any moment therefore leaves at most leaked clusters (never a
 * reference to a cluster whose refcount is zero, or to data not yet written) and loses only
 * the writes into unallocated space since the last flush, as a guest expects of a disk.
 *
 * With extended L2 entries (the layout of the disks envup creates) a write into an
 * unallocated cluster writes only the subclusters it touches; the others keep reading from
 * the backing image. Without them the rest of the cluster is copied from the backing image.
 * The refcount table grows (is moved to the end of the file) when the file outgrows it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxes/qcow2_impl.h"
#include "core/fsutil.h"

#define CREATE_REFCOUNT_ORDER 4

static int write_at(struct image *img, const void *buf, size_t len, uint64_t off, const char *what,
		    struct err *e)
{
	if (fs_pwrite_all(img->fd, buf, len, (off_t)off) < 0)
		return err_sys(e, "%s: cannot write %s at %llu", img->name, what,
			       (unsigned long long)off);
	return 0;
}

static unsigned rb_bits(const struct qcow2 *q)
{
	return q->cluster_bits + 3 - q->refcount_order;
}

/* Sets refcount entry i of the refcount block bytes rb (sub-byte widths: LSB first). */
static void rc_set(uint8_t *rb, unsigned order, uint64_t i, uint64_t v)
{
	unsigned bits = 1u << order;

	if (bits < 8) {
		unsigned per = 8 / bits, shift = (unsigned)(i % per) * bits;
		uint8_t mask = (uint8_t)(((1u << bits) - 1) << shift);

		rb[i / per] = (uint8_t)((rb[i / per] & ~mask) | ((v << shift) & mask));
		return;
	}
	for (unsigned b = 0; b < bits / 8; b++)
		rb[i * (bits / 8) + b] = (uint8_t)(v >> (bits - 8 - 8 * b));
}

/* Refcount entry i of the refcount block bytes rb. */
static uint64_t rc_get(const uint8_t *rb, unsigned order, uint64_t i)
{
	unsigned bits = 1u << order;
	uint64_t v = 0;

	if (bits < 8) {
		unsigned per = 8 / bits;

		return (uint64_t)(rb[i / per] >> ((i % per) * bits)) & ((1u << bits) - 1);
	}
	for (unsigned b = 0; b < bits / 8; b++)
		v = v << 8 | rb[i * (bits / 8) + b];
	return v;
}

/* The refcount of cluster c. */
static int get_refcount(struct image *img, struct qcow2 *q, uint64_t c, uint64_t *v,
			struct err *e)
{
	unsigned rbb = rb_bits(q), bits = 1u << q->refcount_order;
	uint64_t b = c >> rbb, i = c & ((1ull << rbb) - 1), rboff, byte;
	uint8_t buf[8];

	if (b >= q->rt_entries || !(rboff = q->rt[b] & QCOW2_OFFSET_MASK)) {
		*v = 0;
		return 0;
	}
	byte = i * bits / 8;
	if (image_read_exact(img, img->fd, buf, bits < 8 ? 1 : bits / 8, rboff + byte,
			     "refcount block", e) < 0)
		return -1;
	*v = bits < 8 ? rc_get(buf, q->refcount_order, i % (8 / bits))
		      : rc_get(buf, q->refcount_order, 0);
	return 0;
}

/* Sets the refcount of clusters [start, start+n) to v; their refcount blocks exist. */
static int set_refcounts(struct image *img, struct qcow2 *q, uint64_t start, uint64_t n, uint64_t v,
			 struct err *e)
{
	unsigned rbb = rb_bits(q), bits = 1u << q->refcount_order;
	uint64_t mask = (1ull << rbb) - 1;
	uint8_t buf[4096];

	q->unsynced = true;
	while (n) {
		uint64_t b = start >> rbb, i0 = start & mask, cnt = (mask + 1) - i0;
		uint64_t rboff, byte0, byte1;

		if (cnt > n)
			cnt = n;
		/* at most sizeof(buf) bytes of refcounts per step */
		if (cnt * bits / 8 > sizeof(buf) - 8)
			cnt = (sizeof(buf) - 8) * 8 / bits;
		if (b >= q->rt_entries || !(rboff = q->rt[b] & QCOW2_OFFSET_MASK))
			return err_set(e, ERR_FAIL, "%s: no refcount block for cluster %llu",
				       img->name, (unsigned long long)start);
		byte0 = i0 * bits / 8;
		byte1 = ((i0 + cnt) * bits + 7) / 8;
		if (image_read_exact(img, img->fd, buf, byte1 - byte0, rboff + byte0,
				     "refcount block", e) < 0)
			return -1;
		for (uint64_t i = 0; i < cnt; i++) {
			uint64_t k = i0 + i;

			if (bits < 8)
				rc_set(buf, q->refcount_order, k - byte0 * (8 / bits), v);
			else
				rc_set(buf, q->refcount_order, k - byte0 / (bits / 8), v);
		}
		if (write_at(img, buf, byte1 - byte0, rboff + byte0, "refcount block", e) < 0)
			return -1;
		start += cnt;
		n -= cnt;
	}
	return 0;
}


/* Replaces the refcount table with one of at least min_entries entries, placed at the end
 * of the file together with the refcount blocks that cover it. Order: refcounts of the new
 * clusters, new blocks, new table, then the header (one write), then the old table is
 * freed; a kill in between leaks clusters at worst. */
static int grow_reftable(struct image *img, struct qcow2 *q, uint64_t min_entries, struct err *e)
{
	unsigned rbb = rb_bits(q);
	uint64_t per = q->cs / 8, entries = q->rt_entries * 2, start = q->next_free, tc, nb = 0;
	uint64_t old_off = q->rt_offset, old_c = q->rt_clusters, *nrt;
	uint8_t hdr[12];
	int rc = -1;

	if (entries < min_entries)
		entries = min_entries;
	for (;;) {
		uint64_t end, cnt;

		entries = (entries + per - 1) / per * per;
		tc = entries / per;
		for (;;) {
			end = start + tc + nb;
			cnt = 0;
			for (uint64_t b = start >> rbb; b <= (end - 1) >> rbb; b++)
				if (b >= q->rt_entries || !(q->rt[b] & QCOW2_OFFSET_MASK))
					cnt++;
			if (cnt == nb)
				break;
			nb = cnt;
		}
		if (((end - 1) >> rbb) < entries)
			break;
		entries *= 2;
	}
	if (entries * 8 > QCOW2_MAX_RT_BYTES)
		return err_set(e, ERR_UNSUPPORTED, "%s: refcount table would exceed %u bytes",
			       img->name, QCOW2_MAX_RT_BYTES);
	nrt = calloc(entries, 8);
	if (!nrt)
		return err_set(e, ERR_FAIL, "out of memory");
	memcpy(nrt, q->rt, q->rt_entries * 8);
	/* place the new blocks after the table, in block order */
	{
		uint64_t c = start + tc, end = start + tc + nb;

		for (uint64_t b = start >> rbb; b <= (end - 1) >> rbb; b++)
			if (!(nrt[b] & QCOW2_OFFSET_MASK))
				nrt[b] = (c++) << q->cluster_bits;
	}
	/* refcounts: existing blocks through set_refcounts, new blocks built whole */
	for (uint64_t c = start; c < start + tc + nb; c++) {
		uint64_t b = c >> rbb;

		if (b < q->rt_entries && (q->rt[b] & QCOW2_OFFSET_MASK)) {
			if (set_refcounts(img, q, c, 1, 1, e) < 0)
				goto out;
		}
	}
	for (uint64_t b = start >> rbb; b <= (start + tc + nb - 1) >> rbb; b++) {
		if (b < q->rt_entries && (q->rt[b] & QCOW2_OFFSET_MASK))
			continue;
		memset(q->cbuf, 0, q->cs);
		for (uint64_t c = start; c < start + tc + nb; c++)
			if (c >> rbb == b)
				rc_set(q->cbuf, q->refcount_order, c & ((1ull << rbb) - 1), 1);
		if (write_at(img, q->cbuf, q->cs, nrt[b], "refcount block", e) < 0)
			goto out;
	}
	for (uint64_t i = 0; i < entries; i++)
		put_be64((uint8_t *)&nrt[i], nrt[i]);
	rc = write_at(img, nrt, entries * 8, start << q->cluster_bits, "refcount table", e);
	for (uint64_t i = 0; i < entries; i++)
		nrt[i] = get_be64(&nrt[i]);
	if (rc < 0)
		goto out;
	rc = -1;
	put_be64(hdr, start << q->cluster_bits);
	put_be32(hdr + 8, (uint32_t)tc);
	if (write_at(img, hdr, sizeof(hdr), 48, "header", e) < 0)
		goto out;
	free(q->rt);
	q->rt = nrt;
	nrt = NULL;
	q->rt_entries = entries;
	q->rt_offset = start << q->cluster_bits;
	q->rt_clusters = (uint32_t)tc;
	q->next_free = start + tc + nb;
	if (q->file_size < q->next_free << q->cluster_bits)
		q->file_size = q->next_free << q->cluster_bits;
	rc = set_refcounts(img, q, old_off >> q->cluster_bits, old_c, 0, e);
out:
	free(nrt);
	return rc;
}

/* Writes the refcounts of the clusters allocated since they were last written. */
static int write_pending_refcounts(struct image *img, struct qcow2 *q, struct err *e)
{
	if (!q->rc_pend_n)
		return 0;
	if (set_refcounts(img, q, q->rc_pend, q->rc_pend_n, 1, e) < 0)
		return -1;
	q->rc_pend_n = 0;
	return 0;
}

/* An ordering point: what was written before reaches the disk before what is written after.
 * An unnamed output is synced once when complete instead (see image_open_opts). */
static int barrier(struct image *img, struct err *e)
{
	return img->ctx.unnamed_output ? 0 : image_sync(img, e);
}

/* Makes the refcounts and data written so far durable: a table written after this may point
 * at any of those clusters. */
static int make_durable(struct image *img, struct qcow2 *q, struct err *e)
{
	if (write_pending_refcounts(img, q, e) < 0)
		return -1;
	if (!q->unsynced)
		return 0;
	if (barrier(img, e) < 0)
		return -1;
	q->unsynced = false;
	return 0;
}

/* The L2 cache's writeback hook: a dirty table goes to the file only after what it maps. */
static int write_l2_table(struct image *img, uint64_t off, const uint8_t *buf, struct err *e)
{
	struct qcow2 *q = img->priv;

	if (make_durable(img, q, e) < 0)
		return -1;
	return write_at(img, buf, q->cs, off, "L2 table", e);
}

int qcow2_write_back(struct image *img, struct err *e)
{
	struct qcow2 *q = img->priv;
	uint64_t lo = q->l1_dirty_lo, hi = q->l1_dirty_hi;
	uint8_t *l1 = NULL;
	int rc;

	if (make_durable(img, q, e) < 0 || qcow2_l2cache_write_dirty(&q->l2c, img, e) < 0)
		return -1;
	if (lo >= hi)
		return 0;
	/* the new L2 tables are written; they must be durable before an L1 entry names them */
	if (barrier(img, e) < 0)
		return -1;
	l1 = malloc((hi - lo) * 8);
	if (!l1)
		return err_set(e, ERR_FAIL, "out of memory");
	for (uint64_t i = lo; i < hi; i++)
		put_be64(l1 + (i - lo) * 8, q->l1[i]);
	rc = write_at(img, l1, (hi - lo) * 8, q->l1_offset + lo * 8, "L1 table", e);
	free(l1);
	if (rc == 0)
		q->l1_dirty_lo = q->l1_dirty_hi = 0;
	return rc;
}

/* Allocates n contiguous clusters at the end of the file; their refcounts (1) are written
 * back later. Creates refcount blocks as needed (a new block covers itself where it can). */
static int alloc_clusters(struct image *img, struct qcow2 *q, uint64_t n, uint64_t *start,
			  struct err *e)
{
	unsigned rbb = rb_bits(q);

	for (;;) {
		uint64_t s = q->next_free, end = s + n, b, rbc;
		bool missing = false;

		if (((end - 1) >> rbb) >= q->rt_entries) {
			/* growing moves next_free: the pending run must be written first */
			if (write_pending_refcounts(img, q, e) < 0 ||
			    grow_reftable(img, q, ((end - 1) >> rbb) + 1, e) < 0)
				return -1;
			q->unsynced = true;
			continue;
		}
		for (b = s >> rbb; b <= (end - 1) >> rbb; b++)
			if (!(q->rt[b] & QCOW2_OFFSET_MASK)) {
				missing = true;
				break;
			}
		if (!missing)
			break;
		if (write_pending_refcounts(img, q, e) < 0)
			return -1;
		q->unsynced = true;
		rbc = q->next_free++;
		if (q->file_size < q->next_free << q->cluster_bits)
			q->file_size = q->next_free << q->cluster_bits;
		memset(q->cbuf, 0, q->cs);
		if ((rbc >> rbb) == b)
			rc_set(q->cbuf, q->refcount_order, rbc & ((1ull << rbb) - 1), 1);
		else if (set_refcounts(img, q, rbc, 1, 1, e) < 0)
			return -1;
		if (write_at(img, q->cbuf, q->cs, rbc << q->cluster_bits, "refcount block", e) < 0)
			return -1;
		uint8_t ent[8];

		put_be64(ent, rbc << q->cluster_bits);
		if (write_at(img, ent, 8, q->rt_offset + b * 8, "refcount table", e) < 0)
			return -1;
		q->rt[b] = rbc << q->cluster_bits;
	}
	if (!q->rc_pend_n)
		q->rc_pend = q->next_free;
	q->rc_pend_n += n;
	*start = q->next_free;
	q->next_free += n;
	/* reads check offsets against the file size; the file now reaches this far */
	if (q->file_size < q->next_free << q->cluster_bits)
		q->file_size = q->next_free << q->cluster_bits;
	return 0;
}

/* The host offset of the L2 table for L1 index l1i, creating an empty table if there is none
 * (written back later, like the L1 entry that names it). */
static int l2_table(struct image *img, struct qcow2 *q, uint64_t l1i, uint64_t *l2off,
		    struct err *e)
{
	uint64_t c;

	*l2off = q->l1[l1i] & QCOW2_OFFSET_MASK;
	if (*l2off) {
		if (!(q->l1[l1i] & QCOW2_COPIED))
			return err_set(e, ERR_UNSUPPORTED,
				       "%s: L2 table %llu is shared (no COPIED flag)", img->name,
				       (unsigned long long)l1i);
		return 0;
	}
	if (alloc_clusters(img, q, 1, &c, e) < 0)
		return -1;
	*l2off = c << q->cluster_bits;
	if (qcow2_l2cache_store(&q->l2c, img, *l2off, 0, NULL, 0, true, e) < 0)
		return -1;
	q->l1[l1i] = *l2off | QCOW2_COPIED;
	if (q->l1_dirty_lo >= q->l1_dirty_hi) {
		q->l1_dirty_lo = l1i;
		q->l1_dirty_hi = l1i + 1;
	} else {
		if (l1i < q->l1_dirty_lo)
			q->l1_dirty_lo = l1i;
		if (l1i >= q->l1_dirty_hi)
			q->l1_dirty_hi = l1i + 1;
	}
	return 0;
}

/* The L2 entry (and, with extended L2, the subcluster bitmap) of guest cluster cidx. */
static int l2_get(struct image *img, struct qcow2 *q, uint64_t cidx, uint64_t *entry,
		  uint64_t *bitmap, struct err *e)
{
	uint64_t l1i = cidx >> q->l2_bits, l2i = cidx & ((1ull << q->l2_bits) - 1), l2off;
	unsigned esz = q->ext_l2 ? 16 : 8;
	uint8_t b[16];

	*entry = *bitmap = 0;
	if (l1i >= q->l1_size || !(l2off = q->l1[l1i] & QCOW2_OFFSET_MASK))
		return 0;
	if (qcow2_l2cache_read(&q->l2c, img, l2off, (size_t)(l2i * esz), esz, b, e) < 0)
		return -1;
	*entry = get_be64(b);
	if (q->ext_l2)
		*bitmap = get_be64(b + 8);
	return 0;
}

/* Sets the L2 entry (and subcluster bitmap) of guest cluster cidx, in the cache. */
static int l2_set(struct image *img, struct qcow2 *q, uint64_t cidx, uint64_t entry,
		  uint64_t bitmap, struct err *e)
{
	uint64_t l1i = cidx >> q->l2_bits, l2i = cidx & ((1ull << q->l2_bits) - 1), l2off;
	unsigned esz = q->ext_l2 ? 16 : 8;
	uint8_t b[16];

	if (l2_table(img, q, l1i, &l2off, e) < 0)
		return -1;
	put_be64(b, entry);
	put_be64(b + 8, bitmap);
	return qcow2_l2cache_store(&q->l2c, img, l2off, (size_t)(l2i * esz), b, esz, false, e);
}

/* Fills buf with len guest bytes at off as they read before a write: zeros, or the backing
 * image's bytes. */
static int prior_bytes(struct image *img, enum qcow2_kind kind, uint8_t *buf, uint64_t len,
		       uint64_t off, struct err *e)
{
	if (!len)
		return 0;
	if (kind == Q_ZERO) {
		memset(buf, 0, len);
		return 0;
	}
	return image_read_backing(img, buf, len, off, e);
}

/* Writes guest [off, off+n) (kind Q_ZERO or Q_UNALLOC, within one L2 table) into new
 * clusters, filling the rest of partial clusters with what the guest saw before. */
static int write_new(struct image *img, struct qcow2 *q, const uint8_t *buf, uint64_t n,
		     uint64_t off, enum qcow2_kind kind, struct err *e)
{
	uint64_t a = off & ~(q->cs - 1), b = (off + n + q->cs - 1) & ~(q->cs - 1);
	uint64_t nc = (b - a) >> q->cluster_bits, start, host, cidx = a >> q->cluster_bits;

	if (alloc_clusters(img, q, nc, &start, e) < 0)
		return -1;
	host = start << q->cluster_bits;
	q->unsynced = true;
	for (uint64_t k = 0; k < nc;) {
		uint64_t ca = a + (k << q->cluster_bits);
		uint64_t lo = ca > off ? ca : off, hi = ca + q->cs < off + n ? ca + q->cs : off + n;

		if (lo == ca && hi == ca + q->cs) {
			uint64_t k2 = k + 1;

			while (k2 < nc && a + ((k2 + 1) << q->cluster_bits) <= off + n)
				k2++;
			if (write_at(img, buf + (ca - off), (k2 - k) << q->cluster_bits,
				     host + (k << q->cluster_bits), "data", e) < 0)
				return -1;
			k = k2;
			continue;
		}
		if (prior_bytes(img, kind, q->cbuf, lo - ca, ca, e) < 0 ||
		    prior_bytes(img, kind, q->cbuf + (hi - ca), ca + q->cs - hi, hi, e) < 0)
			return -1;
		memcpy(q->cbuf + (lo - ca), buf + (lo - off), hi - lo);
		if (write_at(img, q->cbuf, q->cs, host + (k << q->cluster_bits), "data", e) < 0)
			return -1;
		k++;
	}
	for (uint64_t k = 0; k < nc; k++)
		if (l2_set(img, q, cidx + k, (host + (k << q->cluster_bits)) | QCOW2_COPIED, 0, e) <
		    0)
			return -1;
	return 0;
}

/* Extended L2: writes guest [off, off + *n) (unallocated or zero subclusters; shortened to
 * the cluster's end) into the cluster's host cluster, allocating it if it has none. Only the
 * subclusters touched are written (their untouched parts take what the guest saw before)
 * and marked allocated. */
static int write_subclusters(struct image *img, struct qcow2 *q, const uint8_t *buf, uint64_t *n,
			     uint64_t off, enum qcow2_kind kind, struct err *e)
{
	uint64_t ca = off & ~(q->cs - 1), cidx = ca >> q->cluster_bits, unit = 1ull << q->sc_bits;
	uint64_t hi = off + *n < ca + q->cs ? off + *n : ca + q->cs;
	uint64_t a = off & ~(unit - 1), b = (hi + unit - 1) & ~(unit - 1);
	uint64_t entry, bitmap, host, sc_mask;
	unsigned s0 = (unsigned)((a - ca) >> q->sc_bits), s1 = (unsigned)((b - ca) >> q->sc_bits);

	*n = hi - off;
	if (l2_get(img, q, cidx, &entry, &bitmap, e) < 0)
		return -1;
	host = entry & QCOW2_OFFSET_MASK;
	if (host && !(entry & QCOW2_COPIED))
		return err_set(e, ERR_UNSUPPORTED, "%s: cluster at %llu is shared (no COPIED flag)",
			       img->name, (unsigned long long)host);
	if (host && ((host & (q->cs - 1)) || host < q->cs || host >= q->file_size))
		return err_set(e, ERR_CORRUPT,
			       "%s: host cluster %llu of guest cluster %llu is misplaced", img->name,
			       (unsigned long long)host, (unsigned long long)cidx);
	if (!host) {
		uint64_t c;

		if (alloc_clusters(img, q, 1, &c, e) < 0)
			return -1;
		host = c << q->cluster_bits;
	}
	q->unsynced = true;
	if (a == off && b == hi) {
		if (write_at(img, buf, *n, host + (off - ca), "data", e) < 0)
			return -1;
	} else {
		uint8_t *t = q->cbuf;

		if (prior_bytes(img, kind, t, off - a, a, e) < 0 ||
		    prior_bytes(img, kind, t + (hi - a), b - hi, hi, e) < 0)
			return -1;
		memcpy(t + (off - a), buf, *n);
		if (write_at(img, t, b - a, host + (a - ca), "data", e) < 0)
			return -1;
	}
	sc_mask = ((1ull << (s1 - s0)) - 1) << s0;
	bitmap = (bitmap | sc_mask) & ~(sc_mask << 32);
	return l2_set(img, q, cidx, host | QCOW2_COPIED, bitmap, e);
}

/* Writes guest [off, off+n) (inside one compressed cluster): the merged cluster goes to a new
 * cluster, the L2 entry is switched to it and written back, then the compressed data's host
 * clusters lose one reference each (a crash before that leaks them, no worse). */
static int write_compressed(struct image *img, struct qcow2 *q, const uint8_t *buf, uint64_t n,
			    uint64_t off, uint64_t entry, struct err *e)
{
	uint64_t ca = off & ~(q->cs - 1), cidx = ca >> q->cluster_bits;
	uint64_t coff, nsec, c, host;
	uint8_t *old = malloc(q->cs);
	int rc = -1;

	if (!old)
		return err_set(e, ERR_FAIL, "out of memory");
	qcow2_compressed_extent(q, entry, &coff, &nsec);
	coff &= ~511ull; /* nsec counts from the sector holding the offset */
	if (qcow2_read_compressed(img, q, entry, old, e) < 0)
		goto out;
	memcpy(old + (off - ca), buf, n);
	if (alloc_clusters(img, q, 1, &c, e) < 0)
		goto out;
	host = c << q->cluster_bits;
	q->unsynced = true;
	if (write_at(img, old, q->cs, host, "data", e) < 0 ||
	    l2_set(img, q, cidx, host | QCOW2_COPIED, q->ext_l2 ? 0xffffffffull : 0, e) < 0)
		goto out;
	/* the old reference must be gone from the disk before the refcount drops */
	if (qcow2_write_back(img, e) < 0 || barrier(img, e) < 0)
		goto out;
	for (c = coff >> q->cluster_bits; c <= (coff + nsec * 512 - 1) >> q->cluster_bits; c++) {
		uint64_t v;

		if (get_refcount(img, q, c, &v, e) < 0)
			goto out;
		if (v == 0) {
			err_set(e, ERR_CORRUPT, "%s: compressed cluster at %llu has refcount 0",
				img->name, (unsigned long long)(c << q->cluster_bits));
			goto out;
		}
		if (set_refcounts(img, q, c, 1, v - 1, e) < 0)
			goto out;
	}
	rc = 0;
out:
	free(old);
	return rc;
}

int qcow2_pwrite(struct image *img, const void *buf, size_t len, uint64_t off, struct err *e)
{
	struct qcow2 *q = img->priv;
	const uint8_t *p = buf;
	struct qcow2_map m = {.coarse = false};
	int rc = 0;

	pthread_mutex_lock(&q->lock);
	while (len && rc == 0) {
		if ((rc = qcow2_map(img, off, len, &m, e)) < 0)
			break;
		switch (m.kind) {
		case Q_DATA:
			if (!m.copied)
				rc = err_set(e, ERR_UNSUPPORTED,
					     "%s: cluster at %llu is shared (no COPIED flag)",
					     img->name, (unsigned long long)m.host);
			else
				rc = write_at(img, p, m.len, m.host, "data", e);
			q->unsynced = true;
			break;
		case Q_COMPRESSED: rc = write_compressed(img, q, p, m.len, off, m.entry, e); break;
		case Q_ZERO:
		case Q_UNALLOC:
			if (q->ext_l2)
				rc = write_subclusters(img, q, p, &m.len, off, m.kind, e);
			else
				rc = write_new(img, q, p, m.len, off, m.kind, e);
			break;
		}
		p += m.len;
		off += m.len;
		len -= m.len;
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int qcow2_write_init(struct image *img, struct err *e)
{
	struct qcow2 *q = img->priv;

	if (q->nb_snapshots)
		return err_set(e, ERR_UNSUPPORTED,
			       "%s: writing images with internal snapshots is not supported",
			       img->name);
	if (q->incompat & (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT))
		return err_set(e, ERR_CORRUPT,
			       "%s: image is marked dirty or corrupt; run 'qemu-img check -r all'",
			       img->name);
	q->rt_entries = ((uint64_t)q->rt_clusters << q->cluster_bits) / 8;
	q->rt = malloc(q->rt_entries * 8 + 8);
	q->cbuf = malloc(q->cs);
	if (!q->rt || !q->cbuf)
		return err_set(e, ERR_FAIL, "out of memory");
	if (image_read_exact(img, img->fd, q->rt, q->rt_entries * 8, q->rt_offset, "refcount table",
			     e) < 0)
		return -1;
	for (uint64_t i = 0; i < q->rt_entries; i++) {
		q->rt[i] = get_be64(&q->rt[i]);
		if ((q->rt[i] & QCOW2_OFFSET_MASK) & (q->cs - 1))
			return err_set(e, ERR_CORRUPT, "%s: refcount block %llu is not aligned",
				       img->name, (unsigned long long)i);
	}
	q->next_free = (q->file_size + q->cs - 1) >> q->cluster_bits;
	q->l2c.writeback = write_l2_table;
	/* autoclear features (persistent bitmaps, ...) describe the data as it was; a writer
	 * that does not maintain them must clear them before changing anything */
	if (q->version == 3 && q->autoclear) {
		uint8_t zero[8] = {0};

		if (write_at(img, zero, 8, 88, "header", e) < 0)
			return -1;
		q->autoclear = 0;
	}
	return 0;
}

void qcow2_write_free(struct image *img)
{
	struct qcow2 *q = img->priv;
	struct err e = {0};

	if (q->rt && q->cbuf)
		(void)qcow2_write_back(img, &e);
	free(q->rt);
	free(q->cbuf);
	q->rt = NULL;
	q->cbuf = NULL;
}

int qcow2_create_fd(int fd, const char *name, uint64_t size, const char *backing,
		    const char *backing_fmt, struct qcow2_layout layout, struct err *e)
{
	/* QEMU counts a qcow2 disk in 512-byte sectors and reads a size that is not a multiple
	 * of 512 as 0 bytes: round up, as qemu-img does (the tail reads as zeros) */
	size = size > UINT64_MAX - 511 ? size : (size + 511) & ~511ull;
	const uint64_t cs = 1ull << layout.cluster_bits, rbe = cs * 8 / 16;
	const uint64_t per_l2 = cs / (layout.ext_l2 ? 16 : 8);
	uint64_t l1_size = (size + cs * per_l2 - 1) / (cs * per_l2);
	uint64_t l1c, rtc = 1, total, meta, pos;
	size_t blen = backing ? strlen(backing) : 0, flen = backing_fmt ? strlen(backing_fmt) : 0;
	uint8_t *buf;
	int rc = -1;

	if (layout.cluster_bits < (layout.ext_l2 ? 14 : 9) || layout.cluster_bits > 21)
		return err_set(e, ERR_USAGE, "%s: cluster size 2^%u is not supported", name,
			       layout.cluster_bits);
	if (size > (1ull << 50))
		return err_set(e, ERR_USAGE, "%s: size %llu is too large", name,
			       (unsigned long long)size);
	if (blen > 1023 || flen > 31)
		return err_set(e, ERR_USAGE, "%s: backing file name too long", name);
	if (!l1_size)
		l1_size = 1;
	l1c = (l1_size * 8 + cs - 1) / cs;
	for (int i = 0; i < 3; i++) {
		total = 2 + rtc + l1c + (size + cs - 1) / cs + l1_size;
		total += total / rbe + 2;
		rtc = ((total + rbe - 1) / rbe * 8 + cs - 1) / cs;
	}
	meta = 2 + rtc + l1c;
	if (meta > rbe)
		return err_set(e, ERR_USAGE, "%s: size %llu is too large", name,
			       (unsigned long long)size);
	buf = calloc(1, cs);
	if (!buf)
		return err_set(e, ERR_FAIL, "out of memory");
	put_be32(buf, QCOW2_MAGIC);
	put_be32(buf + 4, 3);
	put_be32(buf + 20, layout.cluster_bits);
	put_be64(buf + 24, size);
	put_be32(buf + 36, (uint32_t)l1_size);
	put_be64(buf + 40, (2 + rtc) * cs);
	put_be64(buf + 48, cs);
	put_be32(buf + 56, (uint32_t)rtc);
	if (layout.ext_l2)
		put_be64(buf + 72, QCOW2_INCOMPAT_EXTL2);
	put_be32(buf + 96, CREATE_REFCOUNT_ORDER);
	put_be32(buf + 100, 112);
	pos = 112;
	if (flen) {
		put_be32(buf + pos, QCOW2_EXT_BACKING_FMT);
		put_be32(buf + pos + 4, (uint32_t)flen);
		memcpy(buf + pos + 8, backing_fmt, flen);
		pos += 8 + ((flen + 7) & ~(size_t)7);
	}
	pos += 8; /* end of extensions */
	if (blen) {
		put_be64(buf + 8, pos);
		put_be32(buf + 16, (uint32_t)blen);
		memcpy(buf + pos, backing, blen);
	}
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)(meta * cs)) < 0) {
		err_sys(e, "%s: cannot size the file", name);
		goto out;
	}
	if (fs_pwrite_all(fd, buf, cs, 0) < 0)
		goto io;
	memset(buf, 0, cs);
	put_be64(buf, (1 + rtc) * cs);
	if (fs_pwrite_all(fd, buf, cs, (off_t)cs) < 0)
		goto io;
	memset(buf, 0, cs);
	for (uint64_t i = 0; i < meta; i++)
		put_be16(buf + i * 2, 1);
	if (fs_pwrite_all(fd, buf, cs, (off_t)((1 + rtc) * cs)) < 0)
		goto io;
	rc = 0;
	goto out;
io:
	err_sys(e, "%s: cannot write the qcow2 metadata", name);
out:
	free(buf);
	return rc;
}

int image_create_qcow2(const char *path, uint64_t size, const char *backing,
		       enum image_format backing_fmt, struct err *e)
{
	char *dir = NULL, *bpath = NULL;
	struct fs_temp tmp = {.fd = -1};
	int dirfd = -1, rc = -1;

	if (backing) {
		struct image_open_opts o = {.follow_refs = true};
		struct image *b;
		int bfd;

		if (backing_fmt == IMAGE_UNKNOWN)
			return err_set(e, ERR_USAGE, "%s: the backing format must be given", path);
		dir = fs_dirname(path);
		if (!dir || !(bpath = fs_join(dir, backing))) {
			err_set(e, ERR_FAIL, "out of memory");
			goto out;
		}
		if (backing[0] != '/') {
			/* relative: it must stay inside the overlay's directory */
			dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (dirfd < 0) {
				err_sys(e, "cannot open directory %s", dir);
				goto out;
			}
			bfd = fs_open_beneath(dirfd, backing, O_RDONLY, 0, e);
			if (bfd < 0) {
				err_wrap(e, "%s: backing file", path);
				goto out;
			}
			close(bfd);
		}
		if (image_open(bpath, backing_fmt, &o, &b, e) < 0)
			goto out;
		if (!size)
			size = image_size(b);
		image_close(b);
	}
	if (fs_temp_create(path, 0644, &tmp, e) < 0)
		goto out;
	if (qcow2_create_fd(tmp.fd, path, size, backing,
			    backing ? image_format_name(backing_fmt) : NULL, QCOW2_LAYOUT_DISK, e) < 0)
		goto out;
	if (fdatasync(tmp.fd) < 0) {
		err_sys(e, "cannot sync %s", path);
		goto out;
	}
	rc = fs_temp_commit(&tmp, false, e);
out:
	fs_temp_discard(&tmp);
	if (dirfd >= 0)
		close(dirfd);
	free(dir);
	free(bpath);
	return rc;
}
