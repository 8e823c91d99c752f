/* needs: kvm (one test opens /dev/kvm: tests/run.sh runs this binary in the nested KVM lab where
 * the host has no hardware KVM) */
/* envvmm's virtio PCI transport: queue-kick ioeventfds follow BAR0 and the memory-decode bit,
 * only registrations KVM accepted are recorded, and a guest that makes registration fail
 * (two BARs at one address) gets one log line, however often it toggles decoding. */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/eventloop.h"
#include "vmm/log.h"
#include "vmm/virtio_blk.h"
#include "vmm/virtio_pci.h"
#include "vmm/vm.h"

#define NQ 3
#define NOTIFY 0x3000 /* BAR0 offset of the notify registers, NOTIFY_MULT 4 */
#define BAR_A 0xe0000000u
#define BAR_B 0xe0100000u

static void no_notify(struct virtio_dev *d, unsigned q)
{
}

static const struct virtio_ops ops = {
	.device_id = 4,
	.class_code = 0x00ff0000,
	.nqueues = NQ,
	.notify = no_notify,
};

/* Log lines go to a temporary file, read back by log_end. */
static int log_begin(char *path)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	log_setup(fd, LOG_INFO);
	return fd;
}

static unsigned log_end(int fd, char *path, const char *what)
{
	static char buf[1 << 16];
	ssize_t n;
	unsigned k = 0;

	log_setup(2, LOG_ERROR);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	for (const char *p = buf; (p = strstr(p, what)); p++)
		k++;
	close(fd);
	unlink(path);
	return k;
}

/* Writes the command register as the guest does, memory decoding on or off. */
static void set_mem(struct virtio_dev *d, bool on)
{
	uint8_t cmd[2] = {on ? PCI_CMD_MEM : 0, 0};

	pci_cfg_access(&d->pci, 0x04, cmd, 2, true);
}

static void set_bar(struct virtio_dev *d, uint32_t addr)
{
	uint8_t v[4] = {(uint8_t)addr, (uint8_t)(addr >> 8), (uint8_t)(addr >> 16),
			(uint8_t)(addr >> 24)};

	pci_cfg_access(&d->pci, 0x10, v, 4, true);
}

static void dev_close(struct virtio_dev *d, struct eventloop *el)
{
	for (unsigned q = 0; q < NQ; q++)
		el_remove(el, d->kick[q].fd);
	virtio_close(d);
}

/* Without KVM every registration fails: nothing is recorded, and the guest's toggling of
 * memory decoding is logged once, not once per queue per toggle. */
static void test_kicks_failing_logged_once(void **state)
{
	static struct vm vm;
	static struct virtio_dev d;
	static struct eventloop el;
	char path[] = "/tmp/test-vmm-virtio.XXXXXX";
	int fd = log_begin(path);

	vm_init(&vm);
	virtio_init(&d, &vm, &ops, NULL, NULL, 0, false);
	virtio_use_ioeventfd(&d, &el);
	set_bar(&d, BAR_A);
	for (int i = 0; i < 1000; i++) {
		set_mem(&d, true);
		for (unsigned q = 0; q < NQ; q++)
			assert_int_equal(d.kick[q].addr, 0);
		set_mem(&d, false);
	}
	assert_int_equal(log_end(fd, path, "KVM_IOEVENTFD"), 1);
	dev_close(&d, &el);
	el_free(&el);
	vm_destroy(&vm);
}

/* With KVM: two devices with BAR0 at one address. The second's registrations fail (EEXIST)
 * and are not recorded; once it moves away they succeed there. */
