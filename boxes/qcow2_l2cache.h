/* A bounded cache of whole qcow2 L2 tables, keyed by the table's host offset, least recently
 * used out first. One per open qcow2 handle (each level of a backing chain has its own), with
 * its own lock so that several threads may read one image at once. For the writer it is a
 * write-back cache: updated tables stay dirty in memory until the writer writes them all
 * back (flush) or a dirty slot is reused, which goes through the writer's writeback hook so
 * that the writer can first make what the table points at durable. */
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
	bool dirty;    /* changed in memory, not yet written to the file */
	uint8_t *buf;  /* the table as stored (big-endian), allocated on first use */
};

struct image;

/* Writes a dirty table (table_bytes at host offset off) to the file. */
typedef int (*qcow2_l2_writeback_fn)(struct image *img, uint64_t off, const uint8_t *buf,
				     struct err *e);

struct qcow2_l2cache {
	pthread_mutex_t lock;
	bool lock_init;
	size_t table_bytes;
	unsigned nslots;
	unsigned last; /* slot of the last hit: sequential access checks it first */
	uint64_t tick;
	unsigned ndirty;
	qcow2_l2_writeback_fn writeback; /* set by the writer; NULL: never dirty */
	struct qcow2_l2slot *slot;
};

/* Prepares a cache of tables of table_bytes each, holding at most enough tables for bytes
 * (0: QCOW2_L2CACHE_BYTES; clamped to 2..128 tables) and never more than ntables. */
int qcow2_l2cache_init(struct qcow2_l2cache *c, size_t table_bytes, uint64_t ntables,
		       size_t bytes, struct err *e);

/* Copies len bytes at byte pos of the L2 table at host offset l2off into out, reading the
 * whole table from img's file on a miss (the caller has checked that it lies in the file). */
int qcow2_l2cache_read(struct qcow2_l2cache *c, struct image *img, uint64_t l2off, size_t pos,
		       size_t len, uint8_t *out, struct err *e);

/* Writer: copies len bytes of data to byte pos of the table at l2off and marks it dirty.
 * fresh: the table is new (all zeros; nothing is read from the file). */
int qcow2_l2cache_store(struct qcow2_l2cache *c, struct image *img, uint64_t l2off, size_t pos,
			const uint8_t *data, size_t len, bool fresh, struct err *e);

/* Writer: writes every dirty table back through the writeback hook. */
int qcow2_l2cache_write_dirty(struct qcow2_l2cache *c, struct image *img, struct err *e);

/* Frees the tables and the lock. */
void qcow2_l2cache_free(struct qcow2_l2cache *c);

#endif
