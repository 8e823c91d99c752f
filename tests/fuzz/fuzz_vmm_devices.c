/* libFuzzer harness for envvmm's device layer, without KVM: the input is a program of
 * configuration-space writes, BAR reads and writes, guest-memory writes (which become
 * descriptor chains and rings) and queue notifications, run against a PCI bus holding
 * virtio-rng, virtio-blk (on a scratch raw image) and virtio-net (no backend).
 * Whatever the input, the VMM must not read or write outside guest RAM, loop, or crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static struct rig *rig;

static void rig_setup(void)
{
	char path[] = "/tmp/fuzz-vmm-disk.XXXXXX";
	struct err e = {0};
	int fd;

	log_setup(2, LOG_ERROR);
	rig = calloc(1, sizeof(*rig));
	rig->net = calloc(1, sizeof(*rig->net));
	if (!rig || !rig->net)
		abort();
	vm_init(&rig->vm);
	rig->vm.ncpus = 1;
	if (gm_init(&rig->vm.mem, RAM, &e) < 0 || pci_init(&rig->pci, &rig->vm, &e) < 0)
		abort();
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, 64 * 1024) < 0)
		abort();
	close(fd);
	virtio_rng_init(&rig->rng, &rig->vm, true);
	if (virtio_blk_init(&rig->blk, &rig->vm, path, IMAGE_RAW, false, "fuzz", true, &e) < 0)
		abort();
	unlink(path);
	if (virtio_net_init(rig->net, &rig->vm, NULL, NULL, true, &e) < 0)
		abort();
	rig->dev[0] = &rig->rng.vdev;
	rig->dev[1] = &rig->blk.vdev;
	rig->dev[2] = &rig->net->vdev;
	for (int i = 0; i < 3; i++)
		if (pci_add(&rig->pci, &rig->dev[i]->pci, &e) < 0)
			abort();
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
	uint8_t op;

	if (!rig)
		rig_setup();
	memset(rig->vm.mem.r[0].host, 0, 0x60000);
	while (take(&p, &left, &op, 1)) {
		struct virtio_dev *d = rig->dev[(op >> 4) % 3];
		uint16_t off, gpa16;
		uint8_t len, buf[64];
		switch (op & 7) {
		case 0: /* configuration space write */
			if (!take(&p, &left, &off, 2) || !take(&p, &left, &len, 1))
				return 0;
			len = (uint8_t)(len % 4 + 1);
			if (!take(&p, &left, buf, len))
				return 0;
			pci_cfg_access(&d->pci, off % 260, buf, len, true);
			break;
		case 1: /* BAR write */
		case 2: /* BAR read */
			if (!take(&p, &left, &off, 2) || !take(&p, &left, &len, 1))
				return 0;
			len = (uint8_t)(len % 8 + 1);
			if ((op & 7) == 1 && !take(&p, &left, buf, len))
				return 0;
			virtio_bar(d, off, buf, len, (op & 7) == 1);
			break;
		case 3: /* guest memory write: rings, descriptors and buffers */
			if (!take(&p, &left, &gpa16, 2) || !take(&p, &left, &len, 1))
				return 0;
			len = (uint8_t)(len % 64 + 1);
			if (!take(&p, &left, buf, len))
				return 0;
			gm_write(&rig->vm.mem, 0x10000 + gpa16 * 4ULL, buf, len);
			break;
		case 4: /* queue notification */
			memset(buf, 0, 4);
			virtio_bar(d, 0x3000 + 4 * ((op >> 3) & 1), buf, 2, true);
			break;
		case 5:
			if (!take(&p, &left, &len, 1))
				return 0;
			setup_queue(d, (op >> 3) & 1, len);
			break;
		case 6: /* MMIO through the PCI window at a random address */
			if (!take(&p, &left, &off, 2))
				return 0;
			pci_mmio(&rig->pci, (uint64_t)off * 8, buf, 4, false);
			break;
		default: /* a frame from the network */
			if (!take(&p, &left, &len, 1))
				return 0;
			memset(buf, 0xab, sizeof(buf));
			virtio_net_receive(rig->net, buf, len % 64);
			break;
		}
	}
	return 0;
}
