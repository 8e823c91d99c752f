/* The firmware-boot devices without KVM: fw_cfg as SeaBIOS reads it (signature, an
 * architecture-local key, the file directory), the ACPI table loader script run the way
 * SeaBIOS runs it (the relocated tables must check out), the CMOS memory and clock registers,
 * and the PIIX's slot-to-IRQ routing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/unit.h"

#include "vmm/acpi_loader.h"
#include "vmm/cmos.h"
#include "vmm/fw_cfg.h"
#include "vmm/pci.h"
#include "vmm/piix.h"
#include "vmm/vm.h"

static void sel(struct fw_cfg *f, uint16_t key)
{
	uint8_t d[2] = {(uint8_t)key, (uint8_t)(key >> 8)};

	fw_cfg_io(f, 0, d, 2, true);
}

static void rd(struct fw_cfg *f, void *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		fw_cfg_io(f, 1, (uint8_t *)buf + i, 1, false);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Finds a file in the directory as SeaBIOS does; its key, and its size in *size. */
static uint16_t find_file(struct fw_cfg *f, const char *name, uint32_t *size)
{
	uint8_t n[4], ent[64];

	sel(f, FW_CFG_FILE_DIR);
	rd(f, n, 4);
	for (uint32_t i = 0; i < be32(n); i++) {
		rd(f, ent, 64);
		if (!strcmp((char *)ent + 8, name)) {
			*size = be32(ent);
			return (uint16_t)(ent[4] << 8 | ent[5]);
		}
	}
	return 0;
}

static void test_fw_cfg(void **state)
{
	static struct vm vm;
	struct fw_cfg f;
	struct err e = {0};
	uint8_t sig[4], one = 1, b[8];
	uint32_t size = 0;
	uint16_t key;

	(void)state;
	vm_init(&vm);
	assert_int_equal(fw_cfg_init(&f, &vm, &e), 0);
	/* Through the port bus, as a vCPU reaches it. */
	b[0] = 0;
	b[1] = 0;
	assert_true(bus_dispatch(&vm.pio, FW_CFG_PORT_SEL, b, 2, true));
	for (int i = 0; i < 4; i++)
		assert_true(bus_dispatch(&vm.pio, FW_CFG_PORT_DATA, sig + i, 1, false));
	assert_memory_equal(sig, "QEMU", 4);
	/* Keys with bit 15 set are items of their own, not the signature. */
	assert_int_equal(fw_cfg_add(&f, FW_CFG_IRQ0_OVERRIDE, &one, 1, &e), 0);
	sel(&f, FW_CFG_IRQ0_OVERRIDE);
	rd(&f, b, 2);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[1], 0); /* past the end reads 0 */
	sel(&f, 0x8000);	   /* absent: zeros, as SeaBIOS's table counts expect */
	rd(&f, b, 2);
	assert_int_equal(b[0] | b[1], 0);
	assert_int_equal(fw_cfg_add_file(&f, "etc/one", "abc", 3, &e), 0);
	assert_int_equal(fw_cfg_add_file(&f, "etc/two", "hello", 5, &e), 0);
	key = find_file(&f, "etc/two", &size);
	assert_int_equal(key, FW_CFG_FILE_FIRST + 1);
	assert_int_equal(size, 5);
	sel(&f, key);
	rd(&f, b, 5);
	assert_memory_equal(b, "hello", 5);
	/* Replacing a file keeps its key. */
	assert_int_equal(fw_cfg_add_file(&f, "etc/one", "xy", 2, &e), 0);
	assert_int_equal(find_file(&f, "etc/one", &size), FW_CFG_FILE_FIRST);
	assert_int_equal(size, 2);
	assert_int_equal(fw_cfg_add_file(&f, "", "x", 1, &e), -1);
	fw_cfg_free(&f);
	bus_free(&vm.pio);
}

/* Runs etc/table-loader as SeaBIOS does, the RSDP "allocated" at 0xf5000 and the tables at
 * 0x7ff0000 of a pretend memory, and checks every table the relocated RSDP leads to. */
