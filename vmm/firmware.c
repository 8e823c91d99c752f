#include "vmm/firmware.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/layout.h"
#include "vmm/log.h"
#include "vmm/memory.h"
#include "vmm/vm.h"

#define BIOS_LOW 0xe0000ULL

/* SeaBIOS prints this once every boot entry failed; it would then wait (60 s by default) and
 * reset, which would look like a normal end. */
#define NO_BOOT_DEVICE "No bootable device"

static void debug_line(struct firmware *fw)
{
	fw->line[fw->len] = 0;
	if (fw->len && fw->line[fw->len - 1] == '\r')
		fw->line[--fw->len] = 0;
	for (size_t i = 0; i < fw->len; i++)
		if (fw->line[i] == '\r')
			fw->line[i] = '?'; /* a CR inside a line would overprint it in the log */
	if (fw->lines < FIRMWARE_DEBUG_LINES)
		log_msg(LOG_INFO, "firmware: %s", fw->line);
	else if (fw->lines == FIRMWARE_DEBUG_LINES)
		log_msg(LOG_WARN, "firmware: more than %d lines on the debug port; no more logged",
			FIRMWARE_DEBUG_LINES);
	if (fw->lines <= FIRMWARE_DEBUG_LINES)
		fw->lines++; /* stops counting: a guest never makes it wrap and log again */
	if (!strncmp(fw->line, "Boot failed", 11))
		snprintf(fw->failed, sizeof(fw->failed), "%s", fw->line);
	if (!strncmp(fw->line, NO_BOOT_DEVICE, strlen(NO_BOOT_DEVICE)))
		vm_request_exit(fw->vm, 1, "the firmware found nothing to boot (%s)",
				fw->failed[0] ? fw->failed : fw->line);
	fw->len = 0;
}

void firmware_debug_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct firmware *fw = opaque;

	(void)off;
	if (!write) {
		memset(data, 0, len);
		data[0] = 0xe9; /* QEMU's debugcon answer: "this port logs" */
		return;
	}
	for (uint32_t i = 0; i < len; i++) {
		char c = (char)data[i];
		if (c == '\n') {
			debug_line(fw);
			continue;
		}
		if (fw->len == sizeof(fw->line) - 1)
			debug_line(fw); /* an over-long line goes out in pieces */
		fw->line[fw->len++] = (c >= 0x20 && c < 0x7f) || c == '\r' ? c : '?';
	}
}

int firmware_open(struct firmware *fw, const char *path, struct err *e)
{
	struct stat st;
	int fd;

	memset(fw, 0, sizeof(*fw));
	if (!path) {
		path = FIRMWARE_DEFAULT;
		if (access(path, R_OK) < 0)
			return err_set(e, ERR_NOTFOUND,
				       "--firmware: %s: %s (install Debian's %s package, or name "
				       "a BIOS image)",
				       path, strerror(errno), FIRMWARE_DEFAULT_PACKAGE);
	}
	snprintf(fw->path, sizeof(fw->path), "%s", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(e, "--firmware %s", path);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return err_sys(e, "--firmware %s", path);
	}
	if (!S_ISREG(st.st_mode) || st.st_size < FIRMWARE_MIN || st.st_size > FIRMWARE_MAX ||
	    st.st_size % 0x10000) {
		close(fd);
		return err_set(e, ERR_USAGE,
			       "--firmware %s: %lld bytes; a BIOS image is 128 or 256 KiB (a "
			       "multiple of 64 KiB from %u to %u KiB)",
			       path, S_ISREG(st.st_mode) ? (long long)st.st_size : -1LL,
			       FIRMWARE_MIN >> 10, FIRMWARE_MAX >> 10);
	}
	fw->size = (size_t)st.st_size;
	/* A copy, not a mapping of the file: a file truncated or rewritten while the machine
	 * runs must change nothing (a shrunk mapping would fault envvmm or the vCPU). */
	fw->image = mmap(NULL, fw->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			 0);
	if (fw->image == MAP_FAILED) {
		fw->image = NULL;
		close(fd);
		return err_sys(e, "--firmware %s: out of memory", path);
	}
	for (size_t got = 0; got < fw->size;) {
		ssize_t n = pread(fd, (uint8_t *)fw->image + got, fw->size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int saved = n < 0 ? errno : EIO;

			close(fd);
			munmap(fw->image, fw->size);
			fw->image = NULL;
			errno = saved;
			return err_sys(e, "--firmware %s: read (the file changed?)", path);
		}
		got += (size_t)n;
	}
	close(fd);
	if (mprotect(fw->image, fw->size, PROT_READ) < 0)
		return err_sys(e, "--firmware %s: mprotect", path);
	return 0;
}

