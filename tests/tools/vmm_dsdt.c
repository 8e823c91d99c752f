/* Test helper: writes envvmm's DSDT (header and the AML of vmm/acpi_dsdt.c) to stdout, with the
 * OEM ID and OEM table ID given, so that a stock Linux under QEMU can take it in place of
 * QEMU's own through the initrd table upgrade (which matches tables by those IDs).
 * usage: vmm_dsdt OEMID OEMTABLEID */
#include <stdio.h>
#include <string.h>

#include "vmm/acpi_dsdt.h"

int main(int argc, char **argv)
{
	static unsigned char t[4096];
	size_t n;
	unsigned len;
	unsigned char sum = 0;

	if (argc != 3 || strlen(argv[1]) > 6 || strlen(argv[2]) > 8) {
		fprintf(stderr, "usage: vmm_dsdt OEMID(<=6) OEMTABLEID(<=8)\n");
		return 2;
	}
	n = acpi_dsdt_aml(t + 36, sizeof(t) - 36);
	if (!n)
		return 1;
	len = (unsigned)(36 + n);
	memcpy(t, "DSDT", 4);
	memcpy(t + 4, &len, 4);
	t[8] = 2;
	memset(t + 10, ' ', 14);
	memcpy(t + 10, argv[1], strlen(argv[1]));
	memcpy(t + 16, argv[2], strlen(argv[2]));
	t[24] = 0xff; /* OEM revision: newer than the table it replaces */
	memcpy(t + 28, "ENVU", 4);
	t[32] = 1;
	for (unsigned i = 0; i < len; i++)
		sum = (unsigned char)(sum + t[i]);
	t[9] = (unsigned char)(0 - sum);
	return fwrite(t, 1, len, stdout) == len ? 0 : 1;
}
