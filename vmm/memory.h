/* Guest RAM and the one accessor through which the VMM reaches it. */
#ifndef ENVUP_VMM_MEMORY_H
#define ENVUP_VMM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct gm_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct guest_mem {
	struct gm_region r[2]; /* below the MMIO hole, and above 4 GiB */
	unsigned n;
	uint64_t total;
};

enum e820_type { E820_RAM = 1, E820_RESERVED = 2, E820_ACPI = 3 };

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

#define GM_E820_MAX 8

/* Maps bytes of RAM (multiple of 1 MiB, >= 2 MiB), lazily: untouched pages cost nothing. */
int gm_init(struct guest_mem *m, uint64_t bytes, struct err *e);

/* Unmaps the RAM; a zeroed struct is fine. */
void gm_free(struct guest_mem *m);

/* The host address of [gpa, gpa+len) when all of it is guest RAM in one region, else NULL.
 * Every guest address the VMM touches goes through here. */
void *gm_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Copies out of guest RAM; -1 when any byte is outside it. */
int gm_read(const struct guest_mem *m, uint64_t gpa, void *buf, uint64_t len);

/* Copies into guest RAM; -1 when any byte is outside it. */
int gm_write(const struct guest_mem *m, uint64_t gpa, const void *buf, uint64_t len);

/* Fills out (max entries) with the e820 map of this machine; returns the count. */
unsigned gm_e820(const struct guest_mem *m, struct e820_entry *out, unsigned max);

/* Bytes of guest RAM resident in the host (pages the guest or the loader touched). */
uint64_t gm_resident(const struct guest_mem *m);

/* The end of RAM below the MMIO hole. */
uint64_t gm_low_end(const struct guest_mem *m);

#endif
