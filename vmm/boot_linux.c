/* The Linux x86 boot protocol (Documentation/arch/x86/boot.rst), 64-bit entry only. */
#include "vmm/boot.h"

#include <string.h>

#include "vmm/layout.h"
#include "vmm/log.h"
#include "vmm/vm.h"

/* Offsets in the zero page (struct boot_params) and its setup header. */
#define ZP_EXT_RAMDISK_IMAGE 0x0c0
#define ZP_EXT_RAMDISK_SIZE 0x0c4
#define ZP_EXT_CMD_LINE_PTR 0x0c8
#define ZP_ACPI_RSDP 0x070
#define ZP_E820_ENTRIES 0x1e8
#define ZP_E820_TABLE 0x2d0
#define ZP_E820_MAX 128
#define HDR_START 0x1f1
#define HDR_SETUP_SECTS 0x1f1
#define HDR_VID_MODE 0x1fa
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_INIT_SIZE 0x260
#define HDR_END_MIN 0x268

#define LOADED_HIGH 0x01
#define XLF_KERNEL_64 0x01

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

bool boot_is_elf(const uint8_t *buf, size_t len)
{
	return len >= 4 && memcmp(buf, "\177ELF", 4) == 0;
}

uint64_t boot_put_cmdline(struct vm *vm, const char *cmdline, size_t max, struct err *e)
{
	size_t n = strlen(cmdline);

	if (max > LAYOUT_CMDLINE_MAX - 1)
		max = LAYOUT_CMDLINE_MAX - 1;
	if (n > max) {
		err_set(e, ERR_USAGE, "--cmdline: %zu bytes, this kernel takes at most %zu", n,
			max);
		return 0;
	}
	if (gm_write(&vm->mem, LAYOUT_CMDLINE, cmdline, n + 1) < 0) {
		err_set(e, ERR_FAIL, "command line does not fit in guest RAM");
		return 0;
	}
	return LAYOUT_CMDLINE;
}

uint64_t boot_put_initrd(struct vm *vm, const struct boot_input *in, uint64_t low, uint64_t high,
			 struct err *e)
{
	uint64_t addr;

	if (high > gm_low_end(&vm->mem))
		high = gm_low_end(&vm->mem);
	low = (low + 0xfff) & ~0xfffULL;
	if (high < low || high - low < in->initrd_len) {
		err_set(e, ERR_USAGE,
			"--initrd: %zu bytes do not fit between the kernel (ends %#llx) and %#llx; "
			"give the machine more memory",
			in->initrd_len, (unsigned long long)low, (unsigned long long)high);
		return 0;
	}
	addr = (high - in->initrd_len) & ~0xfffULL;
	if (gm_write(&vm->mem, addr, in->initrd, in->initrd_len) < 0) {
		err_set(e, ERR_FAIL, "initrd does not fit in guest RAM");
		return 0;
	}
	return addr;
}

