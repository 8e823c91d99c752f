/* Device checks through the kit's virtio driver: entropy, block (ID, capacity, read, write,
 * flush, read-only refusal) and malformed descriptor chains that the VMM must survive. */
#include "kit_virtio.h"

static uint8_t buf_a[4096] __attribute__((aligned(4096)));
static uint8_t buf_b[4096] __attribute__((aligned(4096)));
static struct vdesc indirect[4] __attribute__((aligned(16)));

static long rng_read(struct kv *v, uint8_t *dst, uint32_t len)
{
	v->q[0].desc[0] = (struct vdesc){(uint64_t)dst, len, VD_WRITE, 0};
	return kv_run(v, 0);
}

void kit_rng_checks(void)
{
	unsigned slot = kv_find(4, 0);
	struct kv v;
	long a, b;
	unsigned zeros = 0;

	if (slot == 0xff) {
		kit_result(false, "rng", "no virtio-rng device");
		return;
	}
	if (!kv_open(&v, slot, VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX, 0x41, 1)) {
		kit_result(false, "rng", "device setup failed");
		return;
	}
	memset(buf_a, 0, 64);
	memset(buf_b, 0, 64);
	a = rng_read(&v, buf_a, 64);
	b = rng_read(&v, buf_b, 64);
	for (int i = 0; i < 64; i++)
		zeros += buf_a[i] == 0;
	kit_result(a == 64 && b == 64 && zeros < 8 && memcmp(buf_a, buf_b, 64) != 0, "rng",
		   "got %u+%u bytes, differ", (unsigned)a, (unsigned)b);
	kit_result(v.msix_cap && kv_irr(0x41), "rng-msix", "vector 0x41 pending in the LAPIC");
	/* Again without MSI-X: the interrupt is INTx, and the ISR register says why. */
	if (!kv_open(&v, slot, VIRTIO_F_VERSION_1, 0, 1)) {
		kit_result(false, "rng-intx", "device setup failed");
		return;
	}
	a = rng_read(&v, buf_a, 16);
	{
		uint8_t isr1 = mmio_r8(v.isr), isr2 = mmio_r8(v.isr);
		kit_result(a == 16 && isr1 == 1 && isr2 == 0, "rng-intx", "isr=%u then %u", isr1,
			   isr2);
	}
}

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

static struct blk_hdr hdr;
static volatile uint8_t status;

/* One request: header, optional data, status. Returns the status (0xff on timeout). */
static uint8_t blk_req(struct kv *v, uint32_t type, uint64_t sector, void *data, uint32_t len,
		       bool dev_writes, bool use_indirect)
{
	struct vdesc *d = use_indirect ? indirect : v->q[0].desc;
	unsigned n = 0;

	hdr = (struct blk_hdr){type, 0, sector};
	status = 0xee;
	d[n] = (struct vdesc){(uint64_t)&hdr, sizeof(hdr), VD_NEXT, (uint16_t)(n + 1)};
	n++;
	if (len) {
		d[n] = (struct vdesc){(uint64_t)data, len,
				      (uint16_t)(VD_NEXT | (dev_writes ? VD_WRITE : 0)),
				      (uint16_t)(n + 1)};
		n++;
	}
	d[n] = (struct vdesc){(uint64_t)&status, 1, VD_WRITE, 0};
	n++;
	if (use_indirect)
		v->q[0].desc[0] = (struct vdesc){(uint64_t)indirect, n * 16, VD_INDIRECT, 0};
	if (kv_run(v, 0) < 0)
		return 0xff;
	return status;
}

