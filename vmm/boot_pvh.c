/* ELF kernels: PT_LOAD segments at their physical addresses, entered through the PVH note
 * (XEN_ELFNOTE_PHYS32_ENTRY, hvm_start_info in ebx) or, without one, at e_entry in 64-bit
 * mode with a zero page. */
#include "vmm/boot.h"

#include <elf.h>
#include <string.h>

#include "vmm/layout.h"
#include "vmm/log.h"
#include "vmm/vm.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578
#define ELF_MAX_PHDRS 64

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

/* Looks through one PT_NOTE segment for the PVH entry; 0 when it has none. */
static uint64_t elf_pvh_entry(const uint8_t *p, uint64_t len)
{
	uint64_t off = 0;

	while (len - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name, desc;
		memcpy(&nh, p + off, sizeof(nh));
		name = off + sizeof(nh);
		desc = name + (((uint64_t)nh.n_namesz + 3) & ~3ULL);
		if (desc > len || (((uint64_t)nh.n_descsz + 3) & ~3ULL) > len - desc)
			return 0;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(p + name, "Xen", 4) == 0) {
			uint32_t v32;
			uint64_t v64;
			if (nh.n_descsz == 4) {
				memcpy(&v32, p + desc, 4);
				return v32;
			}
			if (nh.n_descsz == 8) {
				memcpy(&v64, p + desc, 8);
				return v64;
			}
			return 0;
		}
		off = desc + (((uint64_t)nh.n_descsz + 3) & ~3ULL);
	}
	return 0;
}

static int elf_load_segments(struct vm *vm, const struct boot_input *in, const Elf64_Ehdr *eh,
			     uint64_t *end, uint64_t *pvh, struct err *e)
{
	const uint8_t *k = in->kernel;

	*end = LAYOUT_HIGH;
	*pvh = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		uint8_t *dst;
		memcpy(&ph, k + eh->e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_offset > in->kernel_len || ph.p_filesz > in->kernel_len - ph.p_offset)
			return err_set(e, ERR_CORRUPT, "--kernel: segment %u runs past the file",
				       i);
		if (ph.p_type == PT_NOTE && !*pvh)
			*pvh = elf_pvh_entry(k + ph.p_offset, ph.p_filesz);
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz)
			return err_set(e, ERR_CORRUPT, "--kernel: segment %u: filesz > memsz", i);
		if (ph.p_paddr < LAYOUT_HIGH)
			return err_set(e, ERR_UNSUPPORTED,
				       "--kernel: segment %u loads below 1 MiB (%#llx)", i,
				       (unsigned long long)ph.p_paddr);
		dst = gm_ptr(&vm->mem, ph.p_paddr, ph.p_memsz);
		if (!dst)
			return err_set(
				e, ERR_USAGE,
				"--kernel: segment %u (%#llx, %llu bytes) is outside guest RAM", i,
				(unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz);
		memcpy(dst, k + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		if (ph.p_paddr + ph.p_memsz > *end)
			*end = ph.p_paddr + ph.p_memsz;
	}
	return 0;
}

static int pvh_start_info(struct vm *vm, const struct boot_input *in, uint64_t kernel_end,
			  struct err *e)
{
	struct hvm_start_info si = {.magic = HVM_START_MAGIC, .version = 1};
	struct hvm_memmap_table_entry mm[GM_E820_MAX];
	struct e820_entry map[GM_E820_MAX];
	unsigned n = gm_e820(&vm->mem, map, GM_E820_MAX);

	si.cmdline_paddr = boot_put_cmdline(vm, in->cmdline, LAYOUT_CMDLINE_MAX - 1, e);
	if (!si.cmdline_paddr)
		return -1;
	if (in->initrd) {
		struct hvm_modlist_entry mod = {.size = in->initrd_len};
		mod.paddr = boot_put_initrd(vm, in, kernel_end, LAYOUT_4G, e);
		if (!mod.paddr)
			return -1;
		si.nr_modules = 1;
		si.modlist_paddr = LAYOUT_BOOT_INFO + sizeof(si);
		if (gm_write(&vm->mem, si.modlist_paddr, &mod, sizeof(mod)) < 0)
			return err_set(e, ERR_FAIL, "PVH module list does not fit in guest RAM");
	}
	for (unsigned i = 0; i < n; i++)
		mm[i] = (struct hvm_memmap_table_entry){map[i].addr, map[i].size, map[i].type, 0};
	si.memmap_paddr = LAYOUT_PVH_MEMMAP;
	si.memmap_entries = n;
	si.rsdp_paddr = in->rsdp;
	if (gm_write(&vm->mem, LAYOUT_PVH_MEMMAP, mm, n * sizeof(mm[0])) < 0 ||
	    gm_write(&vm->mem, LAYOUT_BOOT_INFO, &si, sizeof(si)) < 0)
		return err_set(e, ERR_FAIL, "hvm_start_info does not fit in guest RAM");
	return 0;
}

int boot_elf(struct vm *vm, const struct boot_input *in, struct err *e)
{
	Elf64_Ehdr eh;
	uint64_t end, pvh, zp;

	if (in->kernel_len < sizeof(eh))
		return err_set(e, ERR_CORRUPT, "--kernel: truncated ELF header");
	memcpy(&eh, in->kernel, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64)
		return err_set(e, ERR_UNSUPPORTED,
			       "--kernel: only little-endian x86-64 ELF64 kernels "
			       "are supported");
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > ELF_MAX_PHDRS ||
	    eh.e_phoff > in->kernel_len ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > in->kernel_len - eh.e_phoff)
		return err_set(e, ERR_CORRUPT, "--kernel: bad ELF program header table");
	if (elf_load_segments(vm, in, &eh, &end, &pvh, e) < 0)
		return -1;
	if (pvh) {
		if (pvh_start_info(vm, in, end, e) < 0)
			return -1;
		log_msg(LOG_INFO, "boot: ELF kernel through its PVH entry at %#llx",
			(unsigned long long)pvh);
		return vm_setup_boot_cpu(vm, VM_BOOT_32, pvh, LAYOUT_BOOT_INFO, e);
	}
	if (!gm_ptr(&vm->mem, eh.e_entry, 1))
		return err_set(e, ERR_UNSUPPORTED,
			       "--kernel: no PVH note and e_entry %#llx is not a physical address",
			       (unsigned long long)eh.e_entry);
	zp = boot_zero_page(vm, in, NULL, 0, end, e);
	if (!zp)
		return -1;
	log_msg(LOG_INFO, "boot: ELF kernel through its 64-bit entry at %#llx",
		(unsigned long long)eh.e_entry);
	return vm_setup_boot_cpu(vm, VM_BOOT_64, eh.e_entry, zp, e);
}
