/* Test-kit guest main: reads the boot information of either entry, checks it and runs the
 * device checks that the command line asks for ("kit.tests=boot,acpi,smp,..."), reporting
 * "kit: ok NAME ..." or "kit: not ok NAME ..." lines on COM1, then resets the machine. */
#include <stdarg.h>

#include "kit_virtio.h"

struct kit_boot kit_boot;
static char cmdline_copy[2048];

void *memset(void *d, int c, size_t n)
{
	uint8_t *p = d;
	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *a = d;
	const uint8_t *b = s;
	while (n--)
		*a++ = *b++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

static void putc_com1(char c)
{
	outb(0x3f8, (uint8_t)c);
}

static void put_num(uint64_t v, unsigned base, int width)
{
	char buf[24];
	int n = 0;
	do {
		buf[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n < width)
		buf[n++] = '0';
	while (n)
		putc_com1(buf[--n]);
}

static void kit_vprintf(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		int lng = 0;
		if (*fmt != '%') {
			putc_com1(*fmt);
			continue;
		}
		fmt++;
		while (*fmt == 'l') {
			lng = 1;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			while (*s)
				putc_com1(*s++);
			break;
		}
		case 'u': put_num(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, 0); break;
		case 'x': put_num(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, 0); break;
		case 'c': putc_com1((char)va_arg(ap, int)); break;
		default: putc_com1(*fmt); break;
		}
	}
}

void kit_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kit_vprintf(fmt, ap);
	va_end(ap);
}

void kit_result(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;
	kit_printf("kit: %s %s ", ok ? "ok" : "not ok", name);
	va_start(ap, fmt);
	kit_vprintf(fmt, ap);
	va_end(ap);
	putc_com1('\n');
}

const char *kit_arg(const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);
	const char *p = kit_boot.cmdline;

	while (p && *p) {
		while (*p == ' ')
			p++;
		if (!memcmp(p, key, kl) && p[kl] == '=') {
			size_t n = 0;
			p += kl + 1;
			while (p[n] && p[n] != ' ' && n + 1 < len) {
				buf[n] = p[n];
				n++;
			}
			buf[n] = 0;
			return buf;
		}
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

uint64_t kit_num(const char *s)
{
	uint64_t v = 0;
	if (s[0] == '0' && s[1] == 'x') {
		for (s += 2; *s; s++)
			v = v * 16 + (uint64_t)(*s <= '9' ? *s - '0' : (*s | 0x20) - 'a' + 10);
		return v;
	}
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (uint64_t)(*s++ - '0');
	return v;
}

bool kit_wants(const char *test)
{
	char buf[256];
	const char *p = kit_arg("kit.tests", buf, sizeof(buf));
	size_t tl = strlen(test);

	while (p && *p) {
		if (!memcmp(p, test, tl) && (p[tl] == ',' || !p[tl]))
			return true;
		while (*p && *p != ',')
			p++;
		if (*p == ',')
			p++;
	}
	return false;
}

uint32_t kit_fnv1a(const void *p, uint64_t len)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;
	while (len--)
		h = (h ^ *b++) * 16777619u;
	return h;
}

static uint64_t rd(const void *base, unsigned off, unsigned size)
{
	uint64_t v = 0;
	memcpy(&v, (const uint8_t *)base + off, size);
	return v;
}

static void read_linux_boot(uint64_t zp)
{
	const uint8_t *z = (const uint8_t *)zp;
	unsigned n = z[0x1e8];
	kit_boot.cmdline = (const char *)rd(z, 0x228, 4);
	kit_boot.initrd = rd(z, 0x218, 4) | rd(z, 0xc0, 4) << 32;
	kit_boot.initrd_len = rd(z, 0x21c, 4) | rd(z, 0xc4, 4) << 32;
	kit_boot.initrd_max = rd(z, 0x22c, 4);
	kit_boot.rsdp = rd(z, 0x70, 8);
	if (n > 32)
		n = 32;
	for (unsigned i = 0; i < n; i++) {
		kit_boot.map[i].addr = rd(z, 0x2d0 + 20 * i, 8);
		kit_boot.map[i].size = rd(z, 0x2d0 + 20 * i + 8, 8);
		kit_boot.map[i].type = (uint32_t)rd(z, 0x2d0 + 20 * i + 16, 4);
	}
	kit_boot.nmap = n;
}

static bool read_pvh_boot(uint64_t si)
{
	const uint8_t *s = (const uint8_t *)si;
	unsigned n;
	if (rd(s, 0, 4) != 0x336ec578)
		return false;
	kit_boot.cmdline = (const char *)rd(s, 24, 8);
	if (rd(s, 12, 4) >= 1) {
		const uint8_t *mod = (const uint8_t *)rd(s, 16, 8);
		kit_boot.initrd = rd(mod, 0, 8);
		kit_boot.initrd_len = rd(mod, 8, 8);
	}
	kit_boot.rsdp = rd(s, 32, 8);
	n = (unsigned)rd(s, 48, 4);
	if (n > 32)
		n = 32;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = (const uint8_t *)rd(s, 40, 8) + 24 * i;
		kit_boot.map[i].addr = rd(e, 0, 8);
		kit_boot.map[i].size = rd(e, 8, 8);
		kit_boot.map[i].type = (uint32_t)rd(e, 16, 4);
	}
	kit_boot.nmap = n;
	return true;
}

static bool in_ram(uint64_t a, uint64_t len)
{
	for (unsigned i = 0; i < kit_boot.nmap; i++) {
		const struct kit_e820 *m = &kit_boot.map[i];
		if (m->type == 1 && a >= m->addr && a + len <= m->addr + m->size)
			return true;
	}
	return false;
}

