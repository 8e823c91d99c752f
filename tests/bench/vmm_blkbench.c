/* Host-side virtio-blk backend throughput: drives virtio_blk_request (the device logic that
 * runs on a guest kick) with 4 KiB requests, sequential and random, on one image, without KVM.
 * usage: vmm_blkbench IMAGE raw|qcow2 MIB_PER_TEST */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmm/log.h"
#include "vmm/virtio_blk.h"
#include "vmm/vm.h"

#define HDR_GPA 0x1000
#define DATA_GPA 0x2000
#define STATUS_GPA 0x3000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int main(int argc, char **argv)
{
	static struct vm vm;
	static struct virtio_blk blk;
	static struct vq_chain c;
	struct err e = {0};
	uint64_t sectors, n, seed = 0x9e3779b97f4a7c15ULL;
	const char *names[4] = {"seq-read", "seq-write", "rand-read", "rand-write"};

	if (argc != 4) {
		fprintf(stderr, "usage: vmm_blkbench IMAGE raw|qcow2 MIB_PER_TEST\n");
		return 2;
	}
	log_setup(2, LOG_ERROR);
	vm_init(&vm);
	if (gm_init(&vm.mem, 2 << 20, &e) < 0 ||
	    virtio_blk_init(&blk, &vm, argv[1], image_format_from_name(argv[2]), false, NULL, "bench",
			    false, &e) < 0) {
		fprintf(stderr, "vmm_blkbench: %s\n", e.msg);
		return 1;
	}
	sectors = blk.capacity / 512;
	n = (uint64_t)atoi(argv[3]) * 256; /* 4 KiB requests */
	c.n = 3;
	c.seg[0] = (struct vq_seg){gm_ptr(&vm.mem, HDR_GPA, 16), 16, false};
	c.seg[2] = (struct vq_seg){gm_ptr(&vm.mem, STATUS_GPA, 1), 1, true};
	memset(gm_ptr(&vm.mem, DATA_GPA, 4096), 0x5a, 4096);
	for (int t = 0; t < 4; t++) {
		bool wr = t & 1, rnd = t >= 2;
		double t0 = now(), dt;
		uint64_t errors = blk.errors;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t blkno = rnd ? rng_next(&seed) % (sectors / 8) : i % (sectors / 8);
			uint32_t hdr[4] = {wr ? 1 : 0, 0, (uint32_t)(blkno * 8),
					   (uint32_t)((blkno * 8) >> 32)};
			memcpy(c.seg[0].p, hdr, 16);
			c.seg[1] = (struct vq_seg){gm_ptr(&vm.mem, DATA_GPA, 4096), 4096, !wr};
			c.out_len = 16 + (wr ? 4096 : 0);
			c.in_len = 1 + (wr ? 0 : 4096);
			if (wr)
				c.seg[1].write = false;
			virtio_blk_request(&blk, &c);
		}
		if (wr && image_flush(blk.img, &e) < 0)
			fprintf(stderr, "flush: %s\n", e.msg);
		dt = now() - t0;
		printf("vmm blk %-5s %-10s 4KiB: %8.1f MiB/s %9.0f IOPS%s\n", argv[2], names[t],
		       (double)n * 4096 / (1 << 20) / dt, (double)n / dt,
		       blk.errors != errors ? " (ERRORS)" : "");
	}
	virtio_blk_close(&blk);
	gm_free(&vm.mem);
	return 0;
}
