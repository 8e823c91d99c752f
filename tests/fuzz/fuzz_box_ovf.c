/* libFuzzer: the OVF disk scanner (box.ovf comes from untrusted box archives). */
#include <stddef.h>
#include <stdint.h>

#include "boxes/ovf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ovf_disks d;
	struct err e;

	if (ovf_disks((const char *)data, size, &d, &e) == 0)
		ovf_disks_free(&d);
	return 0;
}
