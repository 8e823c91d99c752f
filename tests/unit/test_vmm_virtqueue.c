/* envvmm device layer without KVM: the guest-memory accessor's bounds, split virtqueue chains
 * (plain, indirect, cyclic, out of RAM, too long), event-index suppression, and virtio-blk
 * requests against a real raw image. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/log.h"
#include "vmm/memory.h"
#include "vmm/eventloop.h"
#include "vmm/virtio_blk.h"
#include "vmm/virtio_net.h"
#include "vmm/virtqueue.h"
#include "vmm/vm.h"

#define MIB (1ULL << 20)
#define DESC 0x10000
#define AVAIL 0x11000
#define USED 0x12000

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static void test_accessor_bounds(void **state)
{
	struct guest_mem m;
	struct err e = {0};
	uint8_t b[16];

	assert_int_equal(gm_init(&m, 4 * MIB, &e), 0);
	assert_non_null(gm_ptr(&m, 0, 4 * MIB));
	assert_non_null(gm_ptr(&m, 4 * MIB - 1, 1));
	assert_null(gm_ptr(&m, 4 * MIB - 1, 2));
	assert_null(gm_ptr(&m, 4 * MIB, 1));
	assert_null(gm_ptr(&m, UINT64_MAX, 2));	     /* gpa + len wraps */
	assert_null(gm_ptr(&m, 16, UINT64_MAX - 8)); /* len huge */
	assert_int_equal(gm_write(&m, 4 * MIB - 8, b, 16), -1);
	assert_int_equal(gm_read(&m, 100, b, 16), 0);
	gm_free(&m);
	/* Above the MMIO hole: 3 GiB low, the rest from 4 GiB (lazily mapped, never touched). */
	assert_int_equal(gm_init(&m, 4096 * MIB, &e), 0);
	assert_int_equal(m.n, 2);
	assert_non_null(gm_ptr(&m, (4ULL << 30) + 5, 10));
	assert_null(gm_ptr(&m, 0xc0000000ULL, 1)); /* the hole */
	assert_null(gm_ptr(&m, 0xbfffffffULL, 2)); /* straddles RAM and hole */
	gm_free(&m);
	assert_int_equal(gm_init(&m, 3 * MIB + 5, &e), -1);
}

struct rig {
	struct guest_mem m;
	struct virtqueue vq;
	struct vq_chain c;
};

static int rig_setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct err e = {0};

	log_setup(2, LOG_ERROR);
	assert_non_null(r);
	assert_int_equal(gm_init(&r->m, 2 * MIB, &e), 0);
	r->vq.size = 8;
	r->vq.desc = DESC;
	r->vq.avail = AVAIL;
	r->vq.used = USED;
	r->vq.indirect = true;
	assert_true(vq_enable(&r->vq, &r->m));
	*state = r;
	return 0;
}

static int rig_teardown(void **state)
{
	struct rig *r = *state;
	gm_free(&r->m);
	free(r);
	return 0;
}

static void put_desc(struct rig *r, uint64_t table, unsigned i, struct desc d)
{
	assert_int_equal(gm_write(&r->m, table + 16ULL * i, &d, sizeof(d)), 0);
}

/* Offers head as the next available chain. */
static void offer(struct rig *r, uint16_t head)
{
	uint16_t idx;
	gm_read(&r->m, AVAIL + 2, &idx, 2);
	gm_write(&r->m, AVAIL + 4 + 2ULL * (idx % r->vq.size), &head, 2);
	idx++;
	gm_write(&r->m, AVAIL + 2, &idx, 2);
}

