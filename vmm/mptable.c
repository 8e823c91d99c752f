#include "vmm/mptable.h"

#include <string.h>

#include "vmm/layout.h"
#include "vmm/pci.h"
#include "vmm/vm.h"

#define MP_BUS_PCI 0
#define MP_BUS_ISA 1
#define MP_IOAPIC_ID 0 /* as KVM's IOAPIC reports, and as the MADT says */

struct mp_writer {
	uint8_t *base;
	size_t len, cap;
	unsigned entries;
};

static void mp_put(struct mp_writer *w, const void *p, size_t n)
{
	if (w->len + n <= w->cap)
		memcpy(w->base + w->len, p, n);
	w->len += n;
	w->entries++;
}

static uint8_t mp_sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* One I/O interrupt assignment entry. */
static void mp_intsrc(struct mp_writer *w, uint8_t type, uint16_t flags, uint8_t bus,
		      uint8_t bus_irq, uint8_t intin)
{
	uint8_t e[8] = {3,   type,    (uint8_t)flags, (uint8_t)(flags >> 8),
			bus, bus_irq, MP_IOAPIC_ID,   intin};
	mp_put(w, e, sizeof(e));
}

int mptable_build(struct vm *vm, const struct pci *pci, struct err *e)
{
	uint8_t *fp = gm_ptr(&vm->mem, LAYOUT_MPTABLE, LAYOUT_MPTABLE_SIZE), *hdr;
	struct mp_writer w;
	uint32_t cpu_sig = 0x600, cpu_features = 0x201; /* family 6; FPU, APIC */

	if (!fp)
		return err_set(e, ERR_FAIL, "MP table does not fit in guest RAM");
	memset(fp, 0, 16);
	hdr = fp + 16;
	w = (struct mp_writer){.base = hdr, .len = 44, .cap = LAYOUT_MPTABLE_SIZE - 16};
	memset(hdr, 0, 44);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		uint8_t c[20] = {0, (uint8_t)i, 0x14, (uint8_t)(1 | (i == 0 ? 2 : 0))};
		put32(c + 4, cpu_sig);
		put32(c + 8, cpu_features);
		mp_put(&w, c, sizeof(c));
	}
	{
		uint8_t pci_bus[8] = {1, MP_BUS_PCI, 'P', 'C', 'I', ' ', ' ', ' '};
		uint8_t isa_bus[8] = {1, MP_BUS_ISA, 'I', 'S', 'A', ' ', ' ', ' '};
		uint8_t ioapic[8] = {2, MP_IOAPIC_ID, 0x11, 1};
		put32(ioapic + 4, (uint32_t)LAYOUT_IOAPIC);
		mp_put(&w, pci_bus, sizeof(pci_bus));
		mp_put(&w, isa_bus, sizeof(isa_bus));
		mp_put(&w, ioapic, sizeof(ioapic));
	}
	/* ISA IRQs go to the same IOAPIC inputs, except the timer (IRQ 0 on input 2); the
	 * ACPI SCI (IRQ 9) is level, active high as the MADT says. */
	for (uint8_t irq = 0; irq < 16; irq++) {
		if (irq == 2)
			continue;
		mp_intsrc(&w, 0, irq == 9 ? 0x000d : 0, MP_BUS_ISA, irq, irq == 0 ? 2 : irq);
	}
	/* PCI INTA# of each device: level, active high (KVM takes the line level as the pin level
	 * and inverts for active-low inputs; envvmm raises the line to assert); bus IRQ = slot
	 * << 2. */
	for (unsigned s = 1; s < PCI_SLOTS; s++) {
		if (pci->dev[s] && pci->dev[s]->cfg[0x3d])
			mp_intsrc(&w, 0, 0x000d, MP_BUS_PCI, (uint8_t)(s << 2),
				  (uint8_t)pci->dev[s]->irq);
	}
	{
		uint8_t extint[8] = {4, 3, 0, 0, MP_BUS_ISA, 0, 0xff, 0}; /* LINT0: ExtINT */
		uint8_t nmi[8] = {4, 1, 0, 0, MP_BUS_ISA, 0, 0xff, 1};	  /* LINT1: NMI */
		mp_put(&w, extint, sizeof(extint));
		mp_put(&w, nmi, sizeof(nmi));
	}
	if (w.len > w.cap || w.len > 0xffff)
		return err_set(e, ERR_FAIL, "MP table: too many entries");
	memcpy(hdr, "PCMP", 4);
	hdr[4] = (uint8_t)w.len;
	hdr[5] = (uint8_t)(w.len >> 8);
	hdr[6] = 4; /* spec 1.4 */
	memcpy(hdr + 8, "ENVUP   ", 8);
	memcpy(hdr + 16, "ENVVMM      ", 12);
	hdr[34] = (uint8_t)w.entries;
	hdr[35] = (uint8_t)(w.entries >> 8);
	put32(hdr + 36, (uint32_t)LAYOUT_LAPIC);
	hdr[7] = (uint8_t)(0 - mp_sum(hdr, w.len));

	memcpy(fp, "_MP_", 4);
	put32(fp + 4, (uint32_t)(LAYOUT_MPTABLE + 16));
	fp[8] = 1; /* length in 16-byte units */
	fp[9] = 4;
	fp[10] = (uint8_t)(0 - mp_sum(fp, 16));
	return 0;
}
