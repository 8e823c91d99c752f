/* The DSDT's AML, encoded here byte by byte (ACPI 6, chapter 20; no compiler at run time):
 *   Name (\_S5, Package () {5, 5, 0, 0})          SLP_TYP values for soft-off
 *   Scope (\_SB) { Device (PCI0) { ... } }         the PCI host bridge
 * PCI0 has _HID PNP0A03, _UID, _BBN, a _CRS with the windows it decodes (buses 0-255, the
 * configuration ports, all other I/O ports, the BAR window of vmm/layout.h) and a _PRT that
 * routes each slot's INTA# to its IOAPIC input, as vmm/pci.c wires it and the MP table says.
 * An OS that uses ACPI finds PCI root buses only here: Linux does not scan bus 0 otherwise. */
#include "vmm/acpi_dsdt.h"

#include <stdbool.h>
#include <string.h>

#include "vmm/layout.h"
#include "vmm/pci.h"

#define AML_NAME 0x08
#define AML_SCOPE 0x10
#define AML_BUFFER 0x11
#define AML_PACKAGE 0x12
#define AML_EXT 0x5b
#define AML_DEVICE 0x82
#define AML_ROOT '\\'

struct aml {
	uint8_t *p;
	size_t len, cap;
	bool overflow;
};

static void put(struct aml *a, const void *d, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->p + a->len, d, n);
	a->len += n;
}

static void put8(struct aml *a, uint8_t v)
{
	put(a, &v, 1);
}

static void put_le(struct aml *a, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		put8(a, (uint8_t)(v >> (8 * i)));
}

/* Integers take the shortest encoding (ZeroOp, OneOp, Byte/Word/DWord/QWordPrefix). */
static void put_int(struct aml *a, uint64_t v)
{
	if (v <= 1) {
		put8(a, (uint8_t)v);
	} else if (v <= 0xff) {
		put8(a, 0x0a);
		put8(a, (uint8_t)v);
	} else if (v <= 0xffff) {
		put8(a, 0x0b);
		put_le(a, v, 2);
	} else if (v <= 0xffffffff) {
		put8(a, 0x0c);
		put_le(a, v, 4);
	} else {
		put8(a, 0x0e);
		put_le(a, v, 8);
	}
}

/* PkgLength counts itself, so it is written once the body is known: pkg_begin reserves the
 * longest form (4 bytes) and pkg_end moves the body back behind the form actually needed. */
static size_t pkg_begin(struct aml *a)
{
	size_t at = a->len;

	put_le(a, 0, 4);
	return at;
}

