/* CMOS/RTC (MC146818 at ports 0x70/0x71): the wall clock (the host's, in UTC, plus whatever
 * offset the guest sets), status registers A-D, and the PC's CMOS bytes that firmware reads:
 * memory sizes and the CPU count. No alarm or periodic interrupts (IRQ 8 is never raised). */
#ifndef ENVUP_VMM_CMOS_H
#define ENVUP_VMM_CMOS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/err.h"

struct vm;

struct cmos {
	uint8_t index;
	uint8_t ram[128];
	int64_t offset_s;    /* guest clock minus host clock, set when the guest writes the time */
	time_t (*now)(void); /* the host clock (the unit tests pass a fixed one) */
};

/* Fills the registers for a machine of ram_low bytes below the 4 GiB hole, ram_high bytes
 * above 4 GiB and ncpus vCPUs; claims the ports when vm is not NULL. */
int cmos_init(struct cmos *c, struct vm *vm, uint64_t ram_low, uint64_t ram_high, unsigned ncpus,
	      struct err *e);

/* The port handler: off 0 is the index register (bit 7: NMI disable), 1 the data. */
void cmos_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write);

#endif
