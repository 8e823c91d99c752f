/* envvmm's ACPI tables for firmware boot: the same tables as direct boot, handed to the
 * firmware through fw_cfg as QEMU does ("etc/acpi/rsdp", "etc/acpi/tables" and the
 * "etc/table-loader" script that tells it where to place them, which pointers to relocate
 * and which checksums to fix), so that the guest OS sees envvmm's MADT, FADT and DSDT. */
#ifndef ENVUP_VMM_ACPI_LOADER_H
#define ENVUP_VMM_ACPI_LOADER_H

#include "core/err.h"
#include "vmm/acpi.h"
#include "vmm/fw_cfg.h"

#define ACPI_LOADER_ENTRY 128

/* Builds the tables for c and adds the three files to f. */
int acpi_loader_add(struct fw_cfg *f, const struct acpi_config *c, struct err *e);

#endif