static void test_kicks_same_bar_kvm(void **state)
{
	static struct vm vm;
	static struct virtio_dev a, b;
	static struct eventloop el;
	struct err e = {0};
	char path[] = "/tmp/test-vmm-virtio.XXXXXX", path2[] = "/tmp/test-vmm-virtio.XXXXXX";
	int fd, kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (kvm < 0)
		skip();
	close(kvm);
	vm_init(&vm);
	if (vm_create(&vm, 16ULL << 20, 1, &e) < 0 || !vm.has_ioeventfd) {
		vm_destroy(&vm);
		skip();
	}
	fd = log_begin(path);
	virtio_init(&a, &vm, &ops, NULL, NULL, 0, false);
	virtio_init(&b, &vm, &ops, NULL, NULL, 0, false);
	virtio_use_ioeventfd(&a, &el);
	virtio_use_ioeventfd(&b, &el);
	set_bar(&a, BAR_A);
	set_bar(&b, BAR_A);
	set_mem(&a, true);
	for (int i = 0; i < 100; i++) {
		set_mem(&b, true);
		for (unsigned q = 0; q < NQ; q++) {
			assert_int_equal(a.kick[q].addr, BAR_A + NOTIFY + 4 * q);
			assert_int_equal(b.kick[q].addr, 0);
		}
		set_mem(&b, false);
	}
	assert_int_equal(log_end(fd, path, "KVM_IOEVENTFD"), 1);
	fd = log_begin(path2);
	set_bar(&b, BAR_B);
	set_mem(&b, true);
	for (unsigned q = 0; q < NQ; q++)
		assert_int_equal(b.kick[q].addr, BAR_B + NOTIFY + 4 * q);
	/* Moving A off and back: deassigned and assigned again, all accepted. */
	set_mem(&a, false);
	for (unsigned q = 0; q < NQ; q++)
		assert_int_equal(a.kick[q].addr, 0);
	set_mem(&a, true);
	for (unsigned q = 0; q < NQ; q++)
		assert_int_equal(a.kick[q].addr, BAR_A + NOTIFY + 4 * q);
	assert_int_equal(log_end(fd, path2, "KVM_IOEVENTFD"), 0);
	dev_close(&a, &el);
	dev_close(&b, &el);
	el_free(&el);
	vm_destroy(&vm);
}

struct fault_watch {
	int uffd;
	struct vm *vm;
	void *page;
	int trylock; /* pthread_mutex_trylock's answer while the device was stuck in I/O */
	bool faulted;
	struct virtio_dev *reset; /* the driver resets this device and sets its queue up again */
};

/* Queue 0 of d: size 8, rings in guest RAM at 0x10000, 0x11000, 0x12000; driver ready. */
static void blk_queue(struct virtio_dev *d)
{
	struct virtqueue *vq = &d->vq[0];

	d->status = VIRTIO_STATUS_DRIVER_OK;
	vq->size = 8;
	vq->desc = 0x10000;
	vq->avail = 0x11000;
	vq->used = 0x12000;
	assert_true(vq_enable(vq, &d->vm->mem));
}

/* Waits for the device's read to fault on the watched page, tries vm->lock while the read
 * is stuck there, then lets the read go on (the page reads as zeros). */
static void *fault_thread(void *arg)
{
	struct fault_watch *w = arg;
	struct pollfd p = {.fd = w->uffd, .events = POLLIN};
	struct uffd_msg msg;
	struct uffdio_zeropage z = {.range = {(uint64_t)(uintptr_t)w->page, 4096}};

	if (poll(&p, 1, 10000) != 1 || read(w->uffd, &msg, sizeof(msg)) != sizeof(msg) ||
	    msg.event != UFFD_EVENT_PAGEFAULT)
		return NULL;
	w->faulted = true;
	w->trylock = pthread_mutex_trylock(&w->vm->lock);
	if (w->trylock == 0) {
		if (w->reset) {
			uint8_t zero[2] = {0};
			uint16_t idx = 0;
			virtio_bar(w->reset, 0x14, zero, 1, true);
			gm_write(&w->vm->mem, 0x11000 + 2, &idx, 2);
			blk_queue(w->reset);
		}
		pthread_mutex_unlock(&w->vm->lock);
	}
	ioctl(w->uffd, UFFDIO_ZEROPAGE, &z);
	return NULL;
}

