/* libFuzzer harness for envvmm's kernel loaders, without KVM: the input is a kernel file
 * (bzImage setup header, or ELF64 program headers and PVH notes) loaded into 32 MiB of guest
 * RAM with a small initrd. Whatever the file says, the loader must stay inside the file and
 * inside guest RAM; the final vCPU set-up fails harmlessly for want of a vCPU. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/boot.h"
#include "vmm/log.h"
#include "vmm/vm.h"

#define RAM (32u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm vm;
	static bool ready;
	static const uint8_t initrd[4096];
	struct boot_input in = {.cmdline = "console=ttyS0", .initrd = initrd,
				.initrd_len = sizeof(initrd), .rsdp = 0xe0000};
	struct err e = {0};
	/* A private copy, so that ASan sees any read past the end of the file. */
	uint8_t *k = malloc(size ? size : 1);

	if (!k)
		abort();
	if (!ready) {
		log_setup(2, LOG_ERROR);
		vm_init(&vm);
		if (gm_init(&vm.mem, RAM, &e) < 0)
			abort();
		ready = true;
	}
	memcpy(k, data, size);
	in.kernel = k;
	in.kernel_len = size;
	if (size & 1)
		in.initrd = NULL;
	if (boot_is_elf(k, size))
		boot_elf(&vm, &in, &e);
	else
		boot_bzimage(&vm, &in, &e);
	free(k);
	return 0;
}
