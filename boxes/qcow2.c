/* qcow2 reader (v2 and v3): header and extension checks, L1/L2 mapping with subclusters,
 * zlib and zstd compressed clusters, zero clusters and backing files. Every header field is
 * bounded before it sizes an allocation or a read. L2 tables come through a bounded LRU cache
 * (boxes/qcow2_l2cache.c) with its own lock, so several threads may still read one image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boxes/qcow2_impl.h"

#define MAX_L1_ENTRIES (4u << 20) /* 32 MiB of L1, as QEMU */
#define MAX_SNAPSHOTS 65536
#define MAX_SIZE (1ull << 60)
#define MAP_BATCH 512

static int read_entries(struct image *img, struct qcow2 *q, uint64_t l2off, uint64_t first,
			unsigned n, uint8_t *buf, struct err *e)
{
	unsigned esz = q->ext_l2 ? 16 : 8;

	return qcow2_l2cache_read(&q->l2c, img, l2off, (size_t)(first * esz), (size_t)n * esz, buf,
				  e);
}

/* Kind of guest unit (a subcluster with extended L2, else a cluster) idx in the cluster
 * described by entry/bitmap. */
static int classify(struct image *img, struct qcow2 *q, uint64_t entry, uint64_t bitmap,
		    unsigned sc, uint64_t gcluster, enum qcow2_kind *kind, uint64_t *host,
		    struct err *e)
{
	uint64_t h;

	if (entry & QCOW2_COMPRESSED) {
		if (q->ext_l2 && bitmap)
			return err_set(e, ERR_CORRUPT,
				       "%s: compressed cluster %llu has a subcluster bitmap",
				       img->name, (unsigned long long)gcluster);
		*kind = Q_COMPRESSED;
		*host = entry;
		return 0;
	}
	h = entry & QCOW2_OFFSET_MASK;
	if (q->ext_l2) {
		bool alloc = bitmap >> sc & 1, zero = bitmap >> (32 + sc) & 1;

		if (alloc && zero)
			return err_set(
				e, ERR_CORRUPT,
				"%s: subcluster %u of cluster %llu is both allocated and zero",
				img->name, sc, (unsigned long long)gcluster);
		if (zero) {
			*kind = Q_ZERO;
			return 0;
		}
		if (!alloc) {
			*kind = Q_UNALLOC;
			return 0;
		}
		if (!h)
			return err_set(e, ERR_CORRUPT,
				       "%s: cluster %llu has allocated subclusters but no offset",
				       img->name, (unsigned long long)gcluster);
	} else {
		if (entry & QCOW2_ZERO) {
			*kind = Q_ZERO;
			return 0;
		}
		if (!h) {
			*kind = Q_UNALLOC;
			return 0;
		}
	}
	if (h & (q->cs - 1))
		return err_set(e, ERR_CORRUPT,
			       "%s: data cluster for guest cluster %llu at %llu is not aligned",
			       img->name, (unsigned long long)gcluster, (unsigned long long)h);
	if (h >= q->file_size)
		return err_set(e, ERR_CORRUPT,
			       "%s: data cluster for guest cluster %llu at %llu is past the end of "
			       "the file",
			       img->name, (unsigned long long)gcluster, (unsigned long long)h);
	*kind = Q_DATA;
	*host = h;
	return 0;
}

