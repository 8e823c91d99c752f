#include "vmm/acpi.h"

#include <stddef.h>
#include <string.h>

#include "vmm/acpi_dsdt.h"
#include "vmm/layout.h"
#include "vmm/pci.h"
#include "vmm/vm.h"

#define ACPI_SCI_IRQ 9
#define PM1_PWRBTN 0x0100
#define PM1_SCI_EN 0x0001
#define PM1_SLP_EN 0x2000

struct acpi_hdr {
	char sig[4];
	uint32_t len;
	uint8_t rev;
	uint8_t csum;
	char oem[6];
	char table[8];
	uint32_t oem_rev;
	char creator[4];
	uint32_t creator_rev;
} __attribute__((packed));

struct acpi_rsdp {
	char sig[8];
	uint8_t csum;
	char oem[6];
	uint8_t rev;
	uint32_t rsdt;
	uint32_t len;
	uint64_t xsdt;
	uint8_t ext_csum;
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_gas {
	uint8_t space, bit_width, bit_offset, access;
	uint64_t addr;
} __attribute__((packed));

/* FADT, ACPI 6 layout (276 bytes), only the fields this machine fills named. */
struct acpi_fadt {
	struct acpi_hdr h;
	uint32_t facs, dsdt;
	uint8_t reserved0, pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable, s4bios, pstate;
	uint32_t pm1a_evt, pm1b_evt, pm1a_cnt, pm1b_cnt, pm2_cnt, pm_tmr, gpe0, gpe1;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len, gpe0_len, gpe1_len, gpe1_base,
		cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alarm, mon_alarm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor;
	uint64_t x_facs, x_dsdt;
	struct acpi_gas x_pm1a_evt, x_pm1b_evt, x_pm1a_cnt, x_pm1b_cnt, x_pm2_cnt, x_pm_tmr, x_gpe0,
		x_gpe1, sleep_ctl, sleep_sts;
	uint64_t hypervisor_id;
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT layout");

static uint8_t acpi_sum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *b++);
	return s;
}

static void acpi_hdr_init(struct acpi_hdr *h, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(h->sig, sig, 4);
	h->len = len;
	h->rev = rev;
	memcpy(h->oem, "ENVUP ", 6);
	memcpy(h->table, "ENVVMM  ", 8);
	h->oem_rev = 1;
	memcpy(h->creator, "ENVU", 4);
	h->creator_rev = 1;
}

/* Fills in h's checksum; h is len bytes long. */
static void acpi_finish(struct acpi_hdr *h)
{
	h->csum = 0;
	h->csum = (uint8_t)(0 - acpi_sum(h, h->len));
}

uint64_t acpi_rsdp_addr(void)
{
	return LAYOUT_ACPI;
}

static struct acpi_gas gas_io(uint16_t port, uint8_t bits)
{
	return (struct acpi_gas){
		.space = 1, .bit_width = bits, .access = bits == 32 ? 3 : 2, .addr = port};
}

