/* qcow2 v3 writer: creating standalone images and overlays, and writing into images opened
 * writable. Clusters are allocated at the end of the file and never reused. Every
 * allocating write goes refcount, then data, then L2 entry, then L1 entry, so that a process
 * killed at any point leaves at most leaked clusters (never a reference to a cluster whose
 * refcount is zero, or to data not yet written). The refcount table grows (is moved to the
 * end of the file) when the file outgrows it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxes/qcow2_impl.h"
#include "core/fsutil.h"

#define CREATE_CLUSTER_BITS 16
#define CREATE_REFCOUNT_ORDER 4

int qcow2_create_fd(int fd, const char *name, uint64_t size, const char *backing,
		    const char *backing_fmt, struct err *e);

static int write_at(struct image *img, const void *buf, size_t len, uint64_t off, const char *what,
		    struct err *e)
{
	for (size_t done = 0; done < len;) {
		ssize_t n =
			pwrite(img->fd, (const char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(e, "%s: cannot write %s at %llu", img->name, what,
				       (unsigned long long)(off + done));
		}
		done += (size_t)n;
	}
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

#define MAX_RT_BYTES (8u << 20) /* as the reader accepts */

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
	if (entries * 8 > MAX_RT_BYTES)
		return err_set(e, ERR_UNSUPPORTED, "%s: refcount table would exceed %u bytes",
			       img->name, MAX_RT_BYTES);
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

/* Allocates n contiguous clusters at the end of the file, with refcount 1; creates refcount
 * blocks as needed (a new block covers itself where it can). */
static int alloc_clusters(struct image *img, struct qcow2 *q, uint64_t n, uint64_t *start,
			  struct err *e)
{
	unsigned rbb = rb_bits(q);

	for (;;) {
		uint64_t s = q->next_free, end = s + n, b, rbc;
		bool missing = false;

		if (((end - 1) >> rbb) >= q->rt_entries) {
			if (grow_reftable(img, q, ((end - 1) >> rbb) + 1, e) < 0)
				return -1;
			continue;
		}
		for (b = s >> rbb; b <= (end - 1) >> rbb; b++)
			if (!(q->rt[b] & QCOW2_OFFSET_MASK)) {
				missing = true;
				break;
			}
		if (!missing)
			break;
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
	if (set_refcounts(img, q, q->next_free, n, 1, e) < 0)
		return -1;
	*start = q->next_free;
	q->next_free += n;
	/* reads check offsets against the file size; the file now reaches this far */
	if (q->file_size < q->next_free << q->cluster_bits)
		q->file_size = q->next_free << q->cluster_bits;
	return 0;
}

/* Writes guest [off, off+n) (kind Q_ZERO or Q_UNALLOC, within one L2 table) into new
 * clusters, filling the rest of partial clusters with what the guest saw before. */
static int write_new(struct image *img, struct qcow2 *q, const uint8_t *buf, uint64_t n,
		     uint64_t off, enum qcow2_kind kind, struct err *e)
{
	uint64_t a = off & ~(q->cs - 1), b = (off + n + q->cs - 1) & ~(q->cs - 1);
	uint64_t nc = (b - a) >> q->cluster_bits, start, host;
	uint64_t cidx = a >> q->cluster_bits, l2n = 1ull << q->l2_bits;
	uint64_t l1i = cidx >> q->l2_bits, l2i = cidx & (l2n - 1), l2off;
	uint8_t *ents;
	int rc = -1;

	if (alloc_clusters(img, q, nc, &start, e) < 0)
		return -1;
	host = start << q->cluster_bits;
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
		if (kind == Q_ZERO)
			memset(q->cbuf, 0, q->cs);
		else if (image_read_backing(img, q->cbuf, q->cs, ca, e) < 0)
			return -1;
		memcpy(q->cbuf + (lo - ca), buf + (lo - off), hi - lo);
		if (write_at(img, q->cbuf, q->cs, host + (k << q->cluster_bits), "data", e) < 0)
			return -1;
		k++;
	}
	l2off = q->l1[l1i] & QCOW2_OFFSET_MASK;
	if (!l2off) {
		uint64_t l2c;
		uint8_t l1e[8];

		if (alloc_clusters(img, q, 1, &l2c, e) < 0)
			return -1;
		memset(q->cbuf, 0, q->cs);
		for (uint64_t k = 0; k < nc; k++)
			put_be64(q->cbuf + (l2i + k) * 8,
				 (host + (k << q->cluster_bits)) | QCOW2_COPIED);
		rc = write_at(img, q->cbuf, q->cs, l2c << q->cluster_bits, "L2 table", e);
		qcow2_l2cache_written(&q->l2c, l2c << q->cluster_bits, 0, q->cbuf, q->cs, rc == 0);
		if (rc < 0)
			return -1;
		q->l1[l1i] = (l2c << q->cluster_bits) | QCOW2_COPIED;
		put_be64(l1e, q->l1[l1i]);
		return write_at(img, l1e, 8, q->l1_offset + l1i * 8, "L1 table", e);
	}
	if (!(q->l1[l1i] & QCOW2_COPIED))
		return err_set(e, ERR_UNSUPPORTED, "%s: L2 table %llu is shared (no COPIED flag)",
			       img->name, (unsigned long long)l1i);
	ents = malloc(nc * 8);
	if (!ents)
		return err_set(e, ERR_FAIL, "out of memory");
	for (uint64_t k = 0; k < nc; k++)
		put_be64(ents + k * 8, (host + (k << q->cluster_bits)) | QCOW2_COPIED);
	rc = write_at(img, ents, nc * 8, l2off + l2i * 8, "L2 table", e);
	qcow2_l2cache_written(&q->l2c, l2off, l2i * 8, ents, nc * 8, rc == 0);
	free(ents);
	return rc;
}

