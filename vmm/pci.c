#include "vmm/pci.h"

#include <string.h>

#include "vmm/layout.h"
#include "vmm/log.h"
#include "vmm/vm.h"

#define PCI_CONF_ADDR 0xcf8
#define PCI_CONF_DATA 0xcfc
#define PCI_BAR0 0x10
#define PCI_CAP_PTR 0x34
#define PCI_STATUS_CAPS 0x10

const unsigned pci_intx_irqs[PCI_NINTX] = {10, 11, 5, 7};

unsigned pci_slot_irq(unsigned slot)
{
	return pci_intx_irqs[slot % PCI_NINTX];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void pci_dev_init(struct pci_dev *d, uint16_t vendor, uint16_t device, uint32_t class_rev,
		  uint16_t subsys_vendor, uint16_t subsys)
{
	memset(d, 0, sizeof(*d));
	put16(d->cfg + 0x00, vendor);
	put16(d->cfg + 0x02, device);
	put32(d->cfg + 0x08, class_rev);
	put16(d->cfg + 0x2c, subsys_vendor);
	put16(d->cfg + 0x2e, subsys);
	d->cfg[0x3d] = 1; /* INTA# */
	/* Command: I/O, memory, bus master, INTx disable. Interrupt line: scratch for the OS. */
	put16(d->wmask + 0x04, PCI_CMD_IO | PCI_CMD_MEM | PCI_CMD_MASTER | 0x400);
	d->wmask[0x3c] = 0xff;
	d->cap_end = 0x40;
}

unsigned pci_dev_add_cap(struct pci_dev *d, const uint8_t *cap, unsigned len)
{
	unsigned off = d->cap_end;
	uint8_t *prev;

	if (len < 2 || off + len > PCI_CFG_SIZE)
		return 0;
	memcpy(d->cfg + off, cap, len);
	d->cfg[off + 1] = 0;
	/* Walk to the end of the list and link the new one in. */
	prev = &d->cfg[PCI_CAP_PTR];
	while (*prev)
		prev = &d->cfg[*prev + 1];
	*prev = (uint8_t)off;
	d->cfg[0x06] |= PCI_STATUS_CAPS;
	d->cap_end = (uint8_t)((off + len + 3) & ~3u);
	return off;
}

void pci_dev_set_bar(struct pci_dev *d, unsigned idx, uint32_t size, bus_fn fn, void *opaque)
{
	d->bar[idx] = (struct pci_bar){.size = size, .fn = fn, .opaque = opaque};
}

static void pci_bar_write(struct pci_dev *d, unsigned idx, const uint8_t *bytes, unsigned boff,
			  unsigned len)
{
	uint8_t v[4];
	uint32_t val;

	put32(v, d->bar[idx].addr);
	memcpy(v + boff, bytes, len);
	val = (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24;
	if (d->bar[idx].size)
		d->bar[idx].addr = val & ~(d->bar[idx].size - 1);
}

void pci_cfg_access(struct pci_dev *d, unsigned off, uint8_t *data, unsigned len, bool write)
{
	if (off >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - off) {
		if (!write)
			memset(data, 0xff, len);
		return;
	}
	if (!write) {
		if (d->cfg_reading)
			d->cfg_reading(d, off, len);
		for (unsigned i = 0; i < len; i++) {
			unsigned o = off + i;
			if (o >= PCI_BAR0 && o < PCI_BAR0 + 24) {
				uint8_t v[4];
				/* 32-bit memory BAR: address bits only; size probing falls out. */
				put32(v, d->bar[(o - PCI_BAR0) / 4].addr);
				data[i] = v[(o - PCI_BAR0) % 4];
			} else {
				data[i] = d->cfg[o];
			}
		}
		return;
	}
	for (unsigned i = 0; i < len; i++) {
		unsigned o = off + i;
		if (o >= PCI_BAR0 && o < PCI_BAR0 + 24)
			pci_bar_write(d, (o - PCI_BAR0) / 4, data + i, (o - PCI_BAR0) % 4, 1);
		else
			d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->wmask[o]) | (data[i] & d->wmask[o]));
	}
	if (d->cfg_written)
		d->cfg_written(d, off, len);
}