static void blk_bad_chains(struct kv *v, unsigned i)
{
	long len;

	/* A buffer far outside guest RAM. */
	v->q[0].desc[0] = (struct vdesc){(uint64_t)&hdr, sizeof(hdr), VD_NEXT, 1};
	v->q[0].desc[1] = (struct vdesc){0x7fff00000000ULL, 512, VD_NEXT | VD_WRITE, 2};
	v->q[0].desc[2] = (struct vdesc){(uint64_t)&status, 1, VD_WRITE, 0};
	hdr = (struct blk_hdr){0, 0, 0};
	len = kv_run(v, 0);
	kit_result(len == 0, "blk-bad-addr", "%u used len %u", i, (unsigned)len);
	/* A cycle: 0 -> 1 -> 0. */
	v->q[0].desc[0] = (struct vdesc){(uint64_t)&hdr, sizeof(hdr), VD_NEXT, 1};
	v->q[0].desc[1] = (struct vdesc){(uint64_t)buf_b, 512, VD_NEXT, 0};
	len = kv_run(v, 0);
	kit_result(len == 0, "blk-cycle", "%u used len %u", i, (unsigned)len);
}

static void blk_one(unsigned i, unsigned slot)
{
	struct kv v;
	char key[24] = "kit.blkhash0", val[24], id[24] = {0};
	uint64_t cap;
	bool ro;
	uint8_t st;

	key[11] = (char)('0' + i);
	if (!kv_open(&v, slot,
		     VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT | (1 << 5) |
			     (1 << 9),
		     0x50 + i, 1)) {
		kit_result(false, "blk-open", "%u setup failed", i);
		return;
	}
	ro = v.features & (1 << 5);
	cap = (uint64_t)mmio_r32(v.device) | (uint64_t)mmio_r32(v.device + 4) << 32;
	/* a report: the host test checks the values */
	kit_result(true, "blk-capacity", "%u sectors=%lu ro=%u", i, cap, ro);
	st = blk_req(&v, 8, 0, id, 20, true, false);
	kit_result(st == 0, "blk-id", "%u id=%s", i, id);
	st = blk_req(&v, 0, 0, buf_a, 4096, true, false);
	kit_result(st == 0 && kit_arg(key, val, sizeof(val)) &&
			   kit_fnv1a(buf_a, 4096) == kit_num(val),
		   "blk-read", "%u fnv=%x", i, kit_fnv1a(buf_a, 4096));
	kit_result(v.msix_cap && kv_irr(0x50 + i), "blk-msix", "%u vector %x pending", i, 0x50 + i);
	/* Past the end of the disk: an I/O error, not a crash. */
	st = blk_req(&v, 0, cap, buf_a, 512, true, false);
	kit_result(st == 1, "blk-range", "%u read past end status=%u", i, st);
	memset(buf_b, 0, 512);
	memcpy(buf_b, "written by the envup test kit", 29);
	buf_b[29] = (uint8_t)('0' + i);
	st = blk_req(&v, 1, 2, buf_b, 512, false, true);
	if (ro) {
		kit_result(st == 1, "blk-readonly", "%u write refused status=%u", i, st);
	} else {
		kit_result(st == 0, "blk-write", "%u indirect status=%u", i, st);
		st = blk_req(&v, 4, 0, NULL, 0, false, false);
		kit_result(st == 0, "blk-flush", "%u status=%u", i, st);
		memset(buf_a, 0, 512);
		st = blk_req(&v, 0, 2, buf_a, 512, true, true);
		kit_result(st == 0 && !memcmp(buf_a, buf_b, 512), "blk-readback", "%u", i);
	}
	st = blk_req(&v, 99, 0, NULL, 0, false, false);
	kit_result(st == 2, "blk-unsupported", "%u status=%u", i, st);
	blk_bad_chains(&v, i);
	st = blk_req(&v, 0, 0, buf_a, 512, true, false);
	kit_result(st == 0, "blk-alive", "%u after bad chains", i);
}

void kit_blk_checks(void)
{
	char buf[8];
	unsigned want = kit_arg("kit.disks", buf, sizeof(buf)) ? (unsigned)kit_num(buf) : 1, n;

	for (n = 0; n < 8; n++) {
		unsigned slot = kv_find(2, n);
		if (slot == 0xff)
			break;
		blk_one(n, slot);
	}
	kit_result(n == want, "blk-count", "disks=%u want=%u", n, want);
}