static void test_table_loader(void **state)
{
	static struct vm vm;
	static uint8_t mem[2][0x4000];
	const uint64_t at[2] = {0xf5000, 0x7ff0000};
	const char *names[2] = {"etc/acpi/rsdp", "etc/acpi/tables"};
	uint8_t slot_irq[PCI_SLOTS] = {0};
	struct acpi_config c = {.ncpus = 2,
				.pci_mmio_lo = 0x80000000u,
				.pci_mmio_hi = 0xfebfffffu,
				.slot_irq = slot_irq,
				.rtc = true};
	struct fw_cfg f;
	struct err e = {0};
	uint32_t size, nalloc = 0;
	uint8_t *script;
	uint16_t key;

	(void)state;
	vm_init(&vm);
	assert_int_equal(fw_cfg_init(&f, &vm, &e), 0);
	assert_int_equal(acpi_loader_add(&f, &c, &e), 0);
	for (int i = 0; i < 2; i++) {
		key = find_file(&f, names[i], &size);
		assert_true(key && size <= sizeof(mem[i]));
		sel(&f, key);
		rd(&f, mem[i], size);
	}
	key = find_file(&f, "etc/table-loader", &size);
	assert_true(key && size % ACPI_LOADER_ENTRY == 0);
	script = malloc(size);
	assert_non_null(script);
	sel(&f, key);
	rd(&f, script, size);
	for (uint32_t o = 0; o < size; o += ACPI_LOADER_ENTRY) {
		uint8_t *x = script + o;
		uint32_t cmd = (uint32_t)unit_le(x, 4);
		int dst = !strcmp((char *)x + 4, names[0]) ? 0 : 1;

		assert_true(!strcmp((char *)x + 4, names[dst]));
		if (cmd == 1) {
			assert_int_equal(x[4 + 56 + 4], dst == 0 ? 2 : 1); /* FSEG / HIGH zone */
			nalloc++;
		} else if (cmd == 2) {
			uint32_t off = (uint32_t)unit_le(x + 4 + 112, 4);
			uint8_t sz = x[4 + 116];
			uint64_t v = unit_le(mem[dst] + off, sz) + at[1];

			assert_string_equal((char *)x + 60, names[1]);
			memcpy(mem[dst] + off, &v, sz);
		} else if (cmd == 3) {
			uint32_t cs = (uint32_t)unit_le(x + 60, 4), start = (uint32_t)unit_le(x + 64, 4),
				 len = (uint32_t)unit_le(x + 68, 4);
			mem[dst][cs] = (uint8_t)(mem[dst][cs] - unit_sum8(mem[dst] + start, len));
		} else {
			fail_msg("unknown loader command %u", cmd);
		}
	}
	assert_int_equal(nalloc, 2);
	assert_memory_equal(mem[0], "RSD PTR ", 8);
	assert_int_equal(unit_sum8(mem[0], 20), 0);
	assert_int_equal(unit_sum8(mem[0], 36), 0);
	/* XSDT (64-bit) and RSDT (32-bit) both lead to a FADT and a MADT that add up. */
	for (int w = 0; w < 2; w++) {
		uint64_t t = w ? unit_le(mem[0] + 24, 8) : unit_le(mem[0] + 16, 4);
		const uint8_t *h = mem[1] + (t - at[1]);
		unsigned esz = w ? 8 : 4;

		assert_memory_equal(h, w ? "XSDT" : "RSDT", 4);
		assert_int_equal(unit_sum8(h, unit_le(h + 4, 4)), 0);
		assert_int_equal(unit_le(h + 4, 4), 36 + 2 * esz);
		for (int i = 0; i < 2; i++) {
			const uint8_t *tb = mem[1] + (unit_le(h + 36 + i * esz, esz) - at[1]);
			assert_memory_equal(tb, i ? "APIC" : "FACP", 4);
			assert_int_equal(unit_sum8(tb, unit_le(tb + 4, 4)), 0);
			if (!i) {
				const uint8_t *dsdt = mem[1] + (unit_le(tb + 140, 8) - at[1]);
				assert_int_equal(unit_le(tb + 40, 4), unit_le(tb + 140, 8));
				assert_memory_equal(dsdt, "DSDT", 4);
				assert_int_equal(unit_sum8(dsdt, unit_le(dsdt + 4, 4)), 0);
				assert_int_equal((unit_le(tb + 132, 8) - at[1]) % 64, 0); /* FACS */
				assert_int_equal(tb[108], 0x32); /* the RTC's century register */
			}
		}
	}
	free(script);
	fw_cfg_free(&f);
	bus_free(&vm.pio);
}

static time_t fixed_now(void)
{
	return 1700000000; /* 2023-11-14 22:13:20 UTC, a Tuesday */
}

static time_t moving_clock;

static time_t moving_now(void)
{
	return moving_clock;
}

static uint8_t cmos_get(struct cmos *c, uint8_t reg)
{
	uint8_t v;

	cmos_io(c, 0, &reg, 1, true);
	cmos_io(c, 1, &v, 1, false);
	return v;
}

static void cmos_put(struct cmos *c, uint8_t reg, uint8_t v)
{
	cmos_io(c, 0, &reg, 1, true);
	cmos_io(c, 1, &v, 1, true);
}

