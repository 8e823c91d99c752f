/* libFuzzer harness for envvmm's device layer, without KVM: the input is a program of
 * configuration-space writes, BAR reads and writes, guest-memory writes (which become
 * descriptor chains and rings) and queue notifications, run against a PCI bus holding
 * virtio-rng, virtio-blk (on a scratch raw image) and virtio-net (no backend).
 * Whatever the input, the VMM must not read or write outside guest RAM, loop, or crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/pci.h"
#include "vmm/virtio_blk.h"
#include "vmm/virtio_net.h"
#include "vmm/virtio_rng.h"
#include "vmm/vm.h"

#define RAM (2u << 20)

struct rig {
	struct vm vm;
	struct pci pci;
	struct virtio_rng rng;
	struct virtio_blk blk;
	struct virtio_net *net;
	struct virtio_dev *dev[3];
};

static char disk_path[64];

static void disk_cleanup(void)
{
	unlink(disk_path);
}

/* A fresh machine per input, so that every crash reproduces from its input alone. */
static struct rig *rig_new(void)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct err e = {0};

	if (!r || !(r->net = calloc(1, sizeof(*r->net))))
		abort();
	vm_init(&r->vm);
	r->vm.ncpus = 1;
	if (gm_init(&r->vm.mem, RAM, &e) < 0 || pci_init(&r->pci, &r->vm, &e) < 0)
		abort();
	virtio_rng_init(&r->rng, &r->vm, true);
	if (virtio_blk_init(&r->blk, &r->vm, disk_path, IMAGE_RAW, false, NULL, "fuzz", true, &e) < 0)
		abort();
	if (virtio_net_init(r->net, &r->vm, NULL, NULL, true, &e) < 0)
		abort();
	r->dev[0] = &r->rng.vdev;
	r->dev[1] = &r->blk.vdev;
	r->dev[2] = &r->net->vdev;
	for (int i = 0; i < 3; i++)
		if (pci_add(&r->pci, &r->dev[i]->pci, &e) < 0)
			abort();
	return r;
}

static void rig_free(struct rig *r)
{
	virtio_blk_close(&r->blk);
	vm_destroy(&r->vm);
	free(r->net);
	free(r);
}

static void disk_setup(void)
{
	int fd;

	log_setup(2, LOG_ERROR);
	snprintf(disk_path, sizeof(disk_path), "/tmp/fuzz-vmm-disk.%d", (int)getpid());
	fd = open(disk_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 64 * 1024) < 0)
		abort();
	close(fd);
	atexit(disk_cleanup);
}

/* Reads n bytes of the input; false at its end. */
static bool take(const uint8_t **p, size_t *left, void *out, size_t n)
{
	if (*left < n)
		return false;
	memcpy(out, *p, n);
	*p += n;
	*left -= n;
	return true;
}

/* Brings queue q of d to a working state with rings at fixed places, so that later memory
 * writes turn into descriptor chains quickly. */
static void setup_queue(struct virtio_dev *d, unsigned q, uint8_t flags)
{
	uint8_t v[8];
	uint64_t base = 0x10000 + q * 0x4000;
	uint32_t feat_hi = 1, feat_lo = (flags & 1 ? 1u << 29 : 0) | (flags & 2 ? 1u << 28 : 0);

	v[0] = 0;
	virtio_bar(d, 0x14, v, 1, true); /* reset */
	memcpy(v, &(uint32_t){0}, 4);
	virtio_bar(d, 0x08, v, 4, true);
	memcpy(v, &feat_lo, 4);
	virtio_bar(d, 0x0c, v, 4, true);
	memcpy(v, &(uint32_t){1}, 4);
	virtio_bar(d, 0x08, v, 4, true);
	memcpy(v, &feat_hi, 4);
	virtio_bar(d, 0x0c, v, 4, true);
	v[0] = 1 | 2 | 8;
	virtio_bar(d, 0x14, v, 1, true);
	memcpy(v, &(uint16_t){(uint16_t)q}, 2);
	virtio_bar(d, 0x16, v, 2, true);
	memcpy(v, &(uint16_t){(uint16_t)(8 << (flags >> 6))}, 2);
	virtio_bar(d, 0x18, v, 2, true);
	memcpy(v, &(uint64_t){base}, 8);
	virtio_bar(d, 0x20, v, 8, true);
	memcpy(v, &(uint64_t){base + 0x1000}, 8);
	virtio_bar(d, 0x28, v, 8, true);
	memcpy(v, &(uint64_t){base + 0x2000}, 8);
	virtio_bar(d, 0x30, v, 8, true);
	memcpy(v, &(uint16_t){1}, 2);
	virtio_bar(d, 0x1c, v, 2, true);
	v[0] = 1 | 2 | 4 | 8;
	virtio_bar(d, 0x14, v, 1, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t left = size;
	struct rig *rig;
	uint8_t op;

	if (!disk_path[0])
		disk_setup();
	rig = rig_new();
	pthread_mutex_lock(&rig->vm.lock); /* as a vCPU holds it around device accesses */
	while (take(&p, &left, &op, 1)) {
		struct virtio_dev *d = rig->dev[(op >> 4) % 3];
		uint16_t off, gpa16;
		uint8_t len, buf[64];
		switch (op & 7) {
		case 0: /* configuration space write */
			if (!take(&p, &left, &off, 2) || !take(&p, &left, &len, 1))
				goto out;
			len = (uint8_t)(len % 4 + 1);
			if (!take(&p, &left, buf, len))
				goto out;
			pci_cfg_access(&d->pci, off % 260, buf, len, true);
			break;
		case 1: /* BAR write */
		case 2: /* BAR read */
			if (!take(&p, &left, &off, 2) || !take(&p, &left, &len, 1))
				goto out;
			len = (uint8_t)(len % 8 + 1);
			if ((op & 7) == 1 && !take(&p, &left, buf, len))
				goto out;
			virtio_bar(d, off, buf, len, (op & 7) == 1);
			break;
		case 3: /* guest memory write: rings, descriptors and buffers */
			if (!take(&p, &left, &gpa16, 2) || !take(&p, &left, &len, 1))
				goto out;
			len = (uint8_t)(len % 64 + 1);
			if (!take(&p, &left, buf, len))
				goto out;
			gm_write(&rig->vm.mem, 0x10000 + gpa16 * 4ULL, buf, len);
			break;
		case 4: /* queue notification */
			memset(buf, 0, 4);
			virtio_bar(d, 0x3000 + 4 * ((op >> 3) & 1), buf, 2, true);
			break;
		case 5:
			if (!take(&p, &left, &len, 1))
				goto out;
			setup_queue(d, (op >> 3) & 1, len);
			break;
		case 6: /* MMIO through the PCI window at a random address */
			if (!take(&p, &left, &off, 2))
				goto out;
			pci_mmio(&rig->pci, (uint64_t)off * 8, buf, 4, false);
			break;
		default: /* a frame from the network */
			if (!take(&p, &left, &len, 1))
				goto out;
			memset(buf, 0xab, sizeof(buf));
			virtio_net_receive(rig->net, buf, len % 64);
			break;
		}
	}
	out:
	pthread_mutex_unlock(&rig->vm.lock);
	rig_free(rig);
	return 0;
}
