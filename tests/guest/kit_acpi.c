/* ACPI tables (checksums, MADT CPU count), bringing up every AP with INIT/SIPI, and the ACPI
 * power button. */
#include "kit.h"

#define LAPIC 0xfee00000ULL

extern char kit_ap_tramp[], kit_ap_tramp_end[];
extern uint32_t kit_ap_cr3;
static volatile uint32_t ap_count;
static volatile uint64_t ap_ids;

static uint8_t sum(const void *p, uint64_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;
	while (len--)
		s = (uint8_t)(s + *b++);
	return s;
}

static uint64_t find_rsdp(void)
{
	if (kit_boot.rsdp)
		return kit_boot.rsdp;
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16)
		if (!memcmp((const void *)a, "RSD PTR ", 8))
			return a;
	return 0;
}

static unsigned madt_cpus;
static uint16_t reset_port;
static uint8_t reset_value;

void kit_acpi_checks(void)
{
	uint64_t rsdp = find_rsdp(), xsdt;
	const uint8_t *r = (const uint8_t *)rsdp, *x;
	uint32_t xlen;
	unsigned bad = 0, ntables, ioapics = 0, ioapic_id = 0xff, hw_id;
	bool fadt = false, dsdt_ok = false, facs_ok = false;
	char buf[16];

	if (!rsdp) {
		kit_result(false, "acpi-rsdp", "no RSDP");
		return;
	}
	kit_result(sum(r, 20) == 0 && r[15] >= 2 && sum(r, 36) == 0, "acpi-rsdp", "at %lx rev %u",
		   rsdp, r[15]);
	memcpy(&xsdt, r + 24, 8);
	x = (const uint8_t *)xsdt;
	memcpy(&xlen, x + 4, 4);
	kit_result(!memcmp(x, "XSDT", 4) && sum(x, xlen) == 0, "acpi-xsdt", "len %u", xlen);
	ntables = (xlen - 36) / 8;
	for (unsigned i = 0; i < ntables; i++) {
		uint64_t ta;
		const uint8_t *t;
		uint32_t tlen;
		memcpy(&ta, x + 36 + 8 * i, 8);
		t = (const uint8_t *)ta;
		memcpy(&tlen, t + 4, 4);
		if (sum(t, tlen))
			bad++;
		if (!memcmp(t, "FACP", 4)) {
			uint64_t d;
			uint32_t dlen;
			fadt = true;
			if (t[113] & 0x04 && t[116] == 1) { /* RESET_REG_SUP, system I/O space */
				memcpy(&reset_port, t + 120, 2);
				reset_value = t[128];
			}
			memcpy(&d, t + 140, 8);
			memcpy(&dlen, (const uint8_t *)d + 4, 4);
			dsdt_ok =
				!memcmp((const void *)d, "DSDT", 4) && !sum((const void *)d, dlen);
			memcpy(&d, t + 132, 8); /* X_FIRMWARE_CTRL; FIRMWARE_CTRL must then be 0 */
			facs_ok = d && (d & 63) == 0 && !memcmp((const void *)d, "FACS", 4) &&
				  !t[36] && !t[37] && !t[38] && !t[39];
		}
		if (!memcmp(t, "APIC", 4)) {
			for (uint32_t o = 44; o + 2 <= tlen && t[o + 1] >= 2; o += t[o + 1]) {
				if (t[o] == 0 && (t[o + 4] & 1))
					madt_cpus++;
				if (t[o] == 1) {
					ioapics++;
					ioapic_id = t[o + 2];
				}
			}
		}
	}
	mmio_w32(0xfec00000ULL, 0); /* IOAPIC ID register */
	hw_id = (mmio_r32(0xfec00010ULL) >> 24) & 0xf;
	kit_result(ioapic_id == hw_id, "acpi-ioapic-id", "madt=%u hardware=%u", ioapic_id, hw_id);
	kit_result(bad == 0, "acpi-checksums", "tables=%u bad=%u", ntables, bad);
	kit_result(fadt && dsdt_ok && facs_ok, "acpi-fadt", "fadt=%u dsdt=%u facs=%u", fadt, dsdt_ok,
		   facs_ok);
	kit_result(kit_arg("kit.cpus", buf, sizeof(buf)) && madt_cpus == kit_num(buf) &&
			   ioapics == 1,
		   "acpi-madt", "cpus=%u ioapics=%u", madt_cpus, ioapics);
}

/* Resets through the FADT's reset register (ACPI reset); returns when there is none. */
void kit_acpi_reset(void)
{
	kit_printf("kit: acpi reset through port %x value %x\n", reset_port, reset_value);
	if (reset_port)
		outb(reset_port, reset_value);
}

