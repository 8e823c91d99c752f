/* The Intel MultiProcessor Specification 1.4 table, for guests that do not use ACPI
 * (acpi=off, older kernels): processors, buses, the IOAPIC and interrupt routing, including
 * the INTA# line of every PCI device. */
#ifndef ENVUP_VMM_MPTABLE_H
#define ENVUP_VMM_MPTABLE_H

#include "core/err.h"

struct vm;
struct pci;

/* Writes the floating pointer and configuration table (after the PCI devices are added). */
int mptable_build(struct vm *vm, const struct pci *pci, struct err *e);

#endif