static void test_chain_plain_and_used(void **state)
{
	struct rig *r = *state;
	const char *why;
	uint32_t used[3];

	put_desc(r, DESC, 0, (struct desc){0x1000, 16, 1, 1});
	put_desc(r, DESC, 1, (struct desc){0x2000, 512, 1 | 2, 2});
	put_desc(r, DESC, 2, (struct desc){0x3000, 1, 2, 0});
	assert_int_equal(vq_pop(&r->vq, &r->c, &why), 0); /* nothing offered yet */
	offer(r, 0);
	assert_int_equal(vq_pop(&r->vq, &r->c, &why), 1);
	assert_int_equal(r->c.n, 3);
	assert_int_equal(r->c.out_len, 16);
	assert_int_equal(r->c.in_len, 513);
	assert_ptr_equal(r->c.seg[1].p, gm_ptr(&r->m, 0x2000, 1));
	vq_push(&r->vq, r->c.head, 513);
	gm_read(&r->m, USED, used, sizeof(used));
	assert_int_equal(used[0] >> 16, 1); /* used->idx */
	assert_int_equal(used[1], 0);	    /* id */
	assert_int_equal(used[2], 513);	    /* len */
	assert_int_equal(vq_pop(&r->vq, &r->c, &why), 0);
}

static void test_chain_cycle_is_bounded(void **state)
{
	struct rig *r = *state;
	const char *why;

	put_desc(r, DESC, 0, (struct desc){0x1000, 16, 1, 1});
	put_desc(r, DESC, 1, (struct desc){0x2000, 16, 1, 0}); /* back to 0 */
	offer(r, 0);
	assert_int_equal(vq_pop(&r->vq, &r->c, &why), -1);
	assert_non_null(strstr(why, "loops"));
	assert_int_equal(r->c.head, 0);
	/* The queue keeps working. */
	put_desc(r, DESC, 1, (struct desc){0x2000, 16, 0, 0});
	offer(r, 0);
	assert_int_equal(vq_pop(&r->vq, &r->c, &why), 1);
}

static void test_chain_outside_ram(void **state)
{
	struct rig *r = *state;
	const char *why;

	put_desc(r, DESC, 3, (struct desc){2 * MIB - 8, 16, 0, 0});
	offer(r, 3);
	assert_int_equal(vq_pop(&r->vq, &r->c, &why), -1);
	assert_non_null(strstr(why, "outside guest RAM"));
	offer(r, 9); /* head index past the queue */
	assert_int_equal(vq_pop(&r->vq, &r->c, &why), -1);
	assert_non_null(strstr(why, "head index"));
}

static void test_chain_indirect(void **state)
{
	struct rig *r = *state;
	const char *why;
	uint64_t tab = 0x5000;

	put_desc(r, tab, 0, (struct desc){0x1000, 16, 1, 1});
	put_desc(r, tab, 1, (struct desc){0x3000, 1, 2, 0});
	put_desc(r, DESC, 4, (struct desc){tab, 32, 4, 0});
	offer(r, 4);
	assert_int_equal(vq_pop(&r->vq, &r->c, &why), 1);
	assert_int_equal(r->c.n, 2);
	assert_int_equal(r->c.head, 4);
	/* Indirect tables may not nest, nor loop. */
	put_desc(r, tab, 1, (struct desc){tab, 32, 4, 0});
	offer(r, 4);
	assert_int_equal(vq_pop(&r->vq, &r->c, &why), -1);
	put_desc(r, tab, 1, (struct desc){0x3000, 1, 1 | 2, 0});
	offer(r, 4);
	assert_int_equal(vq_pop(&r->vq, &r->c, &why), -1);
	/* Not negotiated: refused. */
	put_desc(r, tab, 1, (struct desc){0x3000, 1, 2, 0});
	r->vq.indirect = false;
	offer(r, 4);
	assert_int_equal(vq_pop(&r->vq, &r->c, &why), -1);
}

static void test_avail_runaway(void **state)
{
	struct rig *r = *state;
	const char *why;
	uint16_t idx = 100; /* more than a queue ahead of last_avail (0) */

	gm_write(&r->m, AVAIL + 2, &idx, 2);
	assert_int_equal(vq_pop(&r->vq, &r->c, &why), 0);
	assert_false(r->vq.ready);
}

