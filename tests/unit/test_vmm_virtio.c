/* envvmm's virtio PCI transport: queue-kick ioeventfds follow BAR0 and the memory-decode bit,
 * only registrations KVM accepted are recorded, and a guest that makes registration fail
 * (two BARs at one address) gets one log line, however often it toggles decoding. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/eventloop.h"
#include "vmm/log.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kicks_failing_logged_once),
		cmocka_unit_test(test_kicks_same_bar_kvm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
