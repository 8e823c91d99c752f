/* Direct kernel boot: bzImage through the 64-bit Linux boot protocol, ELF through its PVH
 * note (or its 64-bit entry with a zero page). */
#ifndef ENVUP_VMM_BOOT_H
#define ENVUP_VMM_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct vm;

struct boot_input {
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd; /* NULL: none */
	size_t initrd_len;
	const char *cmdline; /* never NULL */
	uint64_t rsdp;	     /* ACPI RSDP address, 0 when there is none */
};

/* True when buf starts like an ELF file. */
bool boot_is_elf(const uint8_t *buf, size_t len);

/* Loads a bzImage with its zero page, e820, command line and initrd; sets the boot vCPU. */
int boot_bzimage(struct vm *vm, const struct boot_input *in, struct err *e);

/* Loads an ELF64 kernel; enters its PVH note (hvm_start_info) when it has one, else e_entry in
 * 64-bit mode with a zero page. */
int boot_elf(struct vm *vm, const struct boot_input *in, struct err *e);

/* Writes the command line (bounded by max) to its fixed place; returns its address or 0. */
uint64_t boot_put_cmdline(struct vm *vm, const char *cmdline, size_t max, struct err *e);

/* Copies the initrd to the highest 4 KiB-aligned place in [low, high); 0 on failure. */
uint64_t boot_put_initrd(struct vm *vm, const struct boot_input *in, uint64_t low, uint64_t high,
			 struct err *e);

/* Builds a zero page at its fixed place: hdr (may be NULL) is the kernel's setup header,
 * then e820, command line and initrd; returns its address or 0. */
uint64_t boot_zero_page(struct vm *vm, const struct boot_input *in, const uint8_t *hdr,
			size_t hdr_len, uint64_t kernel_end, struct err *e);

#endif
