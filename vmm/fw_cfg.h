/* fw_cfg: the firmware configuration device of QEMU's PC, which SeaBIOS reads to learn about
 * the machine (RAM, e820, CPUs, boot order, ACPI tables). The port interface only: a 16-bit
 * selector at 0x510 picks an item, 0x511 reads it byte by byte; no DMA interface (the ID item
 * says so, and SeaBIOS then reads through the data port). */
#ifndef ENVUP_VMM_FW_CFG_H
#define ENVUP_VMM_FW_CFG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct vm;

#define FW_CFG_PORT_SEL 0x510
#define FW_CFG_PORT_DATA 0x511

#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NOGRAPHIC 0x04
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_BOOT_MENU 0x0e
#define FW_CFG_MAX_CPUS 0x0f
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_FILE_FIRST 0x20
#define FW_CFG_IRQ0_OVERRIDE 0x8002
#define FW_CFG_FILE_NAME 56 /* bytes of a name in the directory, NUL included */
#define FW_CFG_MAX_ITEMS 64

struct fw_cfg_item {
	uint16_t key;
	char name[FW_CFG_FILE_NAME]; /* "" for items with a fixed key */
	uint8_t *data;
	uint32_t len;
};

struct fw_cfg {
	struct fw_cfg_item item[FW_CFG_MAX_ITEMS];
	unsigned n;
	uint16_t next_file_key;
	const struct fw_cfg_item *cur; /* the selected item, NULL if none */
	uint32_t off;		       /* read position in it */
};

/* Claims the ports and adds the signature, ID and the (empty) file directory. */
int fw_cfg_init(struct fw_cfg *f, struct vm *vm, struct err *e);

/* Adds (a copy of) an item with a fixed key; replaces one with the same key. */
int fw_cfg_add(struct fw_cfg *f, uint16_t key, const void *data, uint32_t len, struct err *e);

/* Adds (a copy of) a named file, listed in the directory in the order added. */
int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, uint32_t len,
		    struct err *e);

/* The port handler (also the unit tests' entry point): off 0 is the selector, 1 the data. */
void fw_cfg_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write);

/* Frees the items. */
void fw_cfg_free(struct fw_cfg *f);

#endif