int qcow2_map(struct image *img, uint64_t off, uint64_t len, struct qcow2_map *m, struct err *e)
{
	struct qcow2 *q = img->priv;
	bool coarse = m->coarse;
	uint64_t cidx = off >> q->cluster_bits, l2n = 1ull << q->l2_bits;
	uint64_t l1i = cidx >> q->l2_bits, l2i = cidx & (l2n - 1);
	uint64_t table_end = (l1i + 1) << (q->l2_bits + q->cluster_bits);
	uint64_t l2off, end, pos, unit = 1ull << q->sc_bits;
	uint8_t ebuf[MAP_BATCH * 16];
	unsigned n, esz = q->ext_l2 ? 16 : 8;
	bool first = true;

	if (len > table_end - off)
		len = table_end - off;
	m->len = len;
	m->copied = false;
	m->host = 0;
	if (l1i >= q->l1_size || !(l2off = q->l1[l1i] & QCOW2_OFFSET_MASK)) {
		m->kind = Q_UNALLOC;
		/* A status query runs on over every following L1 entry without a table: an
		 * empty disk of 1 PiB is answered from its L1 table, not in 2 million steps. */
		if (coarse) {
			uint64_t span = 1ull << (q->l2_bits + q->cluster_bits), want = off + len;

			for (uint64_t i = l1i + 1;
			     (i >= q->l1_size || !(q->l1[i] & QCOW2_OFFSET_MASK)) && table_end < want;
			     i++)
				table_end += span;
			m->len = (table_end < want ? table_end : want) - off;
		}
		return 0;
	}
	if ((l2off & (q->cs - 1)) || l2off > q->file_size || q->file_size - l2off < q->cs)
		return err_set(e, ERR_CORRUPT, "%s: L2 table at %llu (L1 entry %llu) is %s",
			       img->name, (unsigned long long)l2off, (unsigned long long)l1i,
			       (l2off & (q->cs - 1)) ? "not cluster aligned"
						     : "past the end of the file");
	n = (unsigned)((((off + len - 1) >> q->cluster_bits) - cidx) + 1);
	if (n > MAP_BATCH)
		n = MAP_BATCH;
	if (read_entries(img, q, l2off, l2i, n, ebuf, e) < 0)
		return -1;
	end = off + len;
	if (end > (cidx + n) << q->cluster_bits)
		end = (cidx + n) << q->cluster_bits;
	for (pos = off; pos < end;) {
		uint64_t c = (pos >> q->cluster_bits) - cidx;
		uint64_t entry = get_be64(ebuf + c * esz);
		uint64_t bitmap = q->ext_l2 ? get_be64(ebuf + c * esz + 8) : 0;
		unsigned sc = (unsigned)((pos & (q->cs - 1)) >> q->sc_bits);
		uint64_t uend = (pos | (unit - 1)) + 1, host = 0;
		enum qcow2_kind kind = Q_UNALLOC;
		bool copied = !!(entry & QCOW2_COPIED);

		if (classify(img, q, entry, bitmap, sc, cidx + c, &kind, &host, e) < 0)
			return -1;
		if (kind == Q_DATA)
			host += pos & (q->cs - 1);
		if (coarse && kind == Q_COMPRESSED)
			kind = Q_DATA;
		if (coarse) {
			host = 0; /* only the kind matters */
			copied = false;
		}
		if (first) {
			m->kind = kind;
			m->host = host;
			m->entry = entry;
			m->copied = copied;
			first = false;
		} else if (kind != m->kind || kind == Q_COMPRESSED || copied != m->copied ||
			   (kind == Q_DATA && !coarse && host != m->host + (pos - off))) {
			break;
		}
		if (kind == Q_COMPRESSED) {
			uint64_t cend = (pos | (q->cs - 1)) + 1;

			pos = cend < end ? cend : end;
			break;
		}
		pos = uend < end ? uend : end;
	}
	m->len = pos - off;
	return 0;
}

int qcow2_read_compressed(struct image *img, struct qcow2 *q, uint64_t entry, uint8_t *out,
			  struct err *e)
{
	uint64_t coff, nsec, csize;
	uint8_t *in;
	int rc;

	qcow2_compressed_extent(q, entry, &coff, &nsec);
	csize = nsec * 512 - (coff & 511);

	if (coff >= q->file_size)
		return err_set(e, ERR_CORRUPT,
			       "%s: compressed cluster at %llu is past the end of the file",
			       img->name, (unsigned long long)coff);
	if (csize > q->file_size - coff)
		csize = q->file_size - coff;
	in = malloc(csize);
	if (!in)
		return err_set(e, ERR_FAIL, "out of memory");
	rc = image_read_exact(img, img->fd, in, csize, coff, "compressed cluster", e);
	if (rc == 0) {
		if (q->compression == 1)
			rc = image_unzstd(in, csize, out, q->cs, e);
		else
			rc = image_inflate(in, csize, out, q->cs, false, e);
		if (rc < 0)
			err_wrap(e, "%s: compressed cluster at %llu", img->name,
				 (unsigned long long)coff);
	}
	free(in);
	return rc;
}

/* Reads [off, off+len) through the map without taking the writer's lock. */
static int qcow2_read_unlocked(struct image *img, void *buf, size_t len, uint64_t off,
			       struct err *e)
{
	struct qcow2 *q = img->priv;
	uint8_t *p = buf, *tmp = NULL;
	struct qcow2_map m = {.coarse = false};
	int rc = 0;