/* The request's image read (pread into guest RAM) runs with vm->lock released: the read is
 * made to stop on a userfaultfd page, and another thread takes vm->lock meanwhile (and, with
 * reset, resets the device and sets its queue up anew, so the completion must be dropped). */
static void blk_io_without_vm_lock(bool reset)
{
	static struct vm vm;
	static struct virtio_blk b;
	static struct fault_watch w;
	struct virtio_dev *d = &b.vdev;
	struct virtqueue *vq = &d->vq[0];
	struct err e = {0};
	char path[] = "/tmp/test-vmm-blk.XXXXXX";
	struct desc {
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;
	} desc[3] = {{0x1000, 16, 1, 1}, {0x300000, 4096, 1 | 2, 2}, {0x2000, 1, 2, 0}};
	uint32_t hdr[4] = {0, 0, 0, 0}; /* IN, sector 0 */
	uint16_t avail[3] = {0, 1, 0};	/* flags, idx, ring[0] = head 0 */
	uint8_t kick[2] = {0}, st = 0xff;
	uint16_t used_idx = 0xffff;
	struct uffdio_api api = {.api = UFFD_API};
	struct uffdio_register reg = {.mode = UFFDIO_REGISTER_MODE_MISSING};
	pthread_t t;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 65536), 0);
	w.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (w.uffd < 0 || ioctl(w.uffd, UFFDIO_API, &api) < 0) {
		close(fd);
		unlink(path);
		skip(); /* no userfaultfd here (unprivileged and not allowed) */
	}
	vm_init(&vm);
	assert_int_equal(gm_init(&vm.mem, 4ULL << 20, &e), 0);
	assert_int_equal(virtio_blk_init(&b, &vm, path, IMAGE_RAW, false, NULL, "unit", false, &e),
			 0);
	blk_queue(d);
	gm_write(&vm.mem, 0x10000, desc, sizeof(desc));
	gm_write(&vm.mem, 0x11000, avail, sizeof(avail));
	gm_write(&vm.mem, 0x1000, hdr, sizeof(hdr));
	w.vm = &vm;
	w.page = gm_ptr(&vm.mem, 0x300000, 4096); /* never touched yet: missing */
	reg.range = (struct uffdio_range){(uint64_t)(uintptr_t)w.page, 4096};
	assert_int_equal(ioctl(w.uffd, UFFDIO_REGISTER, &reg), 0);
	w.trylock = -1;
	w.faulted = false;
	w.reset = reset ? d : NULL;
	assert_int_equal(pthread_create(&t, NULL, fault_thread, &w), 0);

	pthread_mutex_lock(&vm.lock); /* as the vCPU that exits on the notify write */
	virtio_bar(d, 0x3000, kick, 2, true);
	pthread_mutex_unlock(&vm.lock);
	pthread_join(t, NULL);
	assert_true(w.faulted);
	assert_int_equal(w.trylock, 0);
	gm_read(&vm.mem, 0x2000, &st, 1);
	assert_int_equal(st, 0); /* the request completed */
	assert_int_equal(b.reads, 1);
	/* Returned on the used ring, unless the device was reset meanwhile. */
	gm_read(&vm.mem, 0x12000 + 2, &used_idx, 2);
	assert_int_equal(used_idx, reset ? 0 : 1);
	assert_int_equal(vq->used_idx, reset ? 0 : 1);
	virtio_blk_close(&b);
	vm_destroy(&vm);
	close(w.uffd);
	close(fd);
	unlink(path);
}

static void test_blk_io_without_vm_lock(void **state)
{
	blk_io_without_vm_lock(false);
}

static void test_blk_reset_during_io(void **state)
{
	blk_io_without_vm_lock(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kicks_failing_logged_once),
		cmocka_unit_test(test_kicks_same_bar_kvm),
		cmocka_unit_test(test_blk_io_without_vm_lock),
		cmocka_unit_test(test_blk_reset_during_io),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
