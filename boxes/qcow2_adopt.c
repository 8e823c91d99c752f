/* Whether a box's qcow2 disk may become the store's base.qcow2 as it is, without conversion.
 * The reader (boxes/qcow2.c) already bounds the header and checks each entry it follows; here
 * every L1, L2 and refcount entry of the whole file is walked once, so that an adopted image
 * holds no cluster outside the file, no cluster used twice (data on metadata, two tables on
 * one cluster) and refcounts that match the references exactly (qemu-img check finds nothing).
 * Anything that is not such a plain standalone image is converted instead, which keeps every
 * rule of the reader and writes a fresh image. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxes/qcow2_impl.h"
#include "core/fsutil.h"

/* One byte of reference count per host cluster: 256 MiB of counts at most. */
#define MAX_CHECK_CLUSTERS (1ull << 28)

/* L1 entry bits 1-8 and 56-62, and standard L2 entry bits 1-8 and 56-61, are reserved. */
#define L1_RESERVED 0x7f000000000001feull
#define L2_RESERVED 0x3f000000000001feull
#define RT_RESERVED 0x1ffull

struct walk {
	struct image *img;
	struct qcow2 *q;
	uint8_t *refs; /* references counted per host cluster */
	uint64_t nclusters;
	uint8_t *buf; /* one cluster */
	struct err *why;
};

/* Counts one reference to each cluster of [off, off+len): refused past the end of the file
 * and for a cluster something else already uses. */
static int take(struct walk *w, uint64_t off, uint64_t len, const char *what)
{
	uint64_t first = off >> w->q->cluster_bits, last;

	if (!len)
		return 0;
	last = (off + len - 1) >> w->q->cluster_bits;
	if (off & (w->q->cs - 1))
		return err_set(w->why, ERR_CORRUPT, "%s at %llu is not cluster aligned", what,
			       (unsigned long long)off);
	for (uint64_t c = first; c <= last; c++) {
		if (c >= w->nclusters)
			return err_set(w->why, ERR_CORRUPT,
				       "%s at %llu is past the end of the file", what,
				       (unsigned long long)off);
		if (w->refs[c])
			return err_set(w->why, ERR_CORRUPT,
				       "%s at %llu uses host cluster %llu, which is already used",
				       what, (unsigned long long)off, (unsigned long long)c);
		w->refs[c] = 1;
	}
	return 0;
}

static int read_cluster(struct walk *w, uint64_t off, const char *what)
{
	return image_read_exact(w->img, w->img->fd, w->buf, w->q->cs, off, what, w->why);
}

static int walk_l2(struct walk *w, uint64_t l1i, uint64_t l2off)
{
	uint64_t n = w->q->cs / 8;

	if (read_cluster(w, l2off, "L2 table") < 0)
		return -1;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t entry = get_be64(w->buf + i * 8), host = entry & QCOW2_OFFSET_MASK;
		uint64_t guest = (l1i * n + i) << w->q->cluster_bits;

		if (entry & QCOW2_COMPRESSED)
			return err_set(w->why, ERR_UNSUPPORTED, "it has compressed clusters");
		if (entry & L2_RESERVED)
			return err_set(w->why, ERR_CORRUPT,
				       "the L2 entry for guest offset %llu has reserved bits set",
				       (unsigned long long)guest);
		if (!host)
			continue;
		if (!(entry & QCOW2_COPIED))
			return err_set(w->why, ERR_CORRUPT,
				       "the cluster for guest offset %llu is not marked COPIED",
				       (unsigned long long)guest);
		if (take(w, host, w->q->cs, "a data cluster") < 0)
			return -1;
	}
	return 0;
}

static int walk_tables(struct walk *w)
{
	struct qcow2 *q = w->q;

	if (take(w, 0, q->cs, "the header") < 0 ||
	    take(w, q->l1_offset, (uint64_t)q->l1_size * 8, "the L1 table") < 0 ||
	    take(w, q->rt_offset, (uint64_t)q->rt_clusters << q->cluster_bits,
		 "the refcount table") < 0)
		return -1;
	for (uint32_t i = 0; i < q->l1_size; i++) {
		uint64_t entry = q->l1[i], l2off = entry & QCOW2_OFFSET_MASK;

		if (entry & L1_RESERVED)
			return err_set(w->why, ERR_CORRUPT, "L1 entry %u has reserved bits set", i);
		if (!l2off)
			continue;
		if (!(entry & QCOW2_COPIED))
			return err_set(w->why, ERR_CORRUPT, "L2 table %u is not marked COPIED", i);
		/* taken before it is read: no table is read twice, so the walk reads no more
		 * than the file holds */
		if (take(w, l2off, q->cs, "an L2 table") < 0 || walk_l2(w, i, l2off) < 0)
			return -1;
	}
	return 0;
}

/* The refcount of entry idx of a refcount block (refcount_order 0..6, as the spec packs
 * them: sub-byte widths from the least significant bit, wider ones big-endian). */