/* Writes guest [off, off+n) (inside one compressed cluster): the merged cluster goes to a new
 * cluster, the L2 entry is switched to it, then the compressed data's host clusters lose one
 * reference each (a kill before that leaks them, no worse). */
static int write_compressed(struct image *img, struct qcow2 *q, const uint8_t *buf, uint64_t n,
			    uint64_t off, uint64_t entry, struct err *e)
{
	uint64_t ca = off & ~(q->cs - 1), cidx = ca >> q->cluster_bits;
	uint64_t l1i = cidx >> q->l2_bits, l2i = cidx & ((1ull << q->l2_bits) - 1);
	unsigned x = 62 - (q->cluster_bits - 8);
	uint64_t coff = entry & ((1ull << x) - 1) & ~511ull;
	uint64_t nsec = ((entry >> x) & ((1ull << (q->cluster_bits - 8)) - 1)) + 1;
	uint64_t l2off = q->l1[l1i] & QCOW2_OFFSET_MASK, c, host;
	uint8_t *old = malloc(q->cs), ent[8];
	int rc = -1;

	if (!old)
		return err_set(e, ERR_FAIL, "out of memory");
	if (!(q->l1[l1i] & QCOW2_COPIED)) {
		err_set(e, ERR_UNSUPPORTED, "%s: L2 table %llu is shared (no COPIED flag)",
			img->name, (unsigned long long)l1i);
		goto out;
	}
	if (qcow2_read_compressed(img, q, entry, old, e) < 0)
		goto out;
	memcpy(old + (off - ca), buf, n);
	if (alloc_clusters(img, q, 1, &c, e) < 0)
		goto out;
	host = c << q->cluster_bits;
	if (write_at(img, old, q->cs, host, "data", e) < 0)
		goto out;
	put_be64(ent, host | QCOW2_COPIED);
	rc = write_at(img, ent, 8, l2off + l2i * 8, "L2 table", e);
	qcow2_l2cache_written(&q->l2c, l2off, l2i * 8, ent, 8, rc == 0);
	if (rc < 0)
		goto out;
	rc = -1;
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
			break;
		case Q_COMPRESSED: rc = write_compressed(img, q, p, m.len, off, m.entry, e); break;
		case Q_ZERO:
		case Q_UNALLOC: rc = write_new(img, q, p, m.len, off, m.kind, e); break;
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
	if (q->ext_l2)
		return err_set(e, ERR_UNSUPPORTED,
			       "%s: writing images with extended L2 entries is not supported",
			       img->name);
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

void qcow2_write_free(struct qcow2 *q)
{
	free(q->rt);
	free(q->cbuf);
	q->rt = NULL;
	q->cbuf = NULL;
}

int qcow2_create_fd(int fd, const char *name, uint64_t size, const char *backing,
		    const char *backing_fmt, struct err *e)
{
	const uint64_t cs = 1ull << CREATE_CLUSTER_BITS, rbe = cs * 8 / 16;
	uint64_t l1_size = (size + cs * (cs / 8) - 1) / (cs * (cs / 8));
	uint64_t l1c, rtc = 1, total, meta, pos;
	size_t blen = backing ? strlen(backing) : 0, flen = backing_fmt ? strlen(backing_fmt) : 0;
	uint8_t *buf;
	int rc = -1;

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
	put_be32(buf + 20, CREATE_CLUSTER_BITS);
	put_be64(buf + 24, size);
	put_be32(buf + 36, (uint32_t)l1_size);
	put_be64(buf + 40, (2 + rtc) * cs);
	put_be64(buf + 48, cs);
	put_be32(buf + 56, (uint32_t)rtc);
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
	if (pwrite(fd, buf, cs, 0) != (ssize_t)cs)
		goto io;
	memset(buf, 0, cs);
	put_be64(buf, (1 + rtc) * cs);
	if (pwrite(fd, buf, cs, (off_t)cs) != (ssize_t)cs)
		goto io;
	memset(buf, 0, cs);
	for (uint64_t i = 0; i < meta; i++)
		put_be16(buf + i * 2, 1);
	if (pwrite(fd, buf, cs, (off_t)((1 + rtc) * cs)) != (ssize_t)cs)
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
	char *dir = NULL, *bpath = NULL, *tmp = NULL;
	int fd = -1, dirfd = -1, rc = -1;

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
	fd = fs_create_temp_beside(path, 0644, &tmp, e);
	if (fd < 0)
		goto out;
	if (qcow2_create_fd(fd, path, size, backing,
			    backing ? image_format_name(backing_fmt) : NULL, e) < 0)
		goto out;
	if (fdatasync(fd) < 0) {
		err_sys(e, "cannot sync %s", tmp);
		goto out;
	}
	if (link(tmp, path) < 0) {
		if (errno == EEXIST)
			err_set(e, ERR_EXISTS, "%s already exists", path);
		else
			err_sys(e, "cannot create %s", path);
		goto out;
	}
	rc = fs_fsync_parent(path, e);
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	if (dirfd >= 0)
		close(dirfd);
	free(dir);
	free(bpath);
	return rc;
}
