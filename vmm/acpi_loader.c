#include "vmm/acpi_loader.h"

#include <stdlib.h>
#include <string.h>

#define FILE_RSDP "etc/acpi/rsdp"
#define FILE_TABLES "etc/acpi/tables"
#define CMD_ALLOCATE 1
#define CMD_ADD_POINTER 2
#define CMD_ADD_CHECKSUM 3
#define ZONE_HIGH 1
#define ZONE_FSEG 2 /* 0xe0000-0xfffff, where an OS looks for the RSDP */

struct script {
	uint8_t *p;
	size_t n;
};

static uint8_t *entry(struct script *s, uint32_t cmd)
{
	uint8_t *e = s->p + s->n * ACPI_LOADER_ENTRY;

	memset(e, 0, ACPI_LOADER_ENTRY);
	memcpy(e, &cmd, 4);
	s->n++;
	return e;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4); /* the script is little-endian, as this host */
}

static void allocate(struct script *s, const char *file, uint32_t align, uint8_t zone)
{
	uint8_t *e = entry(s, CMD_ALLOCATE);

	strcpy((char *)e + 4, file);
	put32(e + 4 + FW_CFG_FILE_NAME, align);
	e[4 + FW_CFG_FILE_NAME + 4] = zone;
}

static void add_pointer(struct script *s, const char *dest, uint32_t off, uint8_t size)
{
	uint8_t *e = entry(s, CMD_ADD_POINTER);

	strcpy((char *)e + 4, dest);
	strcpy((char *)e + 4 + FW_CFG_FILE_NAME, FILE_TABLES);
	put32(e + 4 + 2 * FW_CFG_FILE_NAME, off);
	e[4 + 2 * FW_CFG_FILE_NAME + 4] = size;
}

/* The loader subtracts the range's byte sum from the byte at csum: the range then sums to 0,
 * whatever the byte held, so it runs after the pointers it covers were relocated. */
static void add_checksum(struct script *s, const char *file, uint32_t csum, uint32_t start,
			 uint32_t len)
{
	uint8_t *e = entry(s, CMD_ADD_CHECKSUM);

	strcpy((char *)e + 4, file);
	put32(e + 4 + FW_CFG_FILE_NAME, csum);
	put32(e + 4 + FW_CFG_FILE_NAME + 4, start);
	put32(e + 4 + FW_CFG_FILE_NAME + 8, len);
}

int acpi_loader_add(struct fw_cfg *f, const struct acpi_config *c, struct err *e)
{
	uint8_t tables[ACPI_TABLES_MAX];
	struct acpi_blobs b = {.tables = tables};
	uint8_t cmds[32 * ACPI_LOADER_ENTRY];
	struct script s = {cmds, 0};
	int r;

	/* Built for base 0: each pointer holds its target's offset in the tables blob, to which
	 * the loader adds the blob's address. */
	if (acpi_tables(c, 0, &b, e) < 0)
		return -1;
	allocate(&s, FILE_RSDP, 16, ZONE_FSEG);
	allocate(&s, FILE_TABLES, 64, ZONE_HIGH); /* the FACS in it wants 64-byte alignment */
	for (unsigned i = 0; i < b.nptr; i++)
		add_pointer(&s, b.ptr[i].in_rsdp ? FILE_RSDP : FILE_TABLES, b.ptr[i].off,
			    b.ptr[i].size);
	for (unsigned i = 0; i < b.ntables; i++)
		add_checksum(&s, FILE_TABLES, b.table[i].off + 9, b.table[i].off, b.table[i].len);
	add_checksum(&s, FILE_RSDP, 8, 0, 20);	/* ACPI 1 checksum */
	add_checksum(&s, FILE_RSDP, 32, 0, 36); /* extended checksum */
	r = fw_cfg_add_file(f, FILE_RSDP, b.rsdp, sizeof(b.rsdp), e);
	if (r == 0)
		r = fw_cfg_add_file(f, FILE_TABLES, tables, b.len, e);
	if (r == 0)
		r = fw_cfg_add_file(f, "etc/table-loader", cmds,
				    (uint32_t)(s.n * ACPI_LOADER_ENTRY), e);
	return r;
}
