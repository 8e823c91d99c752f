/* Firmware boot: a BIOS image (Debian's SeaBIOS by default) mapped as ROM just below 4 GiB,
 * its last 128 KiB copied to 0xe0000-0xfffff as a PC's shadowed BIOS is, the vCPUs left at
 * the reset vector; the firmware's debug port (0x402) into the VMM log; and what the firmware
 * reads from fw_cfg (RAM, e820, CPUs, boot order, ACPI tables). */
#ifndef ENVUP_VMM_FIRMWARE_H
#define ENVUP_VMM_FIRMWARE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "vmm/acpi.h"
#include "vmm/acpi_loader.h"
#include "vmm/fw_cfg.h"

struct vm;

/* Debian's SeaBIOS (package seabios): what --firmware without a file boots. */
#define FIRMWARE_DEFAULT "/usr/share/seabios/bios.bin"
#define FIRMWARE_DEFAULT_PACKAGE "seabios"
#define FIRMWARE_LOW_SIZE 0x20000u /* the part that also appears at 0xe0000 */
#define FIRMWARE_MIN FIRMWARE_LOW_SIZE
#define FIRMWARE_MAX 0x40000u /* up to the KVM TSS pages below (vmm/kvm.c) */
#define FIRMWARE_DEBUG_PORT 0x402
#define FIRMWARE_DEBUG_LINES 4000 /* lines logged at most: the guest writes them */

struct firmware {
	struct vm *vm;
	char path[256];
	void *image;
	size_t size;
	char line[240];
	size_t len;
	unsigned lines;
	char failed[240]; /* the firmware's last "Boot failed" line */
};

/* Maps the image at path (NULL: FIRMWARE_DEFAULT) into this process after checking its size;
 * before any KVM work, so that a wrong file is reported at once. */
int firmware_open(struct firmware *fw, const char *path, struct err *e);

/* Puts the opened image below 4 GiB as ROM, copies its last 128 KiB to 0xe0000 and claims the
 * debug port. */
int firmware_load(struct firmware *fw, struct vm *vm, struct err *e);

/* Fills fw_cfg for vm: RAM size and e820, CPU count, no graphics (SeaBIOS then puts its
 * console on COM1), the boot order (the disk in PCI slot boot_slot, or none when negative,
 * then HALT), and the ACPI tables of ac through the table loader. */
int firmware_config(struct fw_cfg *f, struct vm *vm, const struct acpi_config *ac, int boot_slot,
		    struct err *e);

/* The debug port handler (0x402): reads answer 0xe9 (so firmware knows it is there), bytes
 * written are logged line by line. */
void firmware_debug_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write);

/* Unmaps the image. */
void firmware_free(struct firmware *fw);

#endif
