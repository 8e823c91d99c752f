#include "vmm/fw_cfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vm.h"

static struct fw_cfg_item *find(struct fw_cfg *f, uint16_t key)
{
	for (unsigned i = 0; i < f->n; i++)
		if (f->item[i].key == key)
			return &f->item[i];
	return NULL;
}

static int put_item(struct fw_cfg *f, uint16_t key, const char *name, const void *data,
		    uint32_t len, struct err *e)
{
	struct fw_cfg_item *it = find(f, key);
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return err_set(e, ERR_FAIL, "fw_cfg: out of memory");
	if (len)
		memcpy(copy, data, len);
	if (!it) {
		if (f->n == FW_CFG_MAX_ITEMS) {
			free(copy);
			return err_set(e, ERR_FAIL, "fw_cfg: more than %d items", FW_CFG_MAX_ITEMS);
		}
		it = &f->item[f->n++];
		it->key = key;
	}
	free(it->data);
	it->data = copy;
	it->len = len;
	snprintf(it->name, sizeof(it->name), "%s", name);
	f->cur = NULL; /* the item may have moved: the guest selects again before reading */
	return 0;
}

/* The directory (key 0x19): a big-endian count, then per file its big-endian size and key,
 * two reserved bytes and the 56-byte name, in the order the files were added. */
static int rebuild_dir(struct fw_cfg *f, struct err *e)
{
	uint8_t dir[4 + FW_CFG_MAX_ITEMS * 64] = {0};
	uint32_t n = 0;

	for (unsigned i = 0; i < f->n; i++) {
		const struct fw_cfg_item *it = &f->item[i];
		uint8_t *d = dir + 4 + n * 64;
		if (!it->name[0])
			continue;
		for (int b = 0; b < 4; b++)
			d[b] = (uint8_t)(it->len >> (24 - 8 * b));
		d[4] = (uint8_t)(it->key >> 8);
		d[5] = (uint8_t)it->key;
		memcpy(d + 8, it->name, FW_CFG_FILE_NAME);
		n++;
	}
	for (int b = 0; b < 4; b++)
		dir[b] = (uint8_t)(n >> (24 - 8 * b));
	return put_item(f, FW_CFG_FILE_DIR, "", dir, 4 + n * 64, e);
}

int fw_cfg_add(struct fw_cfg *f, uint16_t key, const void *data, uint32_t len, struct err *e)
{
	return put_item(f, key, "", data, len, e);
}

int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, uint32_t len,
		    struct err *e)
{
	if (!*name || strlen(name) >= FW_CFG_FILE_NAME)
		return err_set(e, ERR_FAIL, "fw_cfg: bad file name '%s'", name);
	for (unsigned i = 0; i < f->n; i++)
		if (!strcmp(f->item[i].name, name))
			return put_item(f, f->item[i].key, name, data, len, e) < 0
				       ? -1
				       : rebuild_dir(f, e);
	if (put_item(f, f->next_file_key, name, data, len, e) < 0)
		return -1;
	f->next_file_key++;
	return rebuild_dir(f, e);
}

void fw_cfg_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct fw_cfg *f = opaque;

	if (off == 0) {
		/* The selector: 16 bits; bit 15 marks architecture-specific items (part of the
		 * key), bit 14 asks for write access (not offered: every item is read-only). */
		if (write && len >= 2) {
			f->cur = find(f, (uint16_t)((data[0] | data[1] << 8) & ~0x4000));
			f->off = 0;
		} else if (!write) {
			memset(data, 0, len);
		}
		return;
	}
	if (write)
		return; /* the data port of a read-only item ignores writes */
	for (uint32_t i = 0; i < len; i++) {
		if (f->cur && f->off < f->cur->len)
			data[i] = f->cur->data[f->off++];
		else
			data[i] = 0; /* past the end, or nothing selected */
	}
}

int fw_cfg_init(struct fw_cfg *f, struct vm *vm, struct err *e)
{
	static const uint32_t id = 1; /* the traditional port interface, no DMA */

	memset(f, 0, sizeof(*f));
	f->next_file_key = FW_CFG_FILE_FIRST;
	if (fw_cfg_add(f, FW_CFG_SIGNATURE, "QEMU", 4, e) < 0 ||
	    fw_cfg_add(f, FW_CFG_ID, &id, 4, e) < 0 || rebuild_dir(f, e) < 0)
		return -1;
	/* The selector is a 16-bit register at 0x510 and the data byte is at 0x511: one range. */
	return bus_add(&vm->pio, FW_CFG_PORT_SEL, 2, fw_cfg_io, f, e);
}

void fw_cfg_free(struct fw_cfg *f)
{
	for (unsigned i = 0; i < f->n; i++) {
		free(f->item[i].data);
		f->item[i].data = NULL;
	}
	f->n = 0;
	f->cur = NULL;
}
