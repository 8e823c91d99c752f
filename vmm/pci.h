/* PCI bus 0 behind configuration mechanism #1 (ports 0xcf8/0xcfc): a host bridge and the
 * devices envvmm adds, with 32-bit memory BARs placed in the MMIO hole. */
#ifndef ENVUP_VMM_PCI_H
#define ENVUP_VMM_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "vmm/bus.h"

struct vm;

#define PCI_SLOTS 32
#define PCI_CFG_SIZE 256
#define PCI_CMD_IO 0x1
#define PCI_CMD_MEM 0x2
#define PCI_CMD_MASTER 0x4

struct pci_bar {
	uint32_t size; /* 0: unused; else a power of two >= 4 KiB */
	uint32_t addr; /* as programmed by the guest */
	bus_fn fn;
	void *opaque;
};

struct pci_dev {
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* bits the guest may change (BARs handled apart) */
	struct pci_bar bar[6];
	uint8_t cap_end; /* where the next capability goes */
	unsigned slot;
	unsigned irq; /* INTA# routed to this IOAPIC input */
	/* Called after the guest wrote [off, off+len) of configuration space. */
	void (*cfg_written)(struct pci_dev *d, unsigned off, unsigned len);
	/* Called before the guest reads [off, off+len) (to refresh a window register). */
	void (*cfg_reading)(struct pci_dev *d, unsigned off, unsigned len);
	void *owner;
	struct pci *bus; /* set by pci_add */
};

struct pci {
	struct vm *vm;
	uint32_t addr; /* the 0xcf8 register */
	struct pci_dev bridge;
	struct pci_dev *dev[PCI_SLOTS];
	uint32_t mmio_base, next_mmio; /* the BAR window: [mmio_base, LAYOUT_PCI_MMIO_END) */
	uint8_t slot_irq[PCI_SLOTS];	/* the IRQ each slot's INTA# reaches (ACPI _PRT) */
	/* When set, INTx goes through this (a chipset's interrupt router) instead of straight
	 * to the device's IRQ. */
	void (*intx)(void *opaque, struct pci_dev *d, int level);
	void *intx_opaque;
};

/* Claims the configuration ports and the BAR window; puts the host bridge in slot 0. */
int pci_init(struct pci *p, struct vm *vm, struct err *e);

/* The same with the BAR window starting at mmio_base (firmware places BARs anywhere in the
 * hole above RAM). */
int pci_init_at(struct pci *p, struct vm *vm, uint32_t mmio_base, struct err *e);

/* Drives the device's INTA# line to level. */
void pci_intx(struct vm *vm, struct pci_dev *d, int level);

/* The IOAPIC inputs (= ISA IRQs, free of ISA devices) that INTA# lines drive, in turn by
 * slot: level, active high. */
#define PCI_NINTX 4
extern const unsigned pci_intx_irqs[PCI_NINTX];
/* The one slot's INTA# drives. */
unsigned pci_slot_irq(unsigned slot);

/* Fills the header of a type-0 function. */
void pci_dev_init(struct pci_dev *d, uint16_t vendor, uint16_t device, uint32_t class_rev,
		  uint16_t subsys_vendor, uint16_t subsys);

/* Appends a capability (cap[0] is its ID; the next pointer is filled in); returns its offset
 * or 0 when configuration space is full. */
unsigned pci_dev_add_cap(struct pci_dev *d, const uint8_t *cap, unsigned len);

/* Declares memory BAR idx of size bytes served by fn. */
void pci_dev_set_bar(struct pci_dev *d, unsigned idx, uint32_t size, bus_fn fn, void *opaque);

/* Puts d in the next free slot and places its BARs. */
int pci_add(struct pci *p, struct pci_dev *d, struct err *e);

/* Configuration space access as the guest does it (also the fuzzers' entry point). */
void pci_cfg_access(struct pci_dev *d, unsigned off, uint8_t *data, unsigned len, bool write);

/* MMIO access in the BAR window. */
void pci_mmio(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write);

#endif