static uint32_t acpi_madt(uint8_t *p, unsigned ncpus)
{
	struct acpi_hdr *h = (struct acpi_hdr *)p;
	uint32_t off = sizeof(*h);
	uint32_t lapic = (uint32_t)LAYOUT_LAPIC, flags = 1; /* PCAT_COMPAT: 8259s present */
	uint32_t ioapic = (uint32_t)LAYOUT_IOAPIC;

	memcpy(p + off, &lapic, 4);
	memcpy(p + off + 4, &flags, 4);
	off += 8;
	for (unsigned i = 0; i < ncpus; i++) {
		uint8_t e[8] = {0, 8, (uint8_t)i, (uint8_t)i, 1, 0, 0, 0}; /* enabled */
		memcpy(p + off, e, 8);
		off += 8;
	}
	{
		uint8_t e[12] = {1, 12, 0, 0}; /* ID 0, as KVM's IOAPIC reports */
		memcpy(e + 4, &ioapic, 4);     /* GSI base 0 */
		memcpy(p + off, e, 12);
		off += 12;
	}
	{
		/* ISA IRQ 0 (PIT) arrives on GSI 2; SCI is level, active high. */
		uint8_t pit[10] = {2, 10, 0, 0, 2, 0, 0, 0, 0, 0};
		uint8_t sci[10] = {2, 10, 0, ACPI_SCI_IRQ, ACPI_SCI_IRQ, 0, 0, 0, 0x0d, 0};
		memcpy(p + off, pit, 10);
		memcpy(p + off + 10, sci, 10);
		off += 20;
	}
	/* The IRQs PCI INTA# lines drive (see _PRT) are level, active high, as the MP table
	 * says and as QEMU declares them. */
	for (unsigned i = 0; i < PCI_NINTX; i++) {
		uint8_t irq = (uint8_t)pci_intx_irqs[i];
		uint8_t iso[10] = {2, 10, 0, irq, irq, 0, 0, 0, 0x0d, 0};

		memcpy(p + off, iso, 10);
		off += 10;
	}
	{
		uint8_t nmi[6] = {4, 6, 0xff, 0, 0, 1}; /* LINT1 of every CPU is NMI */
		memcpy(p + off, nmi, 6);
		off += 6;
	}
	acpi_hdr_init(h, "APIC", off, 4);
	acpi_finish(h);
	return off;
}

/* Table offsets inside the tables blob (the RSDP is apart): FACS 64-byte aligned. */
#define OFF_XSDT 0u
#define OFF_FADT 64u
#define OFF_DSDT (OFF_FADT + 512u)
#define OFF_MADT (OFF_DSDT + 4096u)
#define OFF_FACS (OFF_MADT + 1024u)
#define OFF_RSDT (OFF_FACS + 64u)
#define TABLES_LEN (OFF_RSDT + 64u)

static void add_ptr(struct acpi_blobs *b, bool in_rsdp, uint32_t off, uint8_t size)
{
	b->ptr[b->nptr++] = (struct acpi_ptr){.in_rsdp = in_rsdp, .off = off, .size = size};
}

