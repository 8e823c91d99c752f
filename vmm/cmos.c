#include "vmm/cmos.h"

#include <string.h>

#include "vmm/vm.h"

#define CMOS_PORT 0x70
#define REG_SEC 0x00
#define REG_MIN 0x02
#define REG_HOUR 0x04
#define REG_WDAY 0x06
#define REG_MDAY 0x07
#define REG_MON 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define REG_CENTURY 0x32
#define B_SET 0x80 /* the guest is setting the clock: the time bytes hold still */
#define B_BIN 0x04 /* binary, not BCD */
#define B_24H 0x02

static time_t host_now(void)
{
	return time(NULL);
}

static uint8_t enc(const struct cmos *c, unsigned v)
{
	return c->ram[REG_B] & B_BIN ? (uint8_t)v : (uint8_t)((v / 10) << 4 | v % 10);
}

static unsigned dec(const struct cmos *c, uint8_t v)
{
	return c->ram[REG_B] & B_BIN ? v : (unsigned)(v >> 4) * 10 + (v & 0xf);
}

/* The time bytes, from the host clock plus the guest's offset. */
static void clock_fill(struct cmos *c)
{
	time_t t = c->now() + (time_t)c->offset_s;
	struct tm tm;
	unsigned hour;

	gmtime_r(&t, &tm);
	hour = (unsigned)tm.tm_hour;
	c->ram[REG_SEC] = enc(c, (unsigned)tm.tm_sec);
	c->ram[REG_MIN] = enc(c, (unsigned)tm.tm_min);
	if (c->ram[REG_B] & B_24H) {
		c->ram[REG_HOUR] = enc(c, hour);
	} else {
		/* 12-hour mode: 12, 1..11, with bit 7 for PM */
		unsigned h12 = hour % 12 ? hour % 12 : 12;
		c->ram[REG_HOUR] = (uint8_t)(enc(c, h12) | (hour >= 12 ? 0x80 : 0));
	}
	c->ram[REG_WDAY] = enc(c, (unsigned)tm.tm_wday + 1);
	c->ram[REG_MDAY] = enc(c, (unsigned)tm.tm_mday);
	c->ram[REG_MON] = enc(c, (unsigned)tm.tm_mon + 1);
	c->ram[REG_YEAR] = enc(c, (unsigned)(tm.tm_year % 100));
	c->ram[REG_CENTURY] = enc(c, (unsigned)(1900 + tm.tm_year) / 100);
}

/* The guest finished setting the clock: keep the difference to the host's. */
static void clock_take(struct cmos *c)
{
	struct tm tm = {0};
	unsigned hour = dec(c, c->ram[REG_HOUR] & 0x7f);
	time_t t;

	if (!(c->ram[REG_B] & B_24H))
		hour = hour % 12 + (c->ram[REG_HOUR] & 0x80 ? 12 : 0);
	tm.tm_sec = (int)dec(c, c->ram[REG_SEC]);
	tm.tm_min = (int)dec(c, c->ram[REG_MIN]);
	tm.tm_hour = (int)hour;
	tm.tm_mday = (int)dec(c, c->ram[REG_MDAY]);
	tm.tm_mon = (int)dec(c, c->ram[REG_MON]) - 1;
	tm.tm_year = (int)(dec(c, c->ram[REG_CENTURY]) * 100 + dec(c, c->ram[REG_YEAR])) - 1900;
	t = timegm(&tm);
	if (t != (time_t)-1)
		c->offset_s = (int64_t)(t - c->now());
}

/* Seconds, minutes, hours, weekday, day, month, year, century: not the alarm bytes. */
static bool is_time_reg(uint8_t r)
{
	return (r <= REG_YEAR && r != 1 && r != 3 && r != 5) || r == REG_CENTURY;
}

void cmos_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct cmos *c = opaque;
	uint8_t r;

	if (off == 0) {
		if (write)
			c->index = data[0] & 0x7f; /* bit 7 masks NMIs: nothing to mask here */
		else
			memset(data, 0xff, len);
		return;
	}
	r = c->index;
	if (!write) {
		if (is_time_reg(r) && !(c->ram[REG_B] & B_SET))
			clock_fill(c);
		/* Register A's update-in-progress bit is never set: each read is taken from the
		 * clock as a whole, so a guest never sees a half-updated time. */
		data[0] = c->ram[r];
		if (r == REG_C)
			c->ram[REG_C] = 0; /* interrupt flags clear on read */
		return;
	}
	switch (r) {
	case REG_C:
	case REG_D: return; /* read-only */
	case REG_A: c->ram[REG_A] = data[0] & 0x7f; return;
	case REG_B:
		if ((c->ram[REG_B] & B_SET) && !(data[0] & B_SET)) {
			c->ram[REG_B] = data[0];
			clock_take(c);
			return;
		}
		if (!(c->ram[REG_B] & B_SET) && (data[0] & B_SET))
			clock_fill(c); /* freeze the current time for the guest to change */
		c->ram[REG_B] = data[0];
		return;
	default:
		/* A time byte written outside SET mode counts at once, against the clock as it is
		 * now (not as the guest last read it); the alarm bytes (1, 3, 5) are no time. */
		if (is_time_reg(r) && !(c->ram[REG_B] & B_SET)) {
			clock_fill(c);
			c->ram[r] = data[0];
			clock_take(c);
			return;
		}
		c->ram[r] = data[0];
	}
}

int cmos_init(struct cmos *c, struct vm *vm, uint64_t ram_low, uint64_t ram_high, unsigned ncpus,
	      struct err *e)
{
	uint64_t ext, above16, above4g;

	memset(c, 0, sizeof(*c));
	c->now = host_now;
	c->ram[REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate */
	c->ram[REG_B] = B_24H;
	c->ram[REG_D] = 0x80;	   /* valid RAM and time */
	c->ram[0x10] = 0;	   /* no floppy */
	c->ram[0x14] = 0x02;	   /* equipment: math coprocessor; no floppy, no PS/2 mouse */
	c->ram[0x15] = 640 & 0xff; /* base memory in KiB */
	c->ram[0x16] = 640 >> 8;
	/* Extended memory in KiB above 1 MiB (at most 63 MiB), at 0x17 and again at 0x30. */
	ext = ram_low > (1u << 20) ? (ram_low - (1u << 20)) >> 10 : 0;
	if (ext > 0xfc00)
		ext = 0xfc00;
	c->ram[0x17] = c->ram[0x30] = (uint8_t)ext;
	c->ram[0x18] = c->ram[0x31] = (uint8_t)(ext >> 8);
	/* Memory above 16 MiB below the hole, in 64 KiB units. */
	above16 = ram_low > (16u << 20) ? (ram_low - (16u << 20)) >> 16 : 0;
	if (above16 > 0xffff)
		above16 = 0xffff;
	c->ram[0x34] = (uint8_t)above16;
	c->ram[0x35] = (uint8_t)(above16 >> 8);
	/* Memory above 4 GiB in 64 KiB units (three bytes), as QEMU's PC has it. */
	above4g = ram_high >> 16;
	c->ram[0x5b] = (uint8_t)above4g;
	c->ram[0x5c] = (uint8_t)(above4g >> 8);
	c->ram[0x5d] = (uint8_t)(above4g >> 16);
	c->ram[0x5f] = (uint8_t)(ncpus - 1); /* SeaBIOS: CPU count minus one */
	c->ram[0x3d] = 0x02;		     /* boot: hard disk first */
	if (!vm)
		return 0;
	return bus_add(&vm->pio, CMOS_PORT, 2, cmos_io, c, e);
}
