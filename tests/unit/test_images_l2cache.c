/* The qcow2 L2-table cache: with 512-byte clusters (an L2 table maps 32 KiB) a 64 MiB image
 * needs far more tables than the cache holds, so reads and writes evict and reload tables all
 * the time; an extended-L2 overlay does the same with a cache of two tables. Every read through the
 * writing handle must see every earlier write (the cache is never stale), qemu-img must find the
 * file clean, and threads reading one read-only handle at once must all get the right bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "boxes/image.h"
#include "core/fsutil.h"
#include "tests/unit/unit.h"

#define SIZE (64ull << 20)
#define THREADS 4

static char *dir;
static char img_path[512], ref_path[512], base_path[512];

static int setup(void **state)
{
	(void)state;
	dir = unit_tmpdir();
	snprintf(img_path, sizeof(img_path), "%s/ov.qcow2", dir);
	snprintf(ref_path, sizeof(ref_path), "%s/ov.ref", dir);
	snprintf(base_path, sizeof(base_path), "%s/base.qcow2", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unit_rmdir(dir);
	return 0;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void check_range(struct image *img, int ref, uint64_t off, size_t len, uint8_t *a,
			uint8_t *b)
{
	struct err e = {0};

	assert_int_equal(pread(ref, b, len, (off_t)off), (ssize_t)len);
	if (image_pread(img, a, len, off, &e) < 0)
		fail_msg("pread at %llu: %s", (unsigned long long)off, e.msg);
	if (memcmp(a, b, len))
		fail_msg("stale or wrong data at %llu (+%zu)", (unsigned long long)off, len);
}

/* Writes interleaved with reads of the same and of random places, through one handle whose
 * cache holds only a few of the overlay's L2 tables (made with qemu-img create -o opts). */
static void write_then_read(const char *opts, size_t cache_bytes)
{
	struct image_open_opts o = {
		.writable = true, .follow_refs = true, .l2_cache_bytes = cache_bytes};
	uint8_t *buf = malloc(1 << 17), *a = malloc(1 << 17), *b = malloc(1 << 17);
	uint64_t s = 0x1234567887654321ull;
	struct image *img;
	struct err e = {0};
	int ref;

	assert_true(buf && a && b);
	/* a base with data everywhere, and an overlay on it */
	assert_int_equal(unit_sh("head -c %llu /dev/urandom >%s/base.raw", SIZE, dir), 0);
	assert_int_equal(unit_sh("qemu-img convert -q -O qcow2 -o cluster_size=512 %s/base.raw %s",
				 dir, base_path),
			 0);
	assert_int_equal(unit_sh("rm -f %s && qemu-img create -q -f qcow2 -o %s -F qcow2 -b "
				 "base.qcow2 %s",
				 img_path, opts, img_path),
			 0);
	assert_int_equal(unit_sh("cp %s/base.raw %s", dir, ref_path), 0);
	ref = open(ref_path, O_RDWR);
	assert_true(ref >= 0);
	if (image_open(img_path, IMAGE_QCOW2, &o, &img, &e) < 0)
		fail_msg("open: %s", e.msg);
	for (unsigned i = 0; i < 3000; i++) {
		size_t len = (size_t)(rnd(&s) % 4 == 0 ? rnd(&s) % (1 << 17) : rnd(&s) % 5000) + 1;
		uint64_t off = rnd(&s) % (SIZE - len);

		/* read first, so that the tables the write changes are likely cached */
		check_range(img, ref, off, len, a, b);
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)(i * 7 + k);
		if (image_pwrite(img, buf, len, off, &e) < 0)
			fail_msg("pwrite: %s", e.msg);
		assert_int_equal(pwrite(ref, buf, len, (off_t)off), (ssize_t)len);
		check_range(img, ref, off, len, a, b);
		off = rnd(&s) % (SIZE - 4096);
		check_range(img, ref, off, 4096, a, b);
	}
	assert_int_equal(image_flush(img, &e), 0);
	image_close(img);
	close(ref);
	assert_int_equal(unit_sh("qemu-img check -q %s", img_path), 0);
	assert_int_equal(unit_sh("qemu-img compare -q -f raw -F qcow2 %s %s", ref_path, img_path),
			 0);
	free(buf);
	free(a);
	free(b);
}

static void test_write_then_read(void **state)
{
	(void)state;
	if (!unit_have("qemu-img"))
		skip();
	/* 512-byte clusters: an L2 table maps 32 KiB, the default cache 128 of them */
	write_then_read("cluster_size=512", 0);
	/* extended L2 with 16 KiB clusters: a table maps 16 MiB, the cache holds 2 (dirty
	 * tables are written back when their slot is reused) */
	write_then_read("cluster_size=16k,extended_l2=on", 32768);
	/* the 512-byte overlay again, last, for the threads below */
	write_then_read("cluster_size=512", 0);
}

struct reader {
	struct image *img;
	uint64_t seed;
	unsigned bad;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;
	uint8_t *a = malloc(1 << 16), *b = malloc(1 << 16);
	int ref = open(ref_path, O_RDONLY);

	if (!a || !b || ref < 0) {
		r->bad++;
		goto out;
	}
	for (unsigned i = 0; i < 4000; i++) {
		struct err e = {0};
		size_t len = (size_t)(rnd(&r->seed) % (1 << 16)) + 1;
		uint64_t off = rnd(&r->seed) % (SIZE - len);

		if (pread(ref, b, len, (off_t)off) != (ssize_t)len ||
		    image_pread(r->img, a, len, off, &e) < 0 || memcmp(a, b, len))
			r->bad++;
	}
out:
	if (ref >= 0)
		close(ref);
	free(a);
	free(b);
	return NULL;
}

/* Several threads on one read-only handle (and its backing), as the image API promises. */
static void test_threads(void **state)
{
	struct image_open_opts o = {.follow_refs = true};
	struct reader r[THREADS];
	pthread_t t[THREADS];
	struct image *img;
	struct err e = {0};

	(void)state;
	if (access(ref_path, F_OK) != 0)
		skip(); /* the first test made the files (needs qemu-img) */
	if (image_open(img_path, IMAGE_QCOW2, &o, &img, &e) < 0)
		fail_msg("open: %s", e.msg);
	for (int i = 0; i < THREADS; i++) {
		r[i] = (struct reader){img, 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1), 0};
		assert_int_equal(pthread_create(&t[i], NULL, read_loop, &r[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].bad, 0);
	}
	image_close(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_then_read),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