int firmware_load(struct firmware *fw, struct vm *vm, struct err *e)
{
	void *low = gm_ptr(&vm->mem, BIOS_LOW, FIRMWARE_LOW_SIZE);

	fw->vm = vm;
	if (!low)
		return err_set(e, ERR_USAGE, "--firmware: needs at least 1 MiB of RAM");
	memcpy(low, (uint8_t *)fw->image + fw->size - FIRMWARE_LOW_SIZE, FIRMWARE_LOW_SIZE);
	if (vm_map_rom(vm, LAYOUT_4G - fw->size, fw->image, fw->size, e) < 0)
		return -1;
	log_msg(LOG_INFO, "firmware %s (%zu KiB) at %#llx", fw->path, fw->size >> 10,
		(unsigned long long)(LAYOUT_4G - fw->size));
	return bus_add(&vm->pio, FIRMWARE_DEBUG_PORT, 1, firmware_debug_io, fw, e);
}

void firmware_free(struct firmware *fw)
{
	if (fw->image)
		munmap(fw->image, fw->size);
	fw->image = NULL;
}

/* QEMU's "etc/e820" entry layout. */
struct fw_e820 {
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

int firmware_config(struct fw_cfg *f, struct vm *vm, const struct acpi_config *ac, int boot_slot,
		    struct err *e)
{
	const struct guest_mem *m = &vm->mem;
	struct fw_e820 map[3];
	unsigned n = 0;
	uint64_t ram = m->total;
	uint16_t cpus = (uint16_t)vm->ncpus, one = 1, zero = 0;
	uint8_t irq0_override = 1; /* the PIT's IRQ 0 arrives on IOAPIC input 2 (see the MADT) */
	char order[96];

	/* The firmware keeps the low 1 MiB's layout (EBDA, BIOS area) to itself: RAM from 0. */
	map[n++] = (struct fw_e820){0, gm_low_end(m), E820_RAM};
	/* IOAPIC, LAPIC, the KVM TSS pages and the firmware: never RAM, never BARs. */
	map[n++] = (struct fw_e820){LAYOUT_IOAPIC, LAYOUT_4G - LAYOUT_IOAPIC, E820_RESERVED};
	if (m->n == 2)
		map[n++] = (struct fw_e820){m->r[1].gpa, m->r[1].size, E820_RAM};
	if (fw_cfg_add(f, FW_CFG_RAM_SIZE, &ram, 8, e) < 0 ||
	    fw_cfg_add(f, FW_CFG_NB_CPUS, &cpus, 2, e) < 0 ||
	    fw_cfg_add(f, FW_CFG_MAX_CPUS, &cpus, 2, e) < 0 ||
	    fw_cfg_add(f, FW_CFG_NOGRAPHIC, &one, 2, e) < 0 ||
	    fw_cfg_add(f, FW_CFG_BOOT_MENU, &zero, 2, e) < 0 ||
	    fw_cfg_add(f, FW_CFG_IRQ0_OVERRIDE, &irq0_override, 1, e) < 0 ||
	    fw_cfg_add_file(f, "etc/e820", map, (uint32_t)(n * sizeof(map[0])), e) < 0)
		return -1;
	if (boot_slot >= 0) {
		/* OpenFirmware-style path as QEMU writes it for a virtio-blk disk; "HALT" makes
		 * the order strict: nothing else is tried, so a disk that does not boot ends the
		 * boot instead of falling through to whatever else is there. */
		int len = snprintf(order, sizeof(order), "/pci@i0cf8/scsi@%x/disk@0,0\nHALT",
				   (unsigned)boot_slot);
		if (fw_cfg_add_file(f, "bootorder", order, (uint32_t)len + 1, e) < 0)
			return -1;
	}
	return acpi_loader_add(f, ac, e);
}
