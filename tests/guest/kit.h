/* The freestanding test-kit guest: port I/O, COM1 output and the checks' reporting. */
#ifndef KIT_H
#define KIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline void outb(uint16_t p, uint8_t v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(p));
}
static inline void outw(uint16_t p, uint16_t v)
{
	__asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(p));
}
static inline void outl(uint16_t p, uint32_t v)
{
	__asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(p));
}
static inline uint8_t inb(uint16_t p)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p));
	return v;
}
static inline uint16_t inw(uint16_t p)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p));
	return v;
}
static inline uint32_t inl(uint16_t p)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p));
	return v;
}
static inline uint32_t mmio_r32(uint64_t a)
{
	return *(volatile uint32_t *)a;
}
static inline void mmio_w32(uint64_t a, uint32_t v)
{
	*(volatile uint32_t *)a = v;
}
static inline uint16_t mmio_r16(uint64_t a)
{
	return *(volatile uint16_t *)a;
}
static inline void mmio_w16(uint64_t a, uint16_t v)
{
	*(volatile uint16_t *)a = v;
}
static inline uint8_t mmio_r8(uint64_t a)
{
	return *(volatile uint8_t *)a;
}
static inline void mmio_w8(uint64_t a, uint8_t v)
{
	*(volatile uint8_t *)a = v;
}
#define barrier() __asm__ volatile("mfence" ::: "memory")
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}
/* A TSC value ms milliseconds ahead (assuming at most 3 GHz: waits are never shorter). */
static inline uint64_t kit_deadline(unsigned ms)
{
	return rdtsc() + (uint64_t)ms * 3000000ULL;
}

struct kit_e820 {
	uint64_t addr, size;
	uint32_t type;
};

struct kit_boot {
	int mode; /* 1: Linux boot protocol, 2: PVH */
	struct kit_e820 map[32];
	unsigned nmap;
	const char *cmdline;
	uint64_t initrd, initrd_len;
	uint64_t initrd_max; /* from the setup header; 0 under PVH */
	uint64_t rsdp;
};

void kit_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kit_result(bool ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
/* The value of "key=" in the command line (copied into buf), or NULL. */
const char *kit_arg(const char *key, char *buf, size_t len);
uint64_t kit_num(const char *s);
bool kit_wants(const char *test);

uint32_t kit_fnv1a(const void *p, uint64_t len);

extern struct kit_boot kit_boot;
extern char _end[];

void kit_acpi_checks(void);
void kit_acpi_reset(void);
void kit_mptable_checks(void);
void kit_smp_checks(void);
void kit_timer_checks(void);
void kit_pci_checks(void);
void kit_power_button_wait(void);

#endif