/* The MP table: floating pointer and configuration table checksums, processor entries. */
void kit_mptable_checks(void)
{
	char buf[16];
	const uint8_t *fp = 0, *t;
	unsigned cpus = 0, bp = 0, ioapics = 0, ints = 0;
	uint16_t len, count;

	for (uint64_t a = 0xf0000; a < 0x100000 && !fp; a += 16)
		if (!memcmp((const void *)a, "_MP_", 4) && sum((const void *)a, 16) == 0)
			fp = (const uint8_t *)a;
	if (!fp) {
		kit_result(false, "mptable", "no MP floating pointer");
		return;
	}
	t = (const uint8_t *)(uint64_t)(fp[4] | fp[5] << 8 | fp[6] << 16 | (uint32_t)fp[7] << 24);
	memcpy(&len, t + 4, 2);
	memcpy(&count, t + 34, 2);
	if (memcmp(t, "PCMP", 4) || sum(t, len)) {
		kit_result(false, "mptable", "bad configuration table");
		return;
	}
	for (unsigned i = 0, o = 44; i < count && o < len; i++) {
		if (t[o] == 0) {
			cpus += t[o + 3] & 1;
			bp += (t[o + 3] & 2) != 0;
			o += 20;
			continue;
		}
		ioapics += t[o] == 2;
		ints += t[o] == 3;
		o += 8;
	}
	kit_result(kit_arg("kit.cpus", buf, sizeof(buf)) && cpus == kit_num(buf) && bp == 1 &&
			   ioapics == 1 && ints >= 15,
		   "mptable", "cpus=%u bp=%u ioapics=%u irq-entries=%u", cpus, bp, ioapics, ints);
}

void kit_ap_main(void);

void kit_ap_main(void)
{
	uint32_t id = mmio_r32(LAPIC + 0x20) >> 24;
	__atomic_fetch_or(&ap_ids, 1ULL << (id & 63), __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&ap_count, 1, __ATOMIC_SEQ_CST);
}

static void lapic_icr(uint32_t low)
{
	mmio_w32(LAPIC + 0x310, 0);
	mmio_w32(LAPIC + 0x300, low);
	for (int i = 0; i < 1000 && (mmio_r32(LAPIC + 0x300) & (1 << 12)); i++)
		;
}

void kit_smp_checks(void)
{
	char buf[16];
	unsigned want = kit_arg("kit.cpus", buf, sizeof(buf)) ? (unsigned)kit_num(buf) : 1;
	uint64_t cr3;
	uint64_t end;

	if (want > 9) {
		kit_result(false, "smp", "kit supports at most 9 CPUs, asked for %u", want);
		return;
	}
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	kit_ap_cr3 = (uint32_t)cr3;
	memcpy((void *)0x1000, kit_ap_tramp, (size_t)(kit_ap_tramp_end - kit_ap_tramp));
	barrier();
	mmio_w32(LAPIC + 0xf0, mmio_r32(LAPIC + 0xf0) | 0x100); /* software-enable the APIC */
	if (want > 1) {
		lapic_icr(0x000c4500); /* INIT, all excluding self */
		lapic_icr(0x000c4601); /* STARTUP at page 1 (0x1000) */
		lapic_icr(0x000c4601);
		end = kit_deadline(5000);
		while (ap_count < want - 1 && rdtsc() < end)
			;
	}
	kit_result(ap_count + 1 == want, "smp", "cpus=%u/%u apic-ids=%lx", ap_count + 1, want,
		   ap_ids | 1);
}

/* The LAPIC timer in TSC-deadline mode, as Linux uses it when CPUID offers it (otherwise it
 * calibrates the LAPIC timer against the PIT, which fails on busy hosts). With interrupts off,
 * the expired timer shows as its vector pending in the IRR. */
void kit_timer_checks(void)
{
	const uint32_t vec = 0xec;
	uint32_t a = 1, b, c, d;
	uint64_t end;
	bool pending = false;

	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "=c"(c), "=d"(d));
	kit_result(c & (1u << 24), "tsc-deadline-cpuid", "cpuid.1:ecx=%x", c);
	if (!(c & (1u << 24)))
		return;
	mmio_w32(LAPIC + 0xf0, mmio_r32(LAPIC + 0xf0) | 0x100); /* software-enable the APIC */
	mmio_w32(LAPIC + 0x320, vec | 2u << 17);		 /* LVT timer: TSC-deadline */
	barrier();
	end = rdtsc() + 1000000;
	__asm__ volatile("wrmsr" ::"c"(0x6e0), "a"((uint32_t)end), "d"((uint32_t)(end >> 32)));
	end = kit_deadline(2000);
	while (!pending && rdtsc() < end)
		pending = mmio_r32(LAPIC + 0x200 + (vec / 32) * 0x10) & (1u << (vec % 32));
	mmio_w32(LAPIC + 0x320, 1u << 16); /* masked again */
	kit_result(pending, "tsc-deadline-fires", "vector %#x %s", vec,
		   pending ? "pending" : "never raised within 2 s");
}

void kit_power_button_wait(void)
{
	unsigned long spins = 0;

	outw(0x602, 0x0100); /* PWRBTN_EN */
	kit_printf("kit: waiting for power button\n");
	while (!(inw(0x600) & 0x100) && spins < 3000000)
		spins++;
	kit_result((inw(0x600) & 0x100) != 0, "powerbutton", "after %lu polls", spins);
	outw(0x600, 0x0100); /* acknowledge */
	kit_printf("kit: done\n");
	outw(0x604, (5 << 10) | (1 << 13)); /* SLP_TYP=5 (\_S5), SLP_EN */
	for (;;)
		__asm__ volatile("cli; hlt");
}
