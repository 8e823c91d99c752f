/* A bounded cache of whole qcow2 L2 tables, keyed by the table's host offset, least recently
 * used out first. One per open qcow2 handle (each level of a backing chain has its own), with
 * its own lock so that several threads may read one image at once. The writer tells it about
 * every L2 write, so a cached table never differs from the file. */
#ifndef ENVUP_BOXES_QCOW2_L2CACHE_H
#define ENVUP_BOXES_QCOW2_L2CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Bytes of L2 tables cached per handle by default: 1 MiB maps 8 GiB of a 64 KiB-cluster
 * image (QEMU's l2-cache-size default outside Linux). */
#define QCOW2_L2CACHE_BYTES (1u << 20)
#define QCOW2_L2CACHE_MIN_SLOTS 2
#define QCOW2_L2CACHE_MAX_SLOTS 128

struct qcow2_l2slot {
	uint64_t off;  /* host offset of the table; 0: empty (offset 0 is the header) */
	uint64_t used; /* tick of the last use */
	uint8_t *buf;  /* the table as stored (big-endian), allocated on first use */
};

struct qcow2_l2cache {
	pthread_mutex_t lock;
	bool lock_init;
	size_t table_bytes;
	unsigned nslots;
	unsigned last; /* slot of the last hit: sequential access checks it first */
	uint64_t tick;
	uint64_t hits, misses;
	struct qcow2_l2slot *slot;
};

struct image;

/* Prepares a cache of tables of table_bytes each, holding at most enough tables for
 * QCOW2_L2CACHE_BYTES (clamped to 2..128) and never more than ntables. */
int qcow2_l2cache_init(struct qcow2_l2cache *c, size_t table_bytes, uint64_t ntables,
		       struct err *e);

/* Copies len bytes at byte pos of the L2 table at host offset l2off into out, reading the
 * whole table from img's file on a miss (the caller has checked that it lies in the file). */
int qcow2_l2cache_read(struct qcow2_l2cache *c, struct image *img, uint64_t l2off, size_t pos,
		       size_t len, uint8_t *out, struct err *e);

/* Records that len bytes of data were written at byte pos of the L2 table at l2off: a cached
 * copy takes them when ok, and is dropped when the write failed (its bytes are unknown). */
void qcow2_l2cache_written(struct qcow2_l2cache *c, uint64_t l2off, size_t pos, const uint8_t *data,
			   size_t len, bool ok);

/* Frees the tables and the lock. */
void qcow2_l2cache_free(struct qcow2_l2cache *c);

#endif