int acpi_tables(const struct acpi_config *c, uint64_t base, struct acpi_blobs *b, struct err *e)
{
	uint8_t *t = b->tables;
	struct acpi_rsdp *rsdp = (struct acpi_rsdp *)b->rsdp;
	struct acpi_hdr *xsdt = (struct acpi_hdr *)(t + OFF_XSDT), *dsdt = (struct acpi_hdr *)(t + OFF_DSDT);
	struct acpi_fadt *fadt = (struct acpi_fadt *)(t + OFF_FADT);
	uint64_t entries[2] = {base + OFF_FADT, base + OFF_MADT};
	uint32_t entries32[2] = {(uint32_t)(base + OFF_FADT), (uint32_t)(base + OFF_MADT)};
	struct acpi_hdr *rsdt = (struct acpi_hdr *)(t + OFF_RSDT);
	size_t aml_len;

	_Static_assert(TABLES_LEN <= ACPI_TABLES_MAX, "ACPI tables blob");
	memset(b->rsdp, 0, sizeof(b->rsdp));
	memset(t, 0, ACPI_TABLES_MAX);
	b->len = TABLES_LEN;
	b->nptr = 0;

	aml_len = acpi_dsdt_aml_for((uint8_t *)(dsdt + 1), 4096 - sizeof(*dsdt), c->pci_mmio_lo,
				    c->pci_mmio_hi, c->slot_irq);
	if (!aml_len)
		return err_set(e, ERR_FAIL, "DSDT does not fit its 4 KiB");
	acpi_hdr_init(dsdt, "DSDT", (uint32_t)(sizeof(*dsdt) + aml_len), 2);
	acpi_finish(dsdt);

	acpi_hdr_init(&fadt->h, "FACP", sizeof(*fadt), 6);
	{
		/* FACS: no waking vector (no S3), no global lock; Linux looks for it. */
		uint8_t *facs = t + OFF_FACS;
		uint32_t len = 64;
		memcpy(facs, "FACS", 4);
		memcpy(facs + 4, &len, 4);
		facs[32] = 2; /* version */
	}
	/* ACPI 6: FIRMWARE_CTRL must be zero when X_FIRMWARE_CTRL is set (Linux otherwise
	 * installs the FACS twice) */
	fadt->x_facs = base + OFF_FACS;
	fadt->dsdt = (uint32_t)(base + OFF_DSDT);
	fadt->x_dsdt = base + OFF_DSDT;
	add_ptr(b, false, OFF_FADT + offsetof(struct acpi_fadt, x_facs), 8);
	add_ptr(b, false, OFF_FADT + offsetof(struct acpi_fadt, dsdt), 4);
	add_ptr(b, false, OFF_FADT + offsetof(struct acpi_fadt, x_dsdt), 8);
	fadt->sci_int = ACPI_SCI_IRQ;
	fadt->pm1a_evt = LAYOUT_PM_IO;
	fadt->pm1a_cnt = LAYOUT_PM_IO + 4;
	fadt->pm1_evt_len = 4;
	fadt->pm1_cnt_len = 2;
	fadt->x_pm1a_evt = gas_io(LAYOUT_PM_IO, 32);
	fadt->x_pm1a_cnt = gas_io(LAYOUT_PM_IO + 4, 16);
	fadt->iapc_boot_arch = 0x0002 | 0x0004; /* 8042; no VGA */
	if (!c->rtc)
		fadt->iapc_boot_arch |= 0x0020; /* no CMOS RTC */
	else
		fadt->century = 0x32;
	/* WBINVD, C1, RESET_REG_SUP; the power button is the fixed-feature one. */
	fadt->flags = 0x0001 | 0x0004 | 0x0400;
	/* Reset through the PIIX reset control register, as on a PC (see pci.c). */
	fadt->reset_reg = gas_io(0xcf9, 8);
	fadt->reset_value = 0x06;
	fadt->minor = 0;
	fadt->hypervisor_id = 0;
	acpi_finish(&fadt->h);

	acpi_madt(t + OFF_MADT, c->ncpus);

	memcpy(xsdt + 1, entries, sizeof(entries));
	add_ptr(b, false, OFF_XSDT + sizeof(*xsdt), 8);
	add_ptr(b, false, OFF_XSDT + sizeof(*xsdt) + 8, 8);
	acpi_hdr_init(xsdt, "XSDT", sizeof(*xsdt) + sizeof(entries), 1);
	acpi_finish(xsdt);

	/* An RSDT as well, with the same two tables: OSes take the XSDT, but some readers
	 * (GRUB's ACPI power-off, for one) know only the RSDT. */
	memcpy(rsdt + 1, entries32, sizeof(entries32));
	add_ptr(b, false, OFF_RSDT + sizeof(*rsdt), 4);
	add_ptr(b, false, OFF_RSDT + sizeof(*rsdt) + 4, 4);
	acpi_hdr_init(rsdt, "RSDT", sizeof(*rsdt) + sizeof(entries32), 1);
	acpi_finish(rsdt);

	b->table[4] = (struct acpi_span){OFF_RSDT, rsdt->len};
	b->table[0] = (struct acpi_span){OFF_XSDT, xsdt->len};
	b->table[1] = (struct acpi_span){OFF_FADT, fadt->h.len};
	b->table[2] = (struct acpi_span){OFF_DSDT, dsdt->len};
	b->table[3] = (struct acpi_span){OFF_MADT, ((struct acpi_hdr *)(t + OFF_MADT))->len};
	b->ntables = 5;

	memcpy(rsdp->sig, "RSD PTR ", 8);
	memcpy(rsdp->oem, "ENVUP ", 6);
	rsdp->rev = 2;
	rsdp->len = sizeof(*rsdp);
	rsdp->xsdt = base + OFF_XSDT;
	add_ptr(b, true, offsetof(struct acpi_rsdp, xsdt), 8);
	rsdp->rsdt = (uint32_t)(base + OFF_RSDT);
	add_ptr(b, true, offsetof(struct acpi_rsdp, rsdt), 4);
	rsdp->csum = (uint8_t)(0 - acpi_sum(rsdp, 20));
	rsdp->ext_csum = (uint8_t)(0 - acpi_sum(rsdp, sizeof(*rsdp)));
	return 0;
}