static void pci_conf_addr(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct pci *p = opaque;
	uint8_t v[4];

	/* A byte at 0xcf9 is the PC's reset control register, not part of CONFIG_ADDRESS:
	 * setting "reset CPU" (bit 2) resets the machine, which for envvmm ends it. */
	if (off == 1 && len == 1) {
		if (write && (data[0] & 0x04))
			vm_request_exit(p->vm, 0, "guest reset (port 0xcf9)");
		else if (!write)
			data[0] = 0;
		return;
	}
	put32(v, p->addr);
	if (off + len > 4)
		len = (uint32_t)(4 - off);
	if (write) {
		memcpy(v + off, data, len);
		p->addr = ((uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 |
			   (uint32_t)v[3] << 24) &
			  0x80fffffcu;
	} else {
		memcpy(data, v + off, len);
	}
}

static void pci_conf_data(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct pci *p = opaque;
	unsigned bus = (p->addr >> 16) & 0xff, slot = (p->addr >> 11) & 0x1f,
		 fn = (p->addr >> 8) & 7, reg = (p->addr & 0xfc) + (unsigned)off;
	struct pci_dev *d = (bus == 0 && fn == 0) ? p->dev[slot] : NULL;

	if (!(p->addr & 0x80000000u) || !d || off + len > 4) {
		if (!write)
			memset(data, 0xff, len);
		return;
	}
	pci_cfg_access(d, reg, data, len, write);
}

void pci_mmio(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct pci *p = opaque;
	uint64_t addr = p->mmio_base + off;

	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		struct pci_dev *d = p->dev[s];
		if (!d || !(d->cfg[0x04] & PCI_CMD_MEM))
			continue;
		for (unsigned b = 0; b < 6; b++) {
			struct pci_bar *bar = &d->bar[b];
			if (bar->size && addr >= bar->addr && addr - bar->addr < bar->size &&
			    len <= bar->size - (addr - bar->addr)) {
				bar->fn(bar->opaque, addr - bar->addr, data, len, write);
				return;
			}
		}
	}
	if (!write)
		memset(data, 0xff, len);
}

int pci_add(struct pci *p, struct pci_dev *d, struct err *e)
{
	unsigned s;

	for (s = 0; s < PCI_SLOTS && p->dev[s]; s++)
		;
	if (s == PCI_SLOTS)
		return err_set(e, ERR_USAGE, "pci: all %d slots are in use", PCI_SLOTS);
	for (unsigned b = 0; b < 6; b++) {
		uint32_t size = d->bar[b].size;
		if (!size)
			continue;
		p->next_mmio = (p->next_mmio + size - 1) & ~(size - 1);
		if ((uint64_t)p->next_mmio + size > LAYOUT_PCI_MMIO_END)
			return err_set(e, ERR_FAIL, "pci: BAR window full");
		d->bar[b].addr = p->next_mmio;
		p->next_mmio += size;
	}
	d->slot = s;
	d->bus = p;
	d->irq = p->slot_irq[s];
	d->cfg[0x3c] = (uint8_t)d->irq;
	p->dev[s] = d;
	return 0;
}

void pci_intx(struct vm *vm, struct pci_dev *d, int level)
{
	if (d->bus && d->bus->intx)
		d->bus->intx(d->bus->intx_opaque, d, level);
	else
		vm_irq_line(vm, d->irq, level);
}

int pci_init(struct pci *p, struct vm *vm, struct err *e)
{
	return pci_init_at(p, vm, (uint32_t)LAYOUT_PCI_MMIO, e);
}

int pci_init_at(struct pci *p, struct vm *vm, uint32_t mmio_base, struct err *e)
{
	memset(p, 0, sizeof(*p));
	p->vm = vm;
	p->mmio_base = p->next_mmio = mmio_base;
	for (unsigned s = 0; s < PCI_SLOTS; s++)
		p->slot_irq[s] = (uint8_t)pci_slot_irq(s);
	/* Host bridge: Intel 82G33/Q35-style IDs that every OS accepts as a plain bridge. */
	pci_dev_init(&p->bridge, 0x8086, 0x29c0, 0x06000000, 0x1af4, 0x1100);
	p->bridge.cfg[0x3d] = 0;
	if (pci_add(p, &p->bridge, e) < 0)
		return -1;
	if (bus_add(&vm->pio, PCI_CONF_ADDR, 4, pci_conf_addr, p, e) < 0 ||
	    bus_add(&vm->pio, PCI_CONF_DATA, 4, pci_conf_data, p, e) < 0)
		return -1;
	return bus_add(&vm->mmio, mmio_base, LAYOUT_PCI_MMIO_END - mmio_base, pci_mmio, p, e);
}
