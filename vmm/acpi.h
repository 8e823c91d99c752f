/* ACPI: the tables a guest needs to find its CPUs, interrupt controllers and PCI bus (RSDP,
 * XSDT, FADT, DSDT with \_S5 and the PCI host bridge (vmm/acpi_dsdt.c), MADT), and the PM1
 * register block behind the FADT (power button, soft power-off). */
#ifndef ENVUP_VMM_ACPI_H
#define ENVUP_VMM_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct vm;

struct acpi_pm {
	struct vm *vm;
	uint16_t sts, en, cnt;
	int sci_level;
};

/* Where the RSDP is (fixed, inside the BIOS area that guests scan). */
uint64_t acpi_rsdp_addr(void);

/* What the tables describe. */
struct acpi_config {
	unsigned ncpus;
	uint32_t pci_mmio_lo, pci_mmio_hi; /* the BAR window, inclusive */
	const uint8_t *slot_irq;	   /* PCI_SLOTS entries: the IRQ of each slot's INTA# */
	bool rtc;			   /* a CMOS RTC is present (vmm/cmos.c) */
};

#define ACPI_TABLES_MAX 0x2000

/* A pointer field to relocate: size bytes at off, in the RSDP or in the tables blob, holding
 * an address inside the tables blob. */
struct acpi_ptr {
	bool in_rsdp;
	uint32_t off;
	uint8_t size;
};

struct acpi_span {
	uint32_t off, len;
};

/* The tables as two blobs, the RSDP (ACPI 2: 36 bytes) and the rest, with what a loader must
 * patch when it places them (firmware's table loader, vmm/acpi_loader.c). */
struct acpi_blobs {
	uint8_t rsdp[36];
	uint8_t *tables; /* ACPI_TABLES_MAX bytes, the caller's */
	uint32_t len;	 /* bytes of tables used */
	struct acpi_ptr ptr[12];
	unsigned nptr;
	struct acpi_span table[5]; /* each table (its checksum at byte 9); FACS has none */
	unsigned ntables;
};

/* Builds the tables as if the tables blob were placed at guest address base. */
int acpi_tables(const struct acpi_config *c, uint64_t base, struct acpi_blobs *b, struct err *e);

/* Writes the tables for vm's vCPU count into guest RAM at LAYOUT_ACPI (direct boot). */
int acpi_build(struct vm *vm, struct err *e);

/* Claims the PM1a event and control ports; S5 (SLP_EN) ends the VM with status 0. */
int acpi_pm_init(struct acpi_pm *pm, struct vm *vm, struct err *e);

/* Presses the power button: true when the guest enabled its event (so it will see it). */
bool acpi_pm_power_button(struct acpi_pm *pm);

#endif
