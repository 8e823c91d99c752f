/* The PC chipset that firmware expects: the host bridge as an Intel 440FX (82441FX, with its
 * PAM registers) and a PIIX3 PCI-to-ISA bridge in slot 1 whose PIRQ route registers (0x60-0x63)
 * steer each slot's INTA# to an ISA IRQ, as on QEMU's "pc" machine. */
#ifndef ENVUP_VMM_PIIX_H
#define ENVUP_VMM_PIIX_H

#include "core/err.h"
#include "vmm/pci.h"

#define PIIX_NLINKS 4

struct piix {
	struct pci *pci;
	struct pci_dev isa;
	uint8_t dev_level[PCI_SLOTS]; /* each slot's INTA# */
	uint8_t irq_level[16];	      /* what the ISA IRQ lines are driven to */
};

/* Turns p's host bridge (just made by pci_init_at) into a 440FX and adds the ISA bridge in the
 * next slot (1); from then on p's INTx goes through the PIRQ routing. */
int piix_init(struct piix *x, struct pci *p, struct err *e);

/* The PIRQ link a slot's INTA# is wired to (the 440FX board's rotation). */
unsigned piix_slot_link(unsigned slot);

#endif
