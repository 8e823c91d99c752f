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

/* Writes the tables for vm's vCPU count into guest RAM. */
int acpi_build(struct vm *vm, struct err *e);

/* Claims the PM1a event and control ports; S5 (SLP_EN) ends the VM with status 0. */
int acpi_pm_init(struct acpi_pm *pm, struct vm *vm, struct err *e);

/* Presses the power button: true when the guest enabled its event (so it will see it). */
bool acpi_pm_power_button(struct acpi_pm *pm);

#endif
