#include "vmm/piix.h"

#include <string.h>

#include "vmm/vm.h"

#define PAM0 0x59 /* seven Programmable Attribute Map registers, 0x59-0x5f */
#define PIRQ_ROUTE 0x60
#define PIRQ_DISABLED 0x80

/* The power-on routing: PIRQA-D to IRQs 10, 10, 11, 11. This is what SeaBIOS (and so the
 * guest's INTERRUPT_LINE registers and its MP table) programs as well, and what the DSDT's
 * _PRT says, so every view of the routing agrees. */
static const uint8_t pirq_default[PIIX_NLINKS] = {10, 10, 11, 11};

unsigned piix_slot_link(unsigned slot)
{
	return (slot + PIIX_NLINKS - 1) % PIIX_NLINKS;
}

/* The IRQ behind a link, or 0 when the link is disabled or names an IRQ that PCI may not use
 * (0-2, 8, 13: timer, keyboard, cascade, RTC, FPU) or that another device of ours drives
 * (4: COM1, 9: the ACPI SCI): a guest must not lower their lines by routing PCI there. */
static unsigned link_irq(const struct piix *x, unsigned link)
{
	uint8_t r = x->isa.cfg[PIRQ_ROUTE + link];

	if (r & PIRQ_DISABLED)
		return 0;
	r &= 0x0f;
	return r < 3 || r == 4 || r == 8 || r == 9 || r == 13 ? 0 : r;
}

/* Recomputes every ISA IRQ line from the slots' INTA# levels: lines are shared and level
 * triggered, so a line is high while any device routed to it is. */
static void piix_update(struct piix *x)
{
	uint8_t want[16] = {0};

	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		unsigned irq = link_irq(x, piix_slot_link(s));
		if (x->dev_level[s] && irq)
			want[irq] = 1;
	}
	for (unsigned irq = 0; irq < 16; irq++) {
		if (want[irq] != x->irq_level[irq]) {
			x->irq_level[irq] = want[irq];
			vm_irq_line(x->pci->vm, irq, want[irq]);
		}
	}
}

static void piix_intx(void *opaque, struct pci_dev *d, int level)
{
	struct piix *x = opaque;

	if (d->slot < PCI_SLOTS) {
		x->dev_level[d->slot] = level ? 1 : 0;
		piix_update(x);
	}
}

static void piix_isa_written(struct pci_dev *d, unsigned off, unsigned len)
{
	if (off < PIRQ_ROUTE + PIIX_NLINKS && off + len > PIRQ_ROUTE)
		piix_update(d->owner);
}

int piix_init(struct piix *x, struct pci *p, struct err *e)
{
	struct pci_dev *nb = &p->bridge;

	memset(x, 0, sizeof(*x));
	x->pci = p;
	/* 82441FX, revision 2; the Red Hat/QEMU subsystem IDs tell SeaBIOS that this is a
	 * virtual PC whose firmware configuration is in fw_cfg. */
	nb->cfg[0x02] = 0x37;
	nb->cfg[0x03] = 0x12;
	nb->cfg[0x08] = 0x02;
	/* The BIOS area (0xc0000-0xfffff) is always RAM here, holding the firmware's copy from
	 * the start: the PAM registers say "read/write RAM" and keep what is written, which
	 * changes nothing (SeaBIOS then skips its copy from ROM). */
	for (unsigned i = 0; i < 7; i++) {
		nb->cfg[PAM0 + i] = i == 0 ? 0x30 : 0x33;
		nb->wmask[PAM0 + i] = 0xff;
	}

	/* PIIX3 function 0: PCI-to-ISA bridge. */
	pci_dev_init(&x->isa, 0x8086, 0x7000, 0x06010000, 0x1af4, 0x1100);
	x->isa.cfg[0x0e] = 0x80; /* multi-function, as the PIIX3 is (functions 1-3 absent here) */
	x->isa.cfg[0x3d] = 0;	 /* no interrupt pin of its own */
	for (unsigned l = 0; l < PIIX_NLINKS; l++) {
		x->isa.cfg[PIRQ_ROUTE + l] = pirq_default[l];
		x->isa.wmask[PIRQ_ROUTE + l] = 0x8f;
	}
	x->isa.owner = x;
	x->isa.cfg_written = piix_isa_written;
	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		unsigned irq = link_irq(x, piix_slot_link(s));
		p->slot_irq[s] = (uint8_t)irq;
	}
	if (pci_add(p, &x->isa, e) < 0)
		return -1;
	if (x->isa.slot != 1)
		return err_set(e, ERR_FAIL, "piix: the ISA bridge must be in slot 1, got %u",
			       x->isa.slot);
	p->intx = piix_intx;
	p->intx_opaque = x;
	return 0;
}