static void test_event_idx(void **state)
{
	struct rig *r = *state;
	const char *why;
	uint16_t used_event = 1, flags = 1;

	r->vq.event_idx = true;
	put_desc(r, DESC, 0, (struct desc){0x1000, 16, 0, 0});
	/* used_event lives after the avail ring: interrupt once used->idx passes 1. */
	gm_write(&r->m, AVAIL + 4 + 2ULL * 8, &used_event, 2);
	offer(r, 0);
	assert_int_equal(vq_pop(&r->vq, &r->c, &why), 1);
	vq_push(&r->vq, 0, 0);
	assert_true(vq_should_notify(&r->vq)); /* first signal */
	offer(r, 0);
	assert_int_equal(vq_pop(&r->vq, &r->c, &why), 1);
	vq_push(&r->vq, 0, 0); /* used->idx 2: crosses used_event 1 */
	assert_true(vq_should_notify(&r->vq));
	offer(r, 0);
	assert_int_equal(vq_pop(&r->vq, &r->c, &why), 1);
	vq_push(&r->vq, 0, 0); /* used->idx 3: the driver did not ask */
	assert_false(vq_should_notify(&r->vq));
	/* Without event idx, VRING_AVAIL_F_NO_INTERRUPT decides. */
	r->vq.event_idx = false;
	gm_write(&r->m, AVAIL, &flags, 2);
	assert_false(vq_should_notify(&r->vq));
}

static void test_blk_requests(void **state)
{
	struct rig *r = *state;
	static struct vm vm;
	static struct virtio_blk b;
	char path[] = "/tmp/test-vmm-blk.XXXXXX";
	struct err e = {0};
	uint32_t hdr[4] = {1, 0, 2, 0}; /* OUT, sector 2 */
	uint8_t *data, st, back[512];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8192), 0);
	vm_init(&vm);
	vm.mem = r->m;
	assert_int_equal(virtio_blk_init(&b, &vm, path, IMAGE_RAW, false, NULL, "unit", false, &e), 0);
	data = gm_ptr(&r->m, 0x2000, 512);
	memset(data, 0x77, 512);
	gm_write(&r->m, 0x1000, hdr, 16);
	r->c.n = 3;
	r->c.seg[0] = (struct vq_seg){gm_ptr(&r->m, 0x1000, 16), 16, false};
	r->c.seg[1] = (struct vq_seg){data, 512, false};
	r->c.seg[2] = (struct vq_seg){gm_ptr(&r->m, 0x3000, 1), 1, true};
	r->c.out_len = 528;
	r->c.in_len = 1;
	assert_int_equal(virtio_blk_request(&b, &r->c), 1);
	gm_read(&r->m, 0x3000, &st, 1);
	assert_int_equal(st, 0);
	assert_int_equal(pread(fd, back, 512, 1024), 512);
	assert_memory_equal(back, data, 512);
	/* The last sector plus one: I/O error; an odd length: I/O error. */
	hdr[2] = 16;
	gm_write(&r->m, 0x1000, hdr, 16);
	virtio_blk_request(&b, &r->c);
	gm_read(&r->m, 0x3000, &st, 1);
	assert_int_equal(st, 1);
	hdr[2] = 0;
	gm_write(&r->m, 0x1000, hdr, 16);
	r->c.seg[1].len = 100;
	r->c.out_len = 116;
	virtio_blk_request(&b, &r->c);
	gm_read(&r->m, 0x3000, &st, 1);
	assert_int_equal(st, 1);
	/* No status byte at all: nothing written, no crash. */
	r->c.n = 1;
	r->c.in_len = 0;
	assert_int_equal(virtio_blk_request(&b, &r->c), 0);
	virtio_blk_close(&b);
	memset(&vm.mem, 0, sizeof(vm.mem)); /* the rig owns the RAM */
	vm_destroy(&vm);
	close(fd);
	unlink(path);
}

/* Sets queue q of d to size 8 with its rings at base, +0x1000, +0x2000. */
static void net_queue(struct virtio_dev *d, unsigned q, uint64_t base)
{
	struct virtqueue *vq = &d->vq[q];

	vq->size = 8;
	vq->desc = base;
	vq->avail = base + 0x1000;
	vq->used = base + 0x2000;
	assert_true(vq_enable(vq, &d->vm->mem));
}

/* Posts head on the queue whose avail ring is at avail. */
static void net_offer(struct guest_mem *m, uint64_t avail, uint16_t head)
{
	uint16_t idx;

	gm_read(m, avail + 2, &idx, 2);
	gm_write(m, avail + 4 + 2ULL * (idx % 8), &head, 2);
	idx++;
	gm_write(m, avail + 2, &idx, 2);
}