static void pkg_end(struct aml *a, size_t at)
{
	size_t body, total;
	unsigned n;
	uint8_t enc[4];

	if (a->overflow)
		return;
	body = a->len - at - 4;
	n = body + 1 <= 0x3f ? 1 : body + 2 <= 0xfff ? 2 : body + 3 <= 0xfffff ? 3 : 4;
	total = body + n;
	if (n == 1) {
		enc[0] = (uint8_t)total;
	} else {
		enc[0] = (uint8_t)((n - 1) << 6 | (total & 0xf));
		for (unsigned i = 1; i < n; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	memmove(a->p + at + n, a->p + at + 4, body);
	memcpy(a->p + at, enc, n);
	a->len = at + n + body;
}

/* Name (NAME, <value written by the caller>) */
static void name(struct aml *a, const char seg[4])
{
	put8(a, AML_NAME);
	put(a, seg, 4);
}

/* Word Address Space Descriptor (ACPI 6.4.3.5.3): a producer window, fixed and decoded. */
static void word_window(struct aml *a, uint8_t type, uint8_t type_flags, uint16_t min, uint16_t max)
{
	uint8_t d[16] = {0x88, 13, 0, type, 0x0c, type_flags};

	d[8] = (uint8_t)min;
	d[9] = (uint8_t)(min >> 8);
	d[10] = (uint8_t)max;
	d[11] = (uint8_t)(max >> 8);
	d[14] = (uint8_t)(max - min + 1);
	d[15] = (uint8_t)((max - min + 1) >> 8);
	put(a, d, sizeof(d));
}

static void pci0_crs(struct aml *a, uint32_t lo, uint32_t hi)
{
	static const uint8_t conf_ports[] = {0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08};
	uint8_t mem[26] = {0x87, 23, 0, 0, 0x0c, 0x01}; /* memory, read-write, non-cacheable */
	size_t at;

	name(a, "_CRS");
	put8(a, AML_BUFFER);
	at = pkg_begin(a);
	put_int(a, 16 + sizeof(conf_ports) + 16 + 16 + sizeof(mem) + 2);
	word_window(a, 2, 0, 0, 0xff);		/* bus numbers */
	put(a, conf_ports, sizeof(conf_ports)); /* 0xcf8-0xcff, consumed by the bridge */
	word_window(a, 1, 3, 0, 0xcf7);		/* I/O, entire range */
	word_window(a, 1, 3, 0xd00, 0xffff);
	memcpy(mem + 10, &lo, 4);
	memcpy(mem + 14, &hi, 4);
	mem[22] = (uint8_t)(hi - lo + 1);
	mem[23] = (uint8_t)((hi - lo + 1) >> 8);
	mem[24] = (uint8_t)((hi - lo + 1) >> 16);
	mem[25] = (uint8_t)((hi - lo + 1) >> 24);
	put(a, mem, sizeof(mem));
	put8(a, 0x79); /* end tag, checksum 0 */
	put8(a, 0);
	pkg_end(a, at);
}

static void pci0_prt(struct aml *a, const uint8_t *slot_irq)
{
	size_t at;

	name(a, "_PRT");
	put8(a, AML_PACKAGE);
	at = pkg_begin(a);
	put8(a, PCI_SLOTS - 1);
	for (unsigned s = 1; s < PCI_SLOTS; s++) {
		size_t e;

		put8(a, AML_PACKAGE);
		e = pkg_begin(a);
		put8(a, 4);
		put_int(a, (uint64_t)s << 16 | 0xffff); /* any function of slot s */
		put_int(a, 0);				/* INTA# */
		put_int(a, 0);				/* no link device: ... */
		put_int(a, slot_irq[s]);		/* ... this GSI */
		pkg_end(a, e);
	}
	pkg_end(a, at);
}

size_t acpi_dsdt_aml(uint8_t *out, size_t cap)
{
	uint8_t slot_irq[PCI_SLOTS];

	for (unsigned s = 0; s < PCI_SLOTS; s++)
		slot_irq[s] = (uint8_t)pci_slot_irq(s);
	return acpi_dsdt_aml_for(out, cap, (uint32_t)LAYOUT_PCI_MMIO,
				 (uint32_t)(LAYOUT_PCI_MMIO_END - 1), slot_irq);
}

size_t acpi_dsdt_aml_for(uint8_t *out, size_t cap, uint32_t lo, uint32_t hi,
			 const uint8_t *slot_irq)
{
	struct aml a = {out, 0, cap, false};
	size_t scope, dev, s5;

	name(&a, "_S5_");
	put8(&a, AML_PACKAGE);
	s5 = pkg_begin(&a);
	put8(&a, 4);
	put_int(&a, 5);
	put_int(&a, 5);
	put_int(&a, 0);
	put_int(&a, 0);
	pkg_end(&a, s5);

	put8(&a, AML_SCOPE);
	scope = pkg_begin(&a);
	put8(&a, AML_ROOT);
	put(&a, "_SB_", 4);
	put8(&a, AML_EXT);
	put8(&a, AML_DEVICE);
	dev = pkg_begin(&a);
	put(&a, "PCI0", 4);
	name(&a, "_HID");
	put8(&a, 0x0c);
	put(&a, "\x41\xd0\x0a\x03", 4); /* EisaId ("PNP0A03") */
	name(&a, "_UID");
	put_int(&a, 0);
	name(&a, "_BBN");
	put_int(&a, 0);
	pci0_crs(&a, lo, hi);
	pci0_prt(&a, slot_irq);
	pkg_end(&a, dev);
	pkg_end(&a, scope);
	return a.overflow ? 0 : a.len;
}