int acpi_build(struct vm *vm, struct err *e)
{
	uint8_t *area = gm_ptr(&vm->mem, LAYOUT_ACPI, LAYOUT_ACPI_SIZE);
	uint8_t slot_irq[PCI_SLOTS];
	struct acpi_config c = {
		.ncpus = vm->ncpus,
		.pci_mmio_lo = (uint32_t)LAYOUT_PCI_MMIO,
		.pci_mmio_hi = (uint32_t)(LAYOUT_PCI_MMIO_END - 1),
		.slot_irq = slot_irq,
	};
	struct acpi_blobs b;

	_Static_assert(64 + ACPI_TABLES_MAX <= LAYOUT_ACPI_SIZE, "ACPI area");
	if (!area)
		return err_set(e, ERR_FAIL, "ACPI tables do not fit in guest RAM");
	memset(area, 0, LAYOUT_ACPI_SIZE);
	for (unsigned s = 0; s < PCI_SLOTS; s++)
		slot_irq[s] = (uint8_t)pci_slot_irq(s);
	/* The RSDP first, the tables 64 bytes on. */
	b.tables = area + 64;
	if (acpi_tables(&c, LAYOUT_ACPI + 64, &b, e) < 0)
		return -1;
	memcpy(area, b.rsdp, sizeof(b.rsdp));
	return 0;
}

static void acpi_pm_update(struct acpi_pm *pm)
{
	int level = (pm->cnt & PM1_SCI_EN) && (pm->sts & pm->en & PM1_PWRBTN);

	if (level != pm->sci_level) {
		pm->sci_level = level;
		vm_irq_line(pm->vm, ACPI_SCI_IRQ, level);
	}
}

static void acpi_pm_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct acpi_pm *pm = opaque;
	uint8_t regs[6];

	memcpy(regs, &pm->sts, 2);
	memcpy(regs + 2, &pm->en, 2);
	memcpy(regs + 4, &pm->cnt, 2);
	if (!write) {
		for (uint32_t i = 0; i < len; i++)
			data[i] = off + i < sizeof(regs) ? regs[off + i] : 0;
		return;
	}
	for (uint32_t i = 0; i < len && off + i < sizeof(regs); i++) {
		uint64_t o = off + i;
		if (o < 2)
			regs[o] &= (uint8_t)~data[i]; /* status bits clear on writing 1 */
		else
			regs[o] = data[i];
	}
	memcpy(&pm->sts, regs, 2);
	memcpy(&pm->en, regs + 2, 2);
	memcpy(&pm->cnt, regs + 4, 2);
	if (pm->cnt & PM1_SLP_EN) {
		vm_request_exit(pm->vm, 0, "guest power off (ACPI S%u)", (pm->cnt >> 10) & 7);
		pm->cnt &= (uint16_t)~PM1_SLP_EN;
	}
	pm->cnt |= PM1_SCI_EN; /* no SMI_CMD: the machine is always in ACPI mode */
	acpi_pm_update(pm);
}

int acpi_pm_init(struct acpi_pm *pm, struct vm *vm, struct err *e)
{
	memset(pm, 0, sizeof(*pm));
	pm->vm = vm;
	pm->cnt = PM1_SCI_EN;
	return bus_add(&vm->pio, LAYOUT_PM_IO, 6, acpi_pm_io, pm, e);
}

bool acpi_pm_power_button(struct acpi_pm *pm)
{
	pm->sts |= PM1_PWRBTN;
	acpi_pm_update(pm);
	return (pm->en & PM1_PWRBTN) != 0;
}
