#include "vmm/memory.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/layout.h"

int gm_init(struct guest_mem *m, uint64_t bytes, struct err *e)
{
	uint64_t lo, hi;

	memset(m, 0, sizeof(*m));
	if (bytes < (2ULL << 20) || bytes % (1ULL << 20))
		return err_set(e, ERR_USAGE, "memory: %llu bytes is not a whole number of MiB >= 2",
			       (unsigned long long)bytes);
	if (bytes > (1ULL << 40))
		return err_set(e, ERR_USAGE, "memory: more than 1 TiB is not supported");
	lo = bytes < LAYOUT_MMIO_HOLE ? bytes : LAYOUT_MMIO_HOLE;
	hi = bytes - lo;
	m->r[0].gpa = 0;
	m->r[0].size = lo;
	m->r[1].gpa = LAYOUT_4G;
	m->r[1].size = hi;
	m->n = hi ? 2 : 1;
	m->total = bytes;
	for (unsigned i = 0; i < m->n; i++) {
		/* MAP_NORESERVE: pages are only allocated when the guest first touches them. */
		void *p = mmap(NULL, m->r[i].size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED) {
			gm_free(m);
			return err_sys(e, "memory: mmap of %llu MiB",
				       (unsigned long long)(m->r[i].size >> 20));
		}
		m->r[i].host = p;
	}
	return 0;
}

void gm_free(struct guest_mem *m)
{
	for (unsigned i = 0; i < 2; i++) {
		if (m->r[i].host)
			munmap(m->r[i].host, m->r[i].size);
		m->r[i].host = NULL;
	}
	m->n = 0;
}

void *gm_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < m->n; i++) {
		const struct gm_region *r = &m->r[i];
		/* Written so that no sum can wrap: gpa - r->gpa only after gpa >= r->gpa. */
		if (gpa < r->gpa || gpa - r->gpa > r->size)
			continue;
		if (len > r->size - (gpa - r->gpa))
			return NULL;
		return r->host + (gpa - r->gpa);
	}
	return NULL;
}

int gm_read(const struct guest_mem *m, uint64_t gpa, void *buf, uint64_t len)
{
	void *p = gm_ptr(m, gpa, len);

	if (!p)
		return -1;
	memcpy(buf, p, len);
	return 0;
}

int gm_write(const struct guest_mem *m, uint64_t gpa, const void *buf, uint64_t len)
{
	void *p = gm_ptr(m, gpa, len);

	if (!p)
		return -1;
	memcpy(p, buf, len);
	return 0;
}

uint64_t gm_resident(const struct guest_mem *m)
{
	unsigned char vec[4096];
	uint64_t total = 0;
	long page = sysconf(_SC_PAGESIZE);

	for (unsigned i = 0; i < m->n; i++) {
		for (uint64_t off = 0; off < m->r[i].size; off += sizeof(vec) * (uint64_t)page) {
			uint64_t len = m->r[i].size - off;
			if (len > sizeof(vec) * (uint64_t)page)
				len = sizeof(vec) * (uint64_t)page;
			if (mincore(m->r[i].host + off, len, vec) < 0)
				return 0;
			for (uint64_t p = 0; p < (len + (uint64_t)page - 1) / (uint64_t)page; p++)
				total += vec[p] & 1 ? (uint64_t)page : 0;
		}
	}
	return total;
}

uint64_t gm_low_end(const struct guest_mem *m)
{
	return m->r[0].size;
}

unsigned gm_e820(const struct guest_mem *m, struct e820_entry *out, unsigned max)
{
	struct e820_entry all[] = {
		{0, LAYOUT_EBDA, E820_RAM},
		{LAYOUT_EBDA, LAYOUT_HIGH - LAYOUT_EBDA, E820_RESERVED},
		{LAYOUT_HIGH, m->r[0].size - LAYOUT_HIGH, E820_RAM},
		/* IOAPIC, LAPIC and KVM's TSS pages: never for PCI BARs. */
		{LAYOUT_IOAPIC, LAYOUT_4G - LAYOUT_IOAPIC, E820_RESERVED},
		{m->r[1].gpa, m->r[1].size, E820_RAM},
	};
	unsigned n = m->n == 2 ? 5 : 4;

	if (n > max)
		n = max;
	memcpy(out, all, n * sizeof(all[0]));
	return n;
}
