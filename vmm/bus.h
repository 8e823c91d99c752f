/* Port-I/O and MMIO trap registry: one range per device, looked up on each exit. */
#ifndef ENVUP_VMM_BUS_H
#define ENVUP_VMM_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* A device access: off is relative to the range base; data holds len (1..8) bytes. */
typedef void (*bus_fn)(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_fn fn;
	void *opaque;
};

struct bus {
	struct bus_range *r;
	size_t n, cap;
};

/* Claims [base, base+len) for fn; overlapping an existing range is an error. */
int bus_add(struct bus *b, uint64_t base, uint64_t len, bus_fn fn, void *opaque, struct err *e);

/* Calls the owner of addr; false (reads filled with 0xff) when no device claims it. */
bool bus_dispatch(const struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool write);

/* Frees the table. */
void bus_free(struct bus *b);

#endif