static void check_e820(void)
{
	char buf[32];
	uint64_t ram = 0, want = kit_arg("kit.mem", buf, sizeof(buf)) ? kit_num(buf) << 20 : 0;
	bool sorted = true;

	for (unsigned i = 0; i < kit_boot.nmap; i++) {
		if (kit_boot.map[i].type == 1)
			ram += kit_boot.map[i].size;
		if (i && kit_boot.map[i].addr < kit_boot.map[i - 1].addr + kit_boot.map[i - 1].size)
			sorted = false;
	}
	kit_result(kit_boot.nmap >= 2 && sorted, "e820-sane", "entries=%u sorted=%u", kit_boot.nmap,
		   sorted);
	kit_result(in_ram(0, 0x1000) && in_ram(0x100000, (uint64_t)_end - 0x100000), "e820-covers",
		   "low and kernel RAM present");
	/* The map leaves out at most the 384 KiB legacy hole below 1 MiB. */
	kit_result(want && ram <= want && ram + (1 << 20) >= want, "e820-total", "ram=%lu want=%lu",
		   ram, want);
}

static void check_cmdline(void)
{
	char buf[64];
	const char *m = kit_arg("kit.magic", buf, sizeof(buf));
	kit_result(m && !memcmp(m, "cmdline-delivered", 18), "cmdline", "len=%u",
		   (unsigned)strlen(kit_boot.cmdline));
}

static void check_initrd(void)
{
	char buf[64];
	uint64_t want_len, want_hash;
	const char *p = kit_arg("kit.initrd", buf, sizeof(buf));
	uint32_t h;

	if (!p) {
		kit_result(kit_boot.initrd_len == 0, "initrd-none", "len=%lu", kit_boot.initrd_len);
		return;
	}
	/* kit.initrd=LEN:0xHASH */
	want_len = kit_num(p);
	while (*p && *p != ':')
		p++;
	want_hash = *p ? kit_num(p + 1) : 0;
	if (kit_boot.initrd_len != want_len || !in_ram(kit_boot.initrd, kit_boot.initrd_len)) {
		kit_result(false, "initrd", "at %lx len %lu (want %lu) not in RAM", kit_boot.initrd,
			   kit_boot.initrd_len, want_len);
		return;
	}
	h = kit_fnv1a((const void *)kit_boot.initrd, kit_boot.initrd_len);
	kit_result(h == want_hash, "initrd", "len=%lu fnv=%x", kit_boot.initrd_len, h);
	kit_result(kit_boot.initrd >= (uint64_t)_end && (kit_boot.initrd & 0xfff) == 0,
		   "initrd-placed", "at %lx above kernel end %lx", kit_boot.initrd, (uint64_t)_end);
	if (kit_boot.mode == 1)
		kit_result(kit_boot.initrd + kit_boot.initrd_len - 1 <= kit_boot.initrd_max,
			   "initrd-max", "end %lx <= initrd_addr_max %lx",
			   kit_boot.initrd + kit_boot.initrd_len - 1, kit_boot.initrd_max);
}

/* Reads one line from COM1 (polling LSR.DR) and reports it. */
static void check_serial_in(void)
{
	char line[64];
	unsigned n = 0;
	uint64_t end = kit_deadline(5000);

	kit_printf("kit: type a line\n");
	while (n + 1 < sizeof(line) && rdtsc() < end) {
		char c;
		if (!(inb(0x3fd) & 1))
			continue;
		c = (char)inb(0x3f8);
		if (c == '\n')
			break;
		line[n++] = c;
	}
	line[n] = 0;
	kit_result(n > 0, "serial-in", "got=%s", line);
}

void kit_main(int mode, uint64_t info);

void kit_main(int mode, uint64_t info)
{
	size_t n;

	kit_boot.mode = mode;
	if (mode == 1) {
		read_linux_boot(info);
	} else if (!read_pvh_boot(info)) {
		kit_result(false, "boot", "bad hvm_start_info magic");
		goto out;
	}
	n = strlen(kit_boot.cmdline);
	if (n >= sizeof(cmdline_copy))
		n = sizeof(cmdline_copy) - 1;
	memcpy(cmdline_copy, kit_boot.cmdline, n);
	kit_boot.cmdline = cmdline_copy;
	kit_result(true, "boot", "mode=%s", mode == 1 ? "bzimage" : "pvh");
	check_e820();
	check_cmdline();
	check_initrd();
	if (kit_wants("serial-in"))
		check_serial_in();
	if (kit_wants("acpi"))
		kit_acpi_checks();
	if (kit_wants("mptable"))
		kit_mptable_checks();
	if (kit_wants("smp"))
		kit_smp_checks();
	if (kit_wants("timer"))
		kit_timer_checks();
	if (kit_wants("pci"))
		kit_pci_checks();
	if (kit_wants("rng"))
		kit_rng_checks();
	if (kit_wants("blk"))
		kit_blk_checks();
	if (kit_wants("net"))
		kit_net_checks();
	if (kit_wants("powerbutton"))
		kit_power_button_wait();
	if (kit_wants("triplefault")) {
		kit_printf("kit: triple fault now\n");
		__asm__ volatile("lidt %0; ud2" ::"m"(*(const char[10]){0}));
	}
out:
	kit_printf("kit: done\n");
	if (kit_wants("acpi-reset"))
		kit_acpi_reset();
	outb(0x64, 0xfe);
}