/* An ARP request for the gateway is answered by libslirp from inside slirp_input, so the
 * receive path runs in the middle of transmit handling: the transmit queue must still get its
 * own head back, not the receive chain's. */
static void test_net_tx_reentrant_rx(void **state)
{
	struct rig *r = *state;
	static struct vm vm;
	static struct virtio_net n;
	static struct eventloop el;
	struct net_opts o = {0};
	struct err e = {0};
	static const uint8_t arp[42] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06,
		0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
		10, 0, 2, 15, 0, 0, 0, 0, 0, 0, 10, 0, 2, 2};
	uint8_t hdr[VIRTIO_NET_HDR] = {0}, reply[VIRTIO_NET_HDR + 42];
	uint32_t used[2];
	uint16_t idx;

	vm_init(&vm);
	vm.mem = r->m;
	memset(&el, 0, sizeof(el));
	assert_int_equal(virtio_net_init(&n, &vm, &el, &o, false, &e), 0);
	n.vdev.status = VIRTIO_STATUS_DRIVER_OK;
	net_queue(&n.vdev, 0, 0x20000); /* receive */
	net_queue(&n.vdev, 1, 0x30000); /* transmit */
	/* Receive buffer: head 0. Transmit frame: head 3. */
	put_desc(r, 0x20000, 0, (struct desc){0x50000, 2048, 2, 0});
	net_offer(&r->m, 0x21000, 0);
	gm_write(&r->m, 0x40000, hdr, sizeof(hdr));
	gm_write(&r->m, 0x40000 + sizeof(hdr), arp, sizeof(arp));
	put_desc(r, 0x30000, 3, (struct desc){0x40000, sizeof(hdr) + sizeof(arp), 0, 0});
	net_offer(&r->m, 0x31000, 3);

	virtio_net_tx(&n);
	assert_int_equal(n.tx_frames, 1);
	/* The reply arrived synchronously in receive buffer 0. */
	gm_read(&r->m, 0x22000 + 2, &idx, 2);
	assert_int_equal(idx, 1);
	gm_read(&r->m, 0x22000 + 4, used, 8);
	assert_int_equal(used[0], 0);
	gm_read(&r->m, 0x50000, reply, sizeof(reply));
	assert_int_equal(reply[VIRTIO_NET_HDR + 12], 0x08);
	assert_int_equal(reply[VIRTIO_NET_HDR + 13], 0x06);
	assert_int_equal(reply[VIRTIO_NET_HDR + 21], 2); /* ARP reply */
	/* The transmit queue returned head 3, once. */
	gm_read(&r->m, 0x32000 + 2, &idx, 2);
	assert_int_equal(idx, 1);
	gm_read(&r->m, 0x32000 + 4, used, 8);
	assert_int_equal(used[0], 3);
	virtio_net_close(&n);
	el_free(&el);
	memset(&vm.mem, 0, sizeof(vm.mem)); /* the rig owns the RAM */
	vm_destroy(&vm);
}

static void test_guest_log_is_bounded(void **state)
{
	char path[] = "/tmp/test-vmm-log.XXXXXX", buf[1 << 16];
	int fd = mkstemp(path);
	ssize_t n;
	unsigned lines = 0;

	assert_true(fd >= 0);
	log_setup(fd, LOG_INFO);
	for (int i = 0; i < 3 * LOG_GUEST_EVERY; i++)
		log_guest("bad chain %d", i);
	log_setup(2, LOG_ERROR);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = 0;
	for (char *p = buf; (p = strchr(p, '\n')); p++)
		lines++;
	/* The burst, the notice, then one line per LOG_GUEST_EVERY. */
	assert_int_equal(lines, LOG_GUEST_BURST + 1 + 3);
	assert_non_null(strstr(buf, "bad chain 0\n"));
	assert_null(strstr(buf, "bad chain 100\n"));
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accessor_bounds),
		cmocka_unit_test(test_guest_log_is_bounded),
		cmocka_unit_test_setup_teardown(test_chain_plain_and_used, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_chain_cycle_is_bounded, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_chain_outside_ram, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_chain_indirect, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_avail_runaway, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_event_idx, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_blk_requests, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_net_tx_reentrant_rx, rig_setup, rig_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
