/* qcow2 state shared by the reader (boxes/qcow2.c) and the writer (boxes/qcow2_write.c). */
#ifndef ENVUP_BOXES_QCOW2_IMPL_H
#define ENVUP_BOXES_QCOW2_IMPL_H

#include <pthread.h>

#include "boxes/image_impl.h"
#include "boxes/qcow2_l2cache.h"

#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ull
#define QCOW2_COPIED (1ull << 63)
#define QCOW2_COMPRESSED (1ull << 62)
#define QCOW2_ZERO 1ull

#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)
#define QCOW2_INCOMPAT_KNOWN 0x1full

/* Largest refcount table the reader accepts and the writer grows to. */
#define QCOW2_MAX_RT_BYTES (8u << 20)

#define QCOW2_EXT_END 0
#define QCOW2_EXT_BACKING_FMT 0xe2792acau
#define QCOW2_EXT_FEATURES 0x6803f857u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_CRYPTO 0x0537be77u
#define QCOW2_EXT_DATA_FILE 0x44415441u

/* What a run of guest bytes maps to. */
enum qcow2_kind { Q_DATA, Q_ZERO, Q_UNALLOC, Q_COMPRESSED };

struct qcow2 {
	uint32_t version;
	unsigned cluster_bits;
	uint64_t cs;	  /* cluster size */
	unsigned l2_bits; /* log2 of entries per L2 table */
	bool ext_l2;
	unsigned sc_bits; /* log2 of the subcluster size (cluster_bits without ext_l2) */
	int compression;  /* 0 zlib, 1 zstd */
	uint64_t file_size;
	uint64_t l1_offset;
	uint32_t l1_size;
	uint64_t *l1;
	uint64_t rt_offset;
	uint32_t rt_clusters;
	unsigned refcount_order;
	uint32_t nb_snapshots;
	uint64_t incompat;
	uint64_t autoclear;
	struct qcow2_l2cache l2c; /* L2 tables, shared by reader and writer */
	/* writer */
	pthread_mutex_t lock;
	bool lock_init;
	uint64_t *rt; /* refcount table (writable only) */
	uint64_t rt_entries;
	uint64_t next_free; /* next cluster index to allocate */
	uint8_t *cbuf;	    /* one cluster of scratch (writer) */
	/* write-back state: clusters [rc_pend, rc_pend + rc_pend_n) are allocated but their
	 * refcounts are not written yet (allocation only appends, so they are contiguous and end
	 * at next_free); L1 entries [l1_dirty_lo, l1_dirty_hi) changed in memory only; unsynced:
	 * data or refcounts written since the last fdatasync */
	uint64_t rc_pend, rc_pend_n;
	uint64_t l1_dirty_lo, l1_dirty_hi;
	bool unsynced;
};

/* The layout of a new image: cluster size and extended L2 entries (32 subclusters per
 * cluster, so that a small write into an overlay does not copy a whole cluster). */
struct qcow2_layout {
	unsigned cluster_bits;
	bool ext_l2;
};
/* Box base images: 64 KiB clusters, plain L2 (any qcow2 v3 reader opens them). */
#define QCOW2_LAYOUT_BASE ((struct qcow2_layout){16, false})
/* Machine disks and overlays: 128 KiB clusters of 4 KiB subclusters (QEMU 5.2 and later). */
#define QCOW2_LAYOUT_DISK ((struct qcow2_layout){17, true})

/* Writes a new qcow2 v3 image of size bytes into the empty file fd (named name in errors). */
int qcow2_create_fd(int fd, const char *name, uint64_t size, const char *backing,
		    const char *backing_fmt, struct qcow2_layout layout, struct err *e);

/* The mapping of the run at guest offset off (at most len bytes, within one L2 table):
 * kind, host offset of off (Q_DATA) or the raw L2 entry (Q_COMPRESSED), run length,
 * and whether the cluster has the COPIED flag. With coarse set by the caller, only the kind
 * matters: compressed clusters count as data and runs need not be contiguous on the host. */
struct qcow2_map {
	bool coarse;
	enum qcow2_kind kind;
	uint64_t host;
	uint64_t entry;
	uint64_t len;
	bool copied;
};
int qcow2_map(struct image *img, uint64_t off, uint64_t len, struct qcow2_map *m, struct err *e);

/* Where a compressed L2 entry's data lies: host byte offset and the number of 512-byte
 * sectors it spans (the first counted from the sector holding the offset). */
static inline void qcow2_compressed_extent(const struct qcow2 *q, uint64_t entry, uint64_t *off,
					   uint64_t *nsec)
{
	unsigned x = 62 - (q->cluster_bits - 8);

	*off = entry & ((1ull << x) - 1);
	*nsec = ((entry >> x) & ((1ull << (q->cluster_bits - 8)) - 1)) + 1;
}

/* Decompresses the cluster the compressed L2 entry describes into out (one cluster). */
int qcow2_read_compressed(struct image *img, struct qcow2 *q, uint64_t entry, uint8_t *out,
			  struct err *e);


/* Writer: prepares an image opened writable (checks, loads the refcount table). */
int qcow2_write_init(struct image *img, struct err *e);
/* Writer: image_pwrite for qcow2. */
int qcow2_pwrite(struct image *img, const void *buf, size_t len, uint64_t off, struct err *e);
/* Writer: writes cached metadata back (refcounts, fdatasync, L2 tables, L1); image_flush
 * then syncs. Called with q->lock held. */
int qcow2_write_back(struct image *img, struct err *e);
/* Writer: writes cached metadata back (errors are lost: callers wanting them flush first) and
 * frees what qcow2_write_init allocated. */
void qcow2_write_free(struct image *img);

#endif