uint64_t boot_zero_page(struct vm *vm, const struct boot_input *in, const uint8_t *hdr,
			size_t hdr_len, uint64_t kernel_end, struct err *e)
{
	uint8_t *zp = gm_ptr(&vm->mem, LAYOUT_BOOT_INFO, 4096);
	struct e820_entry map[GM_E820_MAX];
	uint64_t initrd_max = 0x37ffffff, cmdline;
	size_t cmdline_max = 255;
	unsigned n;

	if (!zp) {
		err_set(e, ERR_FAIL, "zero page does not fit in guest RAM");
		return 0;
	}
	memset(zp, 0, 4096);
	if (hdr) {
		memcpy(zp + HDR_START, hdr + HDR_START, hdr_len - HDR_START);
		if (rd16(zp + HDR_VERSION) >= 0x0203)
			initrd_max = rd32(zp + HDR_INITRD_ADDR_MAX);
		if (rd16(zp + HDR_VERSION) >= 0x0206)
			cmdline_max = rd32(zp + HDR_CMDLINE_SIZE);
	} else {
		/* An ELF vmlinux has no setup header: give it the fields a loader would. */
		wr16(zp + HDR_BOOT_FLAG, 0xaa55);
		memcpy(zp + HDR_MAGIC, "HdrS", 4);
		wr16(zp + HDR_VERSION, 0x020f);
		wr32(zp + HDR_KERNEL_ALIGNMENT, 0x1000000);
		initrd_max = 0x7fffffff;
		cmdline_max = LAYOUT_CMDLINE_MAX - 1;
	}
	zp[HDR_TYPE_OF_LOADER] = 0xff;
	zp[HDR_LOADFLAGS] |= LOADED_HIGH;
	wr16(zp + HDR_VID_MODE, 0xffff);
	cmdline = boot_put_cmdline(vm, in->cmdline, cmdline_max, e);
	if (!cmdline)
		return 0;
	wr32(zp + HDR_CMD_LINE_PTR, (uint32_t)cmdline);
	wr32(zp + ZP_EXT_CMD_LINE_PTR, 0);
	if (in->initrd) {
		uint64_t a = boot_put_initrd(vm, in, kernel_end, initrd_max + 1, e);
		if (!a)
			return 0;
		wr32(zp + HDR_RAMDISK_IMAGE, (uint32_t)a);
		wr32(zp + HDR_RAMDISK_SIZE, (uint32_t)in->initrd_len);
		wr32(zp + ZP_EXT_RAMDISK_IMAGE, (uint32_t)(a >> 32));
		wr32(zp + ZP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)in->initrd_len >> 32));
	}
	if (in->rsdp) {
		wr32(zp + ZP_ACPI_RSDP, (uint32_t)in->rsdp);
		wr32(zp + ZP_ACPI_RSDP + 4, 0);
	}
	n = gm_e820(&vm->mem, map, GM_E820_MAX);
	zp[ZP_E820_ENTRIES] = (uint8_t)n;
	memcpy(zp + ZP_E820_TABLE, map, n * sizeof(map[0]));
	return LAYOUT_BOOT_INFO;
}

int boot_bzimage(struct vm *vm, const struct boot_input *in, struct err *e)
{
	const uint8_t *k = in->kernel;
	size_t setup, hdr_end, payload;
	uint64_t init_size, kernel_end, zp;
	uint16_t version;

	if (in->kernel_len < HDR_END_MIN || rd16(k + HDR_BOOT_FLAG) != 0xaa55 ||
	    memcmp(k + HDR_MAGIC, "HdrS", 4) != 0)
		return err_set(e, ERR_USAGE,
			       "--kernel: not a bzImage (no boot flag or HdrS magic)");
	version = rd16(k + HDR_VERSION);
	if (version < 0x020c)
		return err_set(
			e, ERR_UNSUPPORTED,
			"--kernel: boot protocol %u.%02u is too old (need 2.12 for the 64-bit "
			"entry)",
			version >> 8, version & 0xff);
	if (!(k[HDR_XLOADFLAGS] & XLF_KERNEL_64))
		return err_set(e, ERR_UNSUPPORTED, "--kernel: this bzImage has no 64-bit entry");
	if (!(k[HDR_LOADFLAGS] & LOADED_HIGH))
		return err_set(e, ERR_UNSUPPORTED,
			       "--kernel: zImage (loaded low) is not supported");
	setup = ((size_t)(k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : 4) + 1) * 512;
	if (setup >= in->kernel_len)
		return err_set(e, ERR_CORRUPT,
			       "--kernel: setup_sects runs past the end of the file");
	hdr_end = HDR_JUMP + 2 + k[HDR_JUMP + 1];
	if (hdr_end > setup || hdr_end > ZP_E820_TABLE)
		hdr_end = HDR_END_MIN;
	payload = in->kernel_len - setup;
	init_size = rd32(k + HDR_INIT_SIZE);
	if (init_size < payload)
		init_size = payload;
	if (LAYOUT_HIGH + init_size > gm_low_end(&vm->mem))
		return err_set(
			e, ERR_USAGE,
			"--kernel: needs %llu MiB from 1 MiB on; give the machine more memory",
			(unsigned long long)(init_size >> 20) + 1);
	if (gm_write(&vm->mem, LAYOUT_HIGH, k + setup, payload) < 0)
		return err_set(e, ERR_FAIL, "kernel does not fit in guest RAM");
	kernel_end = LAYOUT_HIGH + init_size;
	zp = boot_zero_page(vm, in, k, hdr_end, kernel_end, e);
	if (!zp)
		return -1;
	log_msg(LOG_INFO, "boot: bzImage through the 64-bit boot protocol");
	return vm_setup_boot_cpu(vm, VM_BOOT_64, LAYOUT_HIGH + 0x200, zp, e);
}
