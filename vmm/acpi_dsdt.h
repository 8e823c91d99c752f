/* The DSDT's definition block (AML), built at start-up. */
#ifndef ENVUP_VMM_ACPI_DSDT_H
#define ENVUP_VMM_ACPI_DSDT_H

#include <stddef.h>
#include <stdint.h>

/* Writes the AML that follows the DSDT header into out (at most cap bytes): \_S5 and the PCI
 * host bridge \_SB.PCI0. Returns its length, or 0 when cap is too small. */
size_t acpi_dsdt_aml(uint8_t *out, size_t cap);

/* The same for a BAR window [lo, hi] and slot_irq[PCI_SLOTS] (slot s's INTA# to that IRQ). */
size_t acpi_dsdt_aml_for(uint8_t *out, size_t cap, uint32_t lo, uint32_t hi,
			 const uint8_t *slot_irq);

#endif
