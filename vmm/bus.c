#include "vmm/bus.h"

#include <stdlib.h>
#include <string.h>

int bus_add(struct bus *b, uint64_t base, uint64_t len, bus_fn fn, void *opaque, struct err *e)
{
	if (len == 0 || base + len < base)
		return err_set(e, ERR_FAIL, "bus: empty or wrapping range at %#llx",
			       (unsigned long long)base);
	for (size_t i = 0; i < b->n; i++) {
		if (base < b->r[i].base + b->r[i].len && b->r[i].base < base + len)
			return err_set(e, ERR_FAIL, "bus: range %#llx+%#llx overlaps %#llx",
				       (unsigned long long)base, (unsigned long long)len,
				       (unsigned long long)b->r[i].base);
	}
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct bus_range *r = realloc(b->r, cap * sizeof(*r));
		if (!r)
			return err_set(e, ERR_FAIL, "bus: out of memory");
		b->r = r;
		b->cap = cap;
	}
	b->r[b->n++] = (struct bus_range){base, len, fn, opaque};
	return 0;
}

bool bus_dispatch(const struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool write)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct bus_range *r = &b->r[i];
		if (addr >= r->base && addr - r->base < r->len) {
			r->fn(r->opaque, addr - r->base, data, len, write);
			return true;
		}
	}
	if (!write)
		memset(data, 0xff, len);
	return false;
}

void bus_free(struct bus *b)
{
	free(b->r);
	memset(b, 0, sizeof(*b));
}