static void test_cmos(void **state)
{
	struct cmos c;
	struct err e = {0};

	(void)state;
	/* 3 GiB below the hole, 1 GiB above 4 GiB, 4 CPUs */
	assert_int_equal(cmos_init(&c, NULL, 3ULL << 30, 1ULL << 30, 4, &e), 0);
	c.now = fixed_now;
	assert_int_equal(cmos_get(&c, 0x15) | cmos_get(&c, 0x16) << 8, 640);
	assert_int_equal(cmos_get(&c, 0x17) | cmos_get(&c, 0x18) << 8, 0xfc00);
	assert_int_equal(cmos_get(&c, 0x34) | cmos_get(&c, 0x35) << 8,
			 ((3u << 30) - (16u << 20)) >> 16);
	assert_int_equal(cmos_get(&c, 0x5b) | cmos_get(&c, 0x5c) << 8 | cmos_get(&c, 0x5d) << 16,
			 (1u << 30) >> 16);
	assert_int_equal(cmos_get(&c, 0x5f), 3);
	assert_int_equal(cmos_get(&c, 0x0d), 0x80);
	/* BCD, 24-hour */
	assert_int_equal(cmos_get(&c, 0x00), 0x20);
	assert_int_equal(cmos_get(&c, 0x02), 0x13);
	assert_int_equal(cmos_get(&c, 0x04), 0x22);
	assert_int_equal(cmos_get(&c, 0x07), 0x14);
	assert_int_equal(cmos_get(&c, 0x08), 0x11);
	assert_int_equal(cmos_get(&c, 0x09), 0x23);
	assert_int_equal(cmos_get(&c, 0x32), 0x20);
	/* binary, 12-hour: 10 PM */
	cmos_put(&c, 0x0b, 0x04);
	assert_int_equal(cmos_get(&c, 0x04), 0x80 | 10);
	assert_int_equal(cmos_get(&c, 0x09), 23);
	/* The guest sets the clock one hour back (SET, write, release): it keeps that offset. */
	cmos_put(&c, 0x0b, 0x80 | 0x04 | 0x02);
	cmos_put(&c, 0x04, 21);
	cmos_put(&c, 0x0b, 0x04 | 0x02);
	assert_int_equal(c.offset_s, -3600);
	assert_int_equal(cmos_get(&c, 0x04), 21);
	assert_int_equal(cmos_get(&c, 0x02), 13);

	/* Time passes unread: an alarm byte written then is no time and moves no clock; a time
	 * byte written then counts against the clock as it is now, not as last read. */
	assert_int_equal(cmos_init(&c, NULL, 64 << 20, 0, 1, &e), 0);
	c.now = moving_now;
	moving_clock = 1700000000;
	cmos_put(&c, 0x0b, 0x04 | 0x02); /* binary, 24-hour */
	assert_int_equal(cmos_get(&c, 0x04), 22);
	moving_clock += 3 * 3600;
	cmos_put(&c, 0x01, 0x30); /* the alarm's seconds */
	assert_int_equal(c.offset_s, 0);
	assert_int_equal(cmos_get(&c, 0x04), 1); /* 01:13 the next day */
	moving_clock += 3600;
	cmos_put(&c, 0x00, 20); /* seconds, written outside SET mode: they were 20 already */
	assert_int_equal(c.offset_s, 0);
}

static void test_piix_routing(void **state)
{
	static struct vm vm;
	static struct pci p;
	static struct piix x;
	struct err e = {0};

	(void)state;
	vm_init(&vm);
	assert_int_equal(gm_init(&vm.mem, 16 << 20, &e), 0);
	assert_int_equal(pci_init_at(&p, &vm, 0x80000000u, &e), 0);
	assert_int_equal(piix_init(&x, &p, &e), 0);
	assert_int_equal(x.isa.slot, 1);
	/* 440FX IDs with QEMU's subsystem IDs (what SeaBIOS looks for), PIIX3 in slot 1 */
	assert_int_equal(p.bridge.cfg[2] | p.bridge.cfg[3] << 8, 0x1237);
	assert_int_equal(p.bridge.cfg[0x2c] | p.bridge.cfg[0x2d] << 8, 0x1af4);
	assert_int_equal(x.isa.cfg[2] | x.isa.cfg[3] << 8, 0x7000);
	/* slot s INTA# -> PIRQ (s-1)&3 -> 10, 10, 11, 11 */
	assert_int_equal(p.slot_irq[2], 10);
	assert_int_equal(p.slot_irq[3], 11);
	assert_int_equal(p.slot_irq[4], 11);
	assert_int_equal(p.slot_irq[5], 10);
	assert_int_equal(piix_slot_link(0), 3);
	/* Reprogramming PIRQB to IRQ 5 moves slot 2's line. */
	{
		uint8_t v = 5;
		pci_cfg_access(&x.isa, 0x61, &v, 1, true);
	}
	{
		struct pci_dev d = {.slot = 2, .bus = &p};
		pci_intx(&vm, &d, 1); /* KVM_IRQ_LINE fails here (no VM): only the state counts */
		assert_int_equal(x.irq_level[5], 1);
		assert_int_equal(x.irq_level[10], 0);
		pci_intx(&vm, &d, 0);
		assert_int_equal(x.irq_level[5], 0);
		/* IRQ 4 (COM1) and 9 (the SCI) are our other devices' lines: a PIRQ routed there
		 * drives nothing, so the guest cannot lower them. */
		for (uint8_t irq = 4; irq <= 9; irq += 5) {
			uint8_t v = irq;
			pci_cfg_access(&x.isa, 0x61, &v, 1, true);
			pci_intx(&vm, &d, 1);
			assert_int_equal(x.irq_level[irq], 0);
			pci_intx(&vm, &d, 0);
		}
	}
	bus_free(&vm.pio);
	bus_free(&vm.mmio);
	gm_free(&vm.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fw_cfg),
		cmocka_unit_test(test_table_loader),
		cmocka_unit_test(test_cmos),
		cmocka_unit_test(test_piix_routing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
