/* libFuzzer: catalog JSON parsing and selection (untrusted catalogs from registries). */
#include <stddef.h>
#include <stdint.h>

#include "boxes/catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const constraints[] = {NULL, ">= 1.0, < 2", "~> 1.2", "!= 0"};
	struct catalog *c = NULL;
	struct err e;

	if (catalog_parse((const char *)data, size, "fuzz", &c, &e) < 0)
		return 0;
	for (size_t i = 0; i < 4; i++) {
		struct catalog_query q = {.constraint = constraints[i],
					  .arch = i & 1 ? "arm64" : NULL};
		struct catalog_choice ch;

		catalog_select(c, &q, &ch, &e);
	}
	catalog_free(c);
	return 0;
}