	while (len) {
		if ((rc = qcow2_map(img, off, len, &m, e)) < 0)
			break;
		switch (m.kind) {
		case Q_DATA: rc = image_read_fill(img, img->fd, p, m.len, m.host, e); break;
		case Q_ZERO: memset(p, 0, m.len); break;
		case Q_UNALLOC: rc = image_read_backing(img, p, m.len, off, e); break;
		case Q_COMPRESSED:
			if (!tmp && !(tmp = malloc(q->cs))) {
				rc = err_set(e, ERR_FAIL, "out of memory");
				break;
			}
			rc = qcow2_read_compressed(img, q, m.entry, tmp, e);
			if (rc == 0)
				memcpy(p, tmp + (off & (q->cs - 1)), m.len);
			break;
		}
		if (rc < 0)
			break;
		p += m.len;
		off += m.len;
		len -= m.len;
	}
	free(tmp);
	return rc;
}

static int qcow2_pread(struct image *img, void *buf, size_t len, uint64_t off, struct err *e)
{
	struct qcow2 *q = img->priv;
	int rc;

	if (!img->ctx.writable)
		return qcow2_read_unlocked(img, buf, len, off, e);
	pthread_mutex_lock(&q->lock);
	rc = qcow2_read_unlocked(img, buf, len, off, e);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static int qcow2_status(struct image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			enum image_run *run, struct err *e)
{
	struct qcow2 *q = img->priv;
	struct qcow2_map m = {.coarse = true};
	int rc;

	if (img->ctx.writable)
		pthread_mutex_lock(&q->lock);
	rc = qcow2_map(img, off, len, &m, e);
	if (img->ctx.writable)
		pthread_mutex_unlock(&q->lock);
	if (rc < 0)
		return -1;
	if (m.kind == Q_UNALLOC)
		return image_status_backing(img, off, m.len, pnum, run, e);
	*pnum = m.len;
	*run = m.kind == Q_ZERO ? IMAGE_RUN_ZERO : IMAGE_RUN_DATA;
	return 0;
}

static int qcow2_flush(struct image *img, struct err *e)
{
	struct qcow2 *q = img->priv;
	int rc;

	/* image_flush calls this for writable images only */
	pthread_mutex_lock(&q->lock);
	rc = qcow2_write_back(img, e);
	if (rc == 0)
		rc = image_sync(img, e);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static void qcow2_close(struct image *img)
{
	struct qcow2 *q = img->priv;

	if (!q)
		return;
	qcow2_write_free(img);
	qcow2_l2cache_free(&q->l2c);
	if (q->lock_init)
		pthread_mutex_destroy(&q->lock);
	free(q->l1);
	free(q);
	img->priv = NULL;
}

static const struct image_ops qcow2_ops = {
	.pread = qcow2_pread,
	.pwrite = qcow2_pwrite,
	.flush = qcow2_flush,
	.status = qcow2_status,
	.close = qcow2_close,
};

/* Names the unknown incompatible features, using the image's feature name table. */
static void unknown_features(const uint8_t *names, size_t nlen, uint64_t bits, char *out,
			     size_t outlen)
{
	size_t used = 0;

	out[0] = '\0';
	for (unsigned b = 0; b < 64; b++) {
		const char *name = NULL;
		char nbuf[47];

		if (!(bits >> b & 1))
			continue;
		for (size_t i = 0; names && i + 48 <= nlen; i += 48)
			if (names[i] == 0 && names[i + 1] == b) {
				memcpy(nbuf, names + i + 2, 46);
				nbuf[46] = '\0';
				for (char *c = nbuf; *c; c++)
					if (*c < 0x20 || *c > 0x7e)
						*c = '?';
				name = nbuf;
			}
		used += (size_t)snprintf(out + used, used < outlen ? outlen - used : 0,
					 "%sbit %u%s%s%s", used ? ", " : "", b, name ? " (" : "",
					 name ? name : "", name ? ")" : "");
		if (used >= outlen)
			break;
	}
}

struct hdr_exts {
	char backing_fmt[32];
	bool has_data_file, has_crypto;
	uint8_t *features;
	size_t features_len;
};

static int parse_extensions(struct image *img, struct qcow2 *q, const uint8_t *h, size_t hlen,
			    size_t start, struct hdr_exts *x, struct err *e)
{
	size_t pos = start;

	while (pos + 8 <= hlen) {
		uint32_t type = get_be32(h + pos), len = get_be32(h + pos + 4);
		size_t padded = ((size_t)len + 7) & ~(size_t)7;

		if (type == QCOW2_EXT_END)
			return 0;
		if (len > hlen - pos - 8 || padded > hlen - pos - 8)
			return err_set(
				e, ERR_CORRUPT,
				"%s: header extension 0x%08x (%u bytes) runs past the header",
				img->name, type, len);
		const uint8_t *d = h + pos + 8;

		switch (type) {
		case QCOW2_EXT_BACKING_FMT:
			if (len == 0 || len >= sizeof(x->backing_fmt))
				return err_set(e, ERR_CORRUPT,
					       "%s: backing format extension of %u bytes",
					       img->name, len);
			memcpy(x->backing_fmt, d, len);
			x->backing_fmt[len] = '\0';
			break;
		case QCOW2_EXT_FEATURES:
			free(x->features);
			x->features = malloc(len ? len : 1);
			if (!x->features)
				return err_set(e, ERR_FAIL, "out of memory");
			memcpy(x->features, d, len);
			x->features_len = len;
			break;
		case QCOW2_EXT_DATA_FILE: x->has_data_file = true; break;
		case QCOW2_EXT_CRYPTO: x->has_crypto = true; break;
		default: break; /* bitmaps and unknown extensions do not change the data */
		}
		pos += 8 + padded;
	}
	(void)q;
	return 0;
}

static int check_header(struct image *img, struct qcow2 *q, const uint8_t *h, size_t hlen,
			struct hdr_exts *x, uint64_t *bf_off, uint32_t *bf_len, struct err *e)
{
	uint32_t hdr_len = 72, crypt;
	uint64_t l1_need, rt_bytes, snap_off;

	if (get_be32(h) != QCOW2_MAGIC)
		return err_set(e, ERR_CORRUPT, "%s: not a qcow2 image (bad magic)", img->name);
	q->version = get_be32(h + 4);
	if (q->version != 2 && q->version != 3)
		return err_set(e, ERR_UNSUPPORTED, "%s: qcow2 version %u is not supported",
			       img->name, q->version);
	*bf_off = get_be64(h + 8);
	*bf_len = get_be32(h + 16);
	q->cluster_bits = get_be32(h + 20);
	if (q->cluster_bits < 9 || q->cluster_bits > 21)
		return err_set(e, ERR_CORRUPT, "%s: cluster_bits %u is outside 9..21", img->name,
			       q->cluster_bits);
	q->cs = 1ull << q->cluster_bits;
	img->size = get_be64(h + 24);
	crypt = get_be32(h + 32);
	q->l1_size = get_be32(h + 36);
	q->l1_offset = get_be64(h + 40);
	q->rt_offset = get_be64(h + 48);
	q->rt_clusters = get_be32(h + 56);
	q->nb_snapshots = get_be32(h + 60);
	snap_off = get_be64(h + 64);
	q->refcount_order = 4;
	if (q->version == 3) {
		if (hlen < 104)
			return err_set(e, ERR_CORRUPT, "%s: v3 header truncated", img->name);
		q->incompat = get_be64(h + 72);
		q->autoclear = get_be64(h + 88);
		q->refcount_order = get_be32(h + 96);
		hdr_len = get_be32(h + 100);
		if (hdr_len < 104 || hdr_len > hlen)
			return err_set(e, ERR_CORRUPT, "%s: header_length %u is outside 104..%zu",
				       img->name, hdr_len, hlen);
	}
	if (parse_extensions(img, q, h, hlen, hdr_len, x, e) < 0)
		return -1;
	if (q->incompat & ~QCOW2_INCOMPAT_KNOWN) {
		char names[256];

		unknown_features(x->features, x->features_len, q->incompat & ~QCOW2_INCOMPAT_KNOWN,
				 names, sizeof(names));
		return err_set(e, ERR_UNSUPPORTED, "%s: unknown incompatible qcow2 features: %s",
			       img->name, names);
	}
	if (crypt || x->has_crypto)
		return err_set(e, ERR_UNSUPPORTED,
			       "%s: encrypted qcow2 images (crypt_method %u) are not supported",
			       img->name, crypt);
	if ((q->incompat & QCOW2_INCOMPAT_DATA_FILE) || x->has_data_file)
		return err_set(e, ERR_UNSUPPORTED,
			       "%s: qcow2 external data files are not supported", img->name);
	if (q->incompat & QCOW2_INCOMPAT_COMPRESSION) {
		uint8_t ct = hdr_len > 104 ? h[104] : 0;

		if (ct > 1)
			return err_set(e, ERR_UNSUPPORTED,
				       "%s: qcow2 compression_type %u is not supported", img->name,
				       ct);
		q->compression = ct;
	} else if (hdr_len > 104 && h[104]) {
		return err_set(e, ERR_CORRUPT,
			       "%s: compression_type %u set without its incompatible feature bit",
			       img->name, h[104]);
	}
	q->ext_l2 = !!(q->incompat & QCOW2_INCOMPAT_EXTL2);
	if (q->ext_l2 && q->cluster_bits < 14)
		return err_set(e, ERR_CORRUPT,
			       "%s: extended L2 entries need clusters of 16 KiB or more",
			       img->name);
	q->l2_bits = q->cluster_bits - (q->ext_l2 ? 4 : 3);
	q->sc_bits = q->ext_l2 ? q->cluster_bits - 5 : q->cluster_bits;
	if (q->refcount_order > 6)
		return err_set(e, ERR_CORRUPT, "%s: refcount_order %u is above 6", img->name,
			       q->refcount_order);
	if (img->size > MAX_SIZE)
		return err_set(e, ERR_CORRUPT, "%s: virtual size %llu is too large", img->name,
			       (unsigned long long)img->size);
	l1_need = (img->size + (q->cs << q->l2_bits) - 1) >> (q->cluster_bits + q->l2_bits);
	if (q->l1_size > MAX_L1_ENTRIES)
		return err_set(e, ERR_CORRUPT, "%s: l1_size %u is above the limit of %u entries",
			       img->name, q->l1_size, MAX_L1_ENTRIES);
	if (q->l1_size < l1_need)
		return err_set(e, ERR_CORRUPT,
			       "%s: l1_size %u is too small for the virtual size (needs %llu)",
			       img->name, q->l1_size, (unsigned long long)l1_need);
	if (q->l1_size && ((q->l1_offset & (q->cs - 1)) || q->l1_offset > q->file_size ||
			   q->file_size - q->l1_offset < (uint64_t)q->l1_size * 8))
		return err_set(e, ERR_CORRUPT, "%s: L1 table at %llu (%u entries) is %s", img->name,
			       (unsigned long long)q->l1_offset, q->l1_size,
			       (q->l1_offset & (q->cs - 1)) ? "not cluster aligned"
							    : "past the end of the file");
	if (q->l1_size && q->l1_offset < q->cs)
		return err_set(e, ERR_CORRUPT, "%s: L1 table at %llu overlaps the header",
			       img->name, (unsigned long long)q->l1_offset);
	rt_bytes = (uint64_t)q->rt_clusters << q->cluster_bits;
	if (q->rt_offset < q->cs)
		return err_set(e, ERR_CORRUPT, "%s: refcount table at %llu overlaps the header",
			       img->name, (unsigned long long)q->rt_offset);
	if (q->l1_size && q->l1_offset < q->rt_offset + rt_bytes &&
	    q->rt_offset < q->l1_offset + (uint64_t)q->l1_size * 8)
		return err_set(e, ERR_CORRUPT, "%s: L1 table overlaps the refcount table",
			       img->name);
	if (rt_bytes > QCOW2_MAX_RT_BYTES || (q->rt_offset & (q->cs - 1)) ||
	    q->rt_offset > q->file_size || q->file_size - q->rt_offset < rt_bytes)
		return err_set(e, ERR_CORRUPT,
			       "%s: refcount table at %llu (%u clusters) is misplaced or too large",
			       img->name, (unsigned long long)q->rt_offset, q->rt_clusters);
	if (q->nb_snapshots > MAX_SNAPSHOTS)
		return err_set(e, ERR_CORRUPT, "%s: nb_snapshots %u is above %u", img->name,
			       q->nb_snapshots, MAX_SNAPSHOTS);
	if (q->nb_snapshots && ((snap_off & (q->cs - 1)) || snap_off >= q->file_size))
		return err_set(e, ERR_CORRUPT, "%s: snapshot table at %llu is misplaced", img->name,
			       (unsigned long long)snap_off);
	if (*bf_off &&
	    (*bf_len == 0 || *bf_len > 1023 || *bf_off > q->cs || q->cs - *bf_off < *bf_len))
		return err_set(e, ERR_CORRUPT,
			       "%s: backing file name (offset %llu, %u bytes) is outside the first "
			       "cluster or longer than 1023 bytes",
			       img->name, (unsigned long long)*bf_off, *bf_len);
	return 0;
}

static int open_backing(struct image *img, const uint8_t *h, size_t hlen, uint64_t bf_off,
			uint32_t bf_len, const char *fmtname, struct err *e)
{
	enum image_format bfmt = IMAGE_UNKNOWN;
	char name[1024];

	if (bf_off + bf_len > hlen)
		return err_set(e, ERR_CORRUPT, "%s: backing file name is past the end of the file",
			       img->name);
	memcpy(name, h + bf_off, bf_len);
	name[bf_len] = '\0';
	if (strlen(name) != bf_len)
		return err_set(e, ERR_CORRUPT, "%s: backing file name contains a NUL byte",
			       img->name);
	if (fmtname[0]) {
		bfmt = image_format_from_name(fmtname);
		if (bfmt == IMAGE_UNKNOWN)
			return err_set(e, ERR_UNSUPPORTED,
				       "%s: backing format '%s' is not supported", img->name,
				       fmtname);
	}
	/* errors below name the image they are about; wrapping at every level of a long
	 * chain would push the cause out of the message */
	return image_open_backing(img, name, bfmt, &img->backing, e);
}

int qcow2_open(struct image *img, struct err *e)
{
	struct hdr_exts x = {{0}, false, false, NULL, 0};
	struct qcow2 *q = calloc(1, sizeof(*q));
	uint8_t *h = NULL;
	size_t hlen;
	uint64_t bf_off = 0;
	uint32_t bf_len = 0;
	int rc = -1;

	if (!q)
		return err_set(e, ERR_FAIL, "out of memory");
	img->ops = &qcow2_ops;
	img->priv = q;
	if (pthread_mutex_init(&q->lock, NULL) != 0)
		return err_set(e, ERR_FAIL, "cannot create a lock");
	q->lock_init = true;
	if (image_file_size(img, img->fd, &q->file_size, e) < 0)
		return -1;
	if (q->file_size < 72)
		return err_set(e, ERR_CORRUPT, "%s: qcow2 header truncated (%llu bytes)", img->name,
			       (unsigned long long)q->file_size);
	/* the header, its extensions and the backing name all live in the first cluster */
	h = malloc(1u << 21);
	if (!h)
		return err_set(e, ERR_FAIL, "out of memory");
	if (image_read_exact(img, img->fd, h, 72, 0, "header", e) < 0)
		goto out;
	{
		uint32_t cb = get_be32(h + 20);

		hlen = (cb >= 9 && cb <= 21) ? (size_t)1 << cb : 72;
		if (hlen > q->file_size)
			hlen = (size_t)q->file_size;
	}
	if (image_read_exact(img, img->fd, h, hlen, 0, "header", e) < 0)
		goto out;
	if (check_header(img, q, h, hlen, &x, &bf_off, &bf_len, e) < 0)
		goto out;
	if (q->l1_size) {
		q->l1 = malloc((size_t)q->l1_size * 8);
		if (!q->l1) {
			err_set(e, ERR_FAIL, "out of memory");
			goto out;
		}
		if (image_read_exact(img, img->fd, q->l1, (size_t)q->l1_size * 8, q->l1_offset,
				     "L1 table", e) < 0)
			goto out;
		for (uint32_t i = 0; i < q->l1_size; i++)
			q->l1[i] = get_be64(&q->l1[i]);
	}
	if (qcow2_l2cache_init(&q->l2c, q->cs, q->l1_size, img->ctx.l2_cache_bytes, e) < 0)
		goto out;
	snprintf(img->subformat, sizeof(img->subformat), "v%u, %llu KiB clusters%s%s", q->version,
		 (unsigned long long)(q->cs >> 10), q->ext_l2 ? ", extended L2" : "",
		 q->compression ? ", zstd" : "");
	if (bf_off && open_backing(img, h, hlen, bf_off, bf_len, x.backing_fmt, e) < 0)
		goto out;
	if (img->ctx.writable && qcow2_write_init(img, e) < 0)
		goto out;
	rc = 0;
out:
	free(x.features);
	free(h);
	return rc;
}
