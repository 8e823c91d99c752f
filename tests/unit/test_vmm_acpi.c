/* envvmm's ACPI tables without KVM: every table's checksum, and the DSDT's AML as ACPICA's
 * disassembler (iasl -d, the oracle) reads it: \_S5, the PCI host bridge PCI0 with its
 * windows, and a _PRT entry per slot that matches the wiring in vmm/pci.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/fsutil.h"
#include "tests/unit/unit.h"
#include "vmm/acpi.h"
#include "vmm/layout.h"
#include "vmm/memory.h"
#include "vmm/pci.h"
#include "vmm/vm.h"

/* The table at gpa, after checking its length and checksum. */
static const uint8_t *table(struct vm *vm, uint64_t gpa, const char *sig)
{
	const uint8_t *h = gm_ptr(&vm->mem, gpa, 36);
	uint32_t len;

	assert_non_null(h);
	assert_memory_equal(h, sig, 4);
	len = (uint32_t)unit_le(h + 4, 4);
	assert_true(len >= 36 && len <= LAYOUT_ACPI_SIZE);
	h = gm_ptr(&vm->mem, gpa, len);
	assert_non_null(h);
	if (unit_sum8(h, len) != 0)
		fail_msg("%s: checksum does not add up", sig);
	return h;
}

/* The file's text without whitespace and comments, for matching iasl's multi-line output. */
static char *squeezed(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = calloc(1, 1 << 20);
	size_t n = 0;
	int c, prev = 0;
	enum { CODE, LINE_COMMENT, BLOCK_COMMENT } in = CODE;

	assert_true(f && s);
	while ((c = fgetc(f)) != EOF && n < (1 << 20) - 1) {
		if (in == LINE_COMMENT) {
			in = c == '\n' ? CODE : in;
		} else if (in == BLOCK_COMMENT) {
			in = prev == '*' && c == '/' ? CODE : in;
		} else if (c == '/' && n && s[n - 1] == '/') {
			n--;
			in = LINE_COMMENT;
		} else if (c == '*' && n && s[n - 1] == '/') {
			n--;
			in = BLOCK_COMMENT;
			c = 0; /* the star that opened it cannot also close it */
		} else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			s[n++] = (char)c;
		}
		prev = c;
	}
	s[n] = '\0';
	fclose(f);
	return s;
}

/* Fails with iasl's listing when the squeezed disassembly lacks want. */
static void expect(char *dsl, const char *want, const char *path)
{
	if (strstr(dsl, want))
		return;
	(void)unit_sh("cat %s >&2", path);
	free(dsl);
	fail_msg("the disassembled DSDT lacks %s", want);
}

static void test_tables(void **state)
{
	static struct vm vm;
	struct err e = {0};
	const uint8_t *rsdp, *xsdt, *fadt = NULL, *madt = NULL, *dsdt;
	char path[600], *dsl;
	FILE *f;

	(void)state;
	vm_init(&vm);
	vm.ncpus = 3;
	assert_int_equal(gm_init(&vm.mem, 16 << 20, &e), 0);
	if (acpi_build(&vm, &e) < 0)
		fail_msg("acpi_build: %s", e.msg);
	rsdp = gm_ptr(&vm.mem, acpi_rsdp_addr(), 36);
	assert_memory_equal(rsdp, "RSD PTR ", 8);
	assert_int_equal(unit_sum8(rsdp, 20), 0);
	assert_int_equal(unit_sum8(rsdp, 36), 0);
	xsdt = table(&vm, unit_le(rsdp + 24, 8), "XSDT");
	for (uint32_t o = 36; o + 8 <= unit_le(xsdt + 4, 4); o += 8) {
		const uint8_t *t = gm_ptr(&vm.mem, unit_le(xsdt + o, 8), 4);

		if (!memcmp(t, "FACP", 4))
			fadt = table(&vm, unit_le(xsdt + o, 8), "FACP");
		if (!memcmp(t, "APIC", 4))
			madt = table(&vm, unit_le(xsdt + o, 8), "APIC");
	}
	assert_non_null(fadt);
	assert_non_null(madt);
	assert_int_equal(unit_le(fadt + 36, 4), 0); /* FIRMWARE_CTRL: X_FIRMWARE_CTRL is set */
	/* the FACS has no checksum; signature and length only */
	assert_memory_equal(gm_ptr(&vm.mem, unit_le(fadt + 132, 8), 8), "FACS\x40\0\0\0", 8);
	assert_int_equal(unit_le(fadt + 132, 8) % 64, 0);
	dsdt = table(&vm, unit_le(fadt + 140, 8), "DSDT");

	if (!unit_have("iasl"))
		skip(); /* the disassembler comes with acpica-tools (make deps) */
	snprintf(path, sizeof(path), "%s/dsdt.dat", unit_dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(dsdt, 1, unit_le(dsdt + 4, 4), f), unit_le(dsdt + 4, 4));
	fclose(f);
	if (unit_sh("cd %s && iasl -d dsdt.dat >iasl.log 2>&1", unit_dir) != 0) {
		(void)unit_sh("cat %s/iasl.log >&2", unit_dir);
		fail_msg("iasl -d refused the DSDT");
	}
	snprintf(path, sizeof(path), "%s/dsdt.dsl", unit_dir);
	dsl = squeezed(path);
	expect(dsl, "Name(_S5,Package(0x04){0x05,0x05,Zero,Zero})", path);
	expect(dsl, "Scope(\\_SB){Device(PCI0){Name(_HID,EisaId(\"PNP0A03\"))", path);
	expect(dsl, "Name(_BBN,Zero)", path);
	/* bus numbers, the configuration ports, I/O around them, the BAR window */
	expect(dsl,
	       "WordBusNumber(ResourceProducer,MinFixed,MaxFixed,PosDecode,"
	       "0x0000,0x0000,0x00FF,0x0000,0x0100",
	       path);
	expect(dsl, "IO(Decode16,0x0CF8,0x0CF8,0x01,0x08", path);
	expect(dsl, "0x0000,0x0000,0x0CF7,0x0000,0x0CF8", path);
	expect(dsl, "0x0000,0x0D00,0xFFFF,0x0000,0xF300", path);
	expect(dsl,
	       "DWordMemory(ResourceProducer,PosDecode,MinFixed,MaxFixed,"
	       "NonCacheable,ReadWrite,0x00000000,0xE0000000,0xFEBFFFFF,"
	       "0x00000000,0x1EC00000",
	       path);
	/* every slot's INTA# on the IOAPIC input the device model raises */
	for (unsigned s = 1; s < PCI_SLOTS; s++) {
		char want[80];

		snprintf(want, sizeof(want), "Package(0x04){0x%04XFFFF,Zero,Zero,0x%02X}", s,
			 pci_slot_irq(s));
		expect(dsl, want, path);
	}
	free(dsl);
	gm_free(&vm.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tables, unit_setup_dir, unit_teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