static uint64_t refcount_at(const uint8_t *block, unsigned order, uint64_t idx)
{
	unsigned bits = 1u << order;

	switch (order) {
	case 0:
	case 1:
	case 2: {
		uint64_t bit = idx * bits;

		return (uint64_t)(block[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
	}
	case 3: return block[idx];
	case 4: return get_be16(block + idx * 2);
	case 5: return get_be32(block + idx * 4);
	default: return get_be64(block + idx * 8);
	}
}

static int compare_refcounts(struct walk *w, const uint8_t *rt, uint64_t rt_entries)
{
	struct qcow2 *q = w->q;
	uint64_t per_block = (q->cs * 8) >> q->refcount_order, covered = 0;
	uint64_t *blocks = calloc(rt_entries ? rt_entries : 1, sizeof(*blocks));

	if (!blocks)
		return err_set(w->why, ERR_FAIL, "out of memory");
	/* every refcount block is itself a cluster in use, so all are taken before counts are
	 * compared */
	for (uint64_t i = 0; i < rt_entries; i++) {
		uint64_t entry = get_be64(rt + i * 8);

		if (entry & RT_RESERVED) {
			free(blocks);
			return err_set(w->why, ERR_CORRUPT,
				       "refcount table entry %llu has reserved bits set",
				       (unsigned long long)i);
		}
		blocks[i] = entry;
		if (entry && take(w, entry, q->cs, "a refcount block") < 0) {
			free(blocks);
			return -1;
		}
	}
	for (uint64_t i = 0; i < rt_entries && covered < w->nclusters; i++) {
		uint64_t base = i * per_block;

		if (blocks[i] && read_cluster(w, blocks[i], "refcount block") < 0)
			break;
		for (uint64_t j = 0; j < per_block; j++) {
			uint64_t c = base + j;
			uint64_t want = c < w->nclusters ? w->refs[c] : 0;
			uint64_t have = blocks[i] ? refcount_at(w->buf, q->refcount_order, j) : 0;

			if (have != want) {
				free(blocks);
				return err_set(w->why, ERR_CORRUPT,
					       "host cluster %llu has refcount %llu but %llu "
					       "reference%s",
					       (unsigned long long)c, (unsigned long long)have,
					       (unsigned long long)want, want == 1 ? "" : "s");
			}
		}
		covered = base + per_block;
	}
	free(blocks);
	if (w->why->code != ERR_OK)
		return -1;
	if (covered < w->nclusters)
		return err_set(w->why, ERR_CORRUPT,
			       "the refcount table does not cover host cluster %llu",
			       (unsigned long long)covered);
	return 0;
}

/* The header fields that make an image something other than one plain standalone disk. */
static int plain_header(const struct qcow2 *q, struct err *why)
{
	if (q->nb_snapshots)
		return err_set(why, ERR_UNSUPPORTED, "it has internal snapshots");
	if (q->incompat & (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT))
		return err_set(why, ERR_CORRUPT, "it is marked dirty or corrupt");
	if (q->incompat)
		return err_set(why, ERR_UNSUPPORTED, "it uses incompatible features 0x%llx",
			       (unsigned long long)q->incompat);
	if (q->autoclear)
		return err_set(why, ERR_UNSUPPORTED,
			       "it carries autoclear features 0x%llx (bitmaps)",
			       (unsigned long long)q->autoclear);
	return 0;
}

bool image_qcow2_adoptable(const char *path, uint64_t max_size, struct err *why)
{
	struct image_open_opts oo = {.follow_refs = false};
	struct walk w = {.why = why};
	struct image_file_id id;
	struct image *img = NULL;
	struct stat st;
	uint8_t *rt = NULL;
	uint64_t rt_bytes;
	bool ok = false;

	err_clear(why);
	/* the name itself must be the one file renamed into place: no link, no second name */
	if (lstat(path, &st) < 0) {
		err_sys(why, "cannot stat %s", path);
		return false;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		err_set(why, ERR_UNSUPPORTED, "it is not a plain file with one name");
		return false;
	}
	/* a backing file (refused by the reader here) is a reason to convert, not an error */
	{
		int fd = fs_open_input(path, true, why);
		uint8_t h[16];

		if (fd < 0)
			return false;
		if (pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
		    get_be32(h) == QCOW2_MAGIC && get_be64(h + 8)) {
			close(fd);
			err_set(why, ERR_UNSUPPORTED, "it has a backing file");
			return false;
		}
		close(fd);
	}
	if (image_open(path, IMAGE_QCOW2, &oo, &img, why) < 0)
		goto out;
	if (image_file_ids(img, &id, 1) != 1 || id.dev != st.st_dev || id.ino != st.st_ino) {
		err_set(why, ERR_FAIL, "%s changed while it was checked", path);
		goto out;
	}
	w.img = img;
	w.q = img->priv;
	if (plain_header(w.q, why) < 0)
		goto out;
	if (img->size > max_size) {
		err_set(why, ERR_UNSUPPORTED, "its virtual size of %llu bytes is over %llu",
			(unsigned long long)img->size, (unsigned long long)max_size);
		goto out;
	}
	w.nclusters = (w.q->file_size + w.q->cs - 1) >> w.q->cluster_bits;
	if (w.nclusters > MAX_CHECK_CLUSTERS) {
		err_set(why, ERR_UNSUPPORTED, "it has too many clusters to check (%llu)",
			(unsigned long long)w.nclusters);
		goto out;
	}
	rt_bytes = (uint64_t)w.q->rt_clusters << w.q->cluster_bits; /* bounded by the reader */
	w.refs = calloc(w.nclusters ? w.nclusters : 1, 1);
	w.buf = malloc(w.q->cs);
	rt = malloc(rt_bytes ? rt_bytes : 1);
	if (!w.refs || !w.buf || !rt) {
		err_set(why, ERR_FAIL, "out of memory");
		goto out;
	}
	if (image_read_exact(img, img->fd, rt, rt_bytes, w.q->rt_offset, "refcount table", why) <
		    0 ||
	    walk_tables(&w) < 0 || compare_refcounts(&w, rt, rt_bytes / 8) < 0)
		goto out;
	ok = true;
out:
	if (!ok && why->msg[0] == '\0')
		err_set(why, ERR_FAIL, "not checked");
	image_close(img);
	free(w.refs);
	free(w.buf);
	free(rt);
	return ok;
}
