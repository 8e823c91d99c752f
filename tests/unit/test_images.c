/* The qcow2 writer and the image handle: random writes against a reference file, overlays,
 * refusals; qemu-img check and compare judge the files we write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "boxes/image.h"
#include "core/fsutil.h"
#include "tests/unit/unit.h"

static char *dir;

static char *path(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static int setup(void **state)
{
	dir = unit_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	unit_rmdir(dir);
	return 0;
}

/* Random writes (sizes from 1 byte to several clusters, some crossing L2 tables) to img and
 * the same bytes to the raw reference file ref. */
static void random_writes(struct image *img, int ref, uint64_t size, unsigned n, unsigned seed)
{
	uint8_t *buf = malloc(600000);
	struct err e = {0};

	assert_non_null(buf);
	srand(seed);
	for (unsigned i = 0; i < n; i++) {
		size_t len = (size_t)(rand() % 4 == 0 ? rand() % 600000 + 1 : rand() % 9000 + 1);
		uint64_t off;

		if (rand() % 3 == 0) /* an L2 table boundary (64 KiB clusters, then 128 KiB ext-L2) */
			off = (rand() % 2 ? 512ull << 20 : 1ull << 30) - (uint64_t)(rand() % 200000);
		else
			off = ((uint64_t)rand() << 16 ^ (uint64_t)rand()) % size;
		if (off >= size)
			off = size - 1;
		if (len > size - off)
			len = (size_t)(size - off);
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)(rand() % 7 == 0 ? 0 : i * 31 + k);
		if (image_pwrite(img, buf, len, off, &e) < 0)
			fail_msg("pwrite: %s", e.msg);
		assert_int_equal(pwrite(ref, buf, len, (off_t)off), (ssize_t)len);
	}
	free(buf);
}

static void compare_with(struct image *img, const char *ref_path)
{
	int fd = open(ref_path, O_RDONLY);
	uint64_t size = image_size(img);
	uint8_t *a = malloc(1 << 20), *b = malloc(1 << 20);
	struct err e = {0};

	assert_true(fd >= 0 && a && b);
	for (uint64_t off = 0; off < size; off += 1 << 20) {
		size_t n = size - off < (1 << 20) ? (size_t)(size - off) : 1 << 20;
		ssize_t got = pread(fd, b, n, (off_t)off);

		assert_true(got >= 0);
		memset(b + got, 0, n - (size_t)got);
		if (image_pread(img, a, n, off, &e) < 0)
			fail_msg("pread: %s", e.msg);
		assert_memory_equal(a, b, n);
	}
	close(fd);
	free(a);
	free(b);
}

static void test_standalone_writes(void **state)
{
	struct image_open_opts o = {.writable = true};
	const uint64_t size = (1ull << 30) + 12345 * 512;
	struct image *img;
	struct err e = {0};
	int ref;

	if (!unit_have("qemu-img"))
		skip();
	if (image_create_qcow2(path("s.qcow2"), size, NULL, IMAGE_UNKNOWN, &e) < 0)
		fail_msg("create: %s", e.msg);
	assert_int_equal(image_create_qcow2(path("s.qcow2"), size, NULL, IMAGE_UNKNOWN, &e), -1);
	assert_int_equal(e.code, ERR_EXISTS);
	ref = open(path("s.ref"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(ref >= 0);
	assert_int_equal(ftruncate(ref, (off_t)size), 0);
	if (image_open(path("s.qcow2"), IMAGE_QCOW2, &o, &img, &e) < 0)
		fail_msg("open: %s", e.msg);
	random_writes(img, ref, size, 300, 1);
	/* rewrite in place, after the clusters exist */
	random_writes(img, ref, size, 100, 1);
	assert_int_equal(image_flush(img, &e), 0);
	compare_with(img, path("s.ref"));
	image_close(img);
	close(ref);
	assert_int_equal(unit_sh("qemu-img check -q %s", path("s.qcow2")), 0);
	assert_int_equal(
		unit_sh("qemu-img compare -q -f raw -F qcow2 %s %s", path("s.ref"), path("s.qcow2")), 0);
	/* reopen: what was written is there */
	if (image_open(path("s.qcow2"), IMAGE_QCOW2, NULL, &img, &e) < 0)
		fail_msg("reopen: %s", e.msg);
	compare_with(img, path("s.ref"));
	image_close(img);
}

static void test_overlay_writes(void **state)
{
	struct image_open_opts o = {.writable = true, .follow_refs = true};
	struct image *img;
	struct err e = {0};
	int ref;

	if (!unit_have("qemu-img"))
		skip();
	assert_int_equal(unit_sh("python3 %s/tests/integration/images_pattern.py %s %d 3",
			    getenv("ENVUP_SRC") ? getenv("ENVUP_SRC") : ".", path("base.raw"),
			    6 * 1048576 + 4608),
			 0);
	assert_int_equal(
		unit_sh("qemu-img convert -O qcow2 %s %s", path("base.raw"), path("base.qcow2")), 0);
	/* size 0: the backing's size */
	if (image_create_qcow2(path("ov.qcow2"), 0, "base.qcow2", IMAGE_QCOW2, &e) < 0)
		fail_msg("create overlay: %s", e.msg);
	assert_int_equal(unit_sh("cp %s %s", path("base.raw"), path("ov.ref")), 0);
	ref = open(path("ov.ref"), O_RDWR);
	assert_true(ref >= 0);
	o.writable = false;
	assert_int_equal(image_open(path("ov.qcow2"), IMAGE_QCOW2, &o, &img, &e), 0);
	assert_int_equal(image_pwrite(img, "x", 1, 0, &e), -1);
	image_close(img);
	o.writable = true;
	if (image_open(path("ov.qcow2"), IMAGE_QCOW2, &o, &img, &e) < 0)
		fail_msg("open overlay: %s", e.msg);
	assert_int_equal(image_size(img), 6 * 1048576 + 4608);
	assert_non_null(image_backing(img));
	assert_string_equal(image_subformat(img), "v3, 128 KiB clusters, extended L2");
	random_writes(img, ref, image_size(img), 200, 2);
	compare_with(img, path("ov.ref"));
	image_close(img);
	/* again after a reopen: into half-written clusters, through the metadata written back */
	if (image_open(path("ov.qcow2"), IMAGE_QCOW2, &o, &img, &e) < 0)
		fail_msg("reopen overlay: %s", e.msg);
	compare_with(img, path("ov.ref"));
	random_writes(img, ref, image_size(img), 200, 3);
	assert_int_equal(image_flush(img, &e), 0);
	compare_with(img, path("ov.ref"));
	image_close(img);
	close(ref);
	/* a 4 KiB write into a fresh overlay cluster takes 4 KiB, not a copied cluster */
	if (image_create_qcow2(path("ov2.qcow2"), 0, "base.qcow2", IMAGE_QCOW2, &e) < 0 ||
	    image_open(path("ov2.qcow2"), IMAGE_QCOW2, &o, &img, &e) < 0)
		fail_msg("second overlay: %s", e.msg);
	{
		uint8_t page[4096];

		memset(page, 0xab, sizeof(page));
		for (uint64_t c = 0; c < 40; c++)
			assert_int_equal(image_pwrite(img, page, sizeof(page), c * 131072 + 8192, &e),
					 0);
	}
	assert_int_equal(image_flush(img, &e), 0);
	/* 5 metadata clusters of 128 KiB and 40 pages: well under 40 copied clusters */
	assert_true(image_allocated(img) < 1536 * 1024);
	image_close(img);
	assert_int_equal(unit_sh("qemu-img check -q %s", path("ov2.qcow2")), 0);
	assert_int_equal(unit_sh("out=$(qemu-io -c 'read -P 0xab 1056768 4096' %s 2>&1) && "
			    "echo \"$out\" | grep -q '^read 4096/4096' && "
			    "! echo \"$out\" | grep -qi fail",
			    path("ov2.qcow2")), 0);
	assert_int_equal(unit_sh("qemu-img check -q %s", path("ov.qcow2")), 0);
	assert_int_equal(
		unit_sh("qemu-img compare -q -f raw -F qcow2 %s %s", path("ov.ref"), path("ov.qcow2")),
		0);
	/* the backing stays untouched */
	assert_int_equal(unit_sh("qemu-img compare -q %s %s", path("base.raw"), path("base.qcow2")), 0);
	/* without permission to follow references the overlay does not open */
	assert_int_equal(image_open(path("ov.qcow2"), IMAGE_QCOW2, NULL, &img, &e), -1);
	assert_non_null(strstr(e.msg, "not allowed"));
	/* a backing that exists but is not inside the overlay's directory is refused at
	 * creation, and so is one without a format */
	assert_int_equal(unit_sh("mkdir -p %s", path("sub")), 0);
	assert_int_equal(
		image_create_qcow2(path("sub/bad.qcow2"), 0, "../base.raw", IMAGE_RAW, &e), -1);
	assert_non_null(strstr(e.msg, "leaves its directory"));
	assert_int_equal(image_create_qcow2(path("bad.qcow2"), 0, "base.raw", IMAGE_UNKNOWN, &e),
			 -1);
	assert_int_equal(e.code, ERR_USAGE);
	assert_int_equal(unit_sh("test ! -e %s && test ! -e %s", path("sub/bad.qcow2"),
				 path("bad.qcow2")),
			 0);
}

/* A machine overlay whose base lives in the box store, outside the overlay's directory: only
 * the exact absolute path the caller vouches for is followed. */
static void test_trusted_backing(void **state)
{
	struct image_open_opts o = {.writable = true, .follow_refs = true};
	char base[600], other[600];
	struct image *img;
	struct err e = {0};
	uint8_t buf[512];

	if (!unit_have("qemu-img"))
		skip();
	assert_int_equal(unit_sh("mkdir -p %s %s && qemu-img create -q -f qcow2 %s/base.qcow2 4M && "
			    "qemu-io -c 'write -P 0x5a 0 64k' %s/base.qcow2 >/dev/null",
			    path("store"), path("machine"), path("store"), path("store")), 0);
	snprintf(base, sizeof(base), "%s/base.qcow2", path("store"));
	snprintf(other, sizeof(other), "%s/other.qcow2", path("store"));
	if (image_create_qcow2(path("machine/disk.qcow2"), 0, base, IMAGE_QCOW2, &e) < 0)
		fail_msg("create: %s", e.msg);
	/* without the caller's word the absolute backing is refused */
	assert_int_equal(image_open(path("machine/disk.qcow2"), IMAGE_QCOW2, &o, &img, &e), -1);
	assert_non_null(strstr(e.msg, "leaves its directory"));
	o.trusted_backing = other;
	assert_int_equal(image_open(path("machine/disk.qcow2"), IMAGE_QCOW2, &o, &img, &e), -1);
	o.trusted_backing = base;
	if (image_open(path("machine/disk.qcow2"), IMAGE_QCOW2, &o, &img, &e) < 0)
		fail_msg("open with trusted backing: %s", e.msg);
	assert_int_equal(image_size(img), 4 << 20);
	assert_int_equal(image_pread(img, buf, sizeof(buf), 1024, &e), 0);
	assert_int_equal(buf[0], 0x5a);
	memset(buf, 0x11, sizeof(buf));
	assert_int_equal(image_pwrite(img, buf, sizeof(buf), 512, &e), 0);
	image_close(img);
	assert_int_equal(unit_sh("qemu-img check -q %s", path("machine/disk.qcow2")), 0);
	/* qemu sees our write over the base's data */
	assert_int_not_equal(unit_sh("qemu-io -c 'read -P 0x11 512 512' -c 'read -P 0x5a 1024 1024' "
				"%s 2>&1 | grep -q 'verification failed'",
				path("machine/disk.qcow2")), 0);
	assert_int_equal(unit_sh("qemu-io -c 'read -P 0x11 1024 512' %s 2>&1 | "
			    "grep -q 'verification failed'",
			    path("machine/disk.qcow2")), 0);
}

static void test_foreign_writable(void **state)
{
	struct image_open_opts o = {.writable = true, .follow_refs = true};
	const char *opts[] = {"refcount_bits=1,cluster_size=4k", "refcount_bits=64", "compat=0.10",
			      "compat=0.10,cluster_size=512", "cluster_size=1k,refcount_bits=2"};
	struct image *img;
	struct err e = {0};
	int rc;

	if (!unit_have("qemu-img"))
		skip();
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		int ref;

		assert_int_equal(
			unit_sh("qemu-img create -q -f qcow2 -o %s %s 64M", opts[i], path("f.qcow2")),
			0);
		ref = open(path("f.ref"), O_RDWR | O_CREAT | O_TRUNC, 0644);
		assert_int_equal(ftruncate(ref, 64 << 20), 0);
		if (image_open(path("f.qcow2"), IMAGE_QCOW2, &o, &img, &e) < 0)
			fail_msg("open %s: %s", opts[i], e.msg);
		random_writes(img, ref, 64 << 20, 150, (unsigned)i + 10);
		compare_with(img, path("f.ref"));
		image_close(img);
		close(ref);
		if (unit_sh("qemu-img check -q %s", path("f.qcow2")) != 0)
			fail_msg("qemu-img check failed for %s", opts[i]);
		assert_int_equal(unit_sh("qemu-img compare -q -f raw -F qcow2 %s %s", path("f.ref"),
				    path("f.qcow2")),
				 0);
	}
	/* compressed clusters (zlib and zstd; several share a host cluster) */
	for (int z = 0; z < 2; z++) {
		int ref;

		assert_int_equal(unit_sh("python3 %s/tests/integration/images_pattern.py %s %d 9",
				    getenv("ENVUP_SRC") ? getenv("ENVUP_SRC") : ".", path("c.ref"),
				    8 << 20), 0);
		assert_int_equal(unit_sh("qemu-img convert -c -O qcow2 -o compression_type=%s,"
				    "cluster_size=4k %s %s",
				    z ? "zstd" : "zlib", path("c.ref"), path("c.qcow2")), 0);
		ref = open(path("c.ref"), O_RDWR);
		if (image_open(path("c.qcow2"), IMAGE_QCOW2, &o, &img, &e) < 0)
			fail_msg("open compressed: %s", e.msg);
		random_writes(img, ref, 8 << 20, 150, 20 + (unsigned)z);
		compare_with(img, path("c.ref"));
		image_close(img);
		close(ref);
		if (unit_sh("qemu-img check -q %s", path("c.qcow2")) != 0)
			fail_msg("qemu-img check failed after writes into compressed clusters");
		assert_int_equal(unit_sh("qemu-img compare -q -f raw -F qcow2 %s %s", path("c.ref"),
				    path("c.qcow2")), 0);
	}
	/* a persistent bitmap's autoclear bit is dropped by our first write access */
	assert_int_equal(unit_sh("qemu-img create -q -f qcow2 %s 8M && qemu-img bitmap --add %s b0",
			    path("b.qcow2"), path("b.qcow2")), 0);
	assert_int_equal(image_open(path("b.qcow2"), IMAGE_QCOW2, &o, &img, &e), 0);
	assert_int_equal(image_pwrite(img, "data", 4, 4096, &e), 0);
	image_close(img);
	/* the bitmap's clusters are now unreferenced: leaks (exit 3), not errors */
	rc = unit_sh("qemu-img check -q %s >/dev/null 2>&1", path("b.qcow2"));
	assert_true(rc == 0 || rc == 3 << 8);
	assert_int_not_equal(unit_sh("qemu-img info %s 2>/dev/null | grep -q b0", path("b.qcow2")), 0);
	/* images we do not write: internal snapshots */
	assert_int_equal(unit_sh("qemu-img create -q -f qcow2 %s 8M && qemu-img snapshot -c s1 %s",
			    path("y.qcow2"), path("y.qcow2")),
			 0);
	assert_int_equal(image_open(path("y.qcow2"), IMAGE_QCOW2, &o, &img, &e), -1);
	assert_non_null(strstr(e.msg, "snapshots"));
	/* other formats are read-only */
	assert_int_equal(unit_sh("qemu-img create -q -f vdi %s 8M", path("z.vdi")), 0);
	assert_int_equal(image_open(path("z.vdi"), IMAGE_VDI, &o, &img, &e), -1);
	assert_int_equal(e.code, ERR_UNSUPPORTED);
}

/* Extended-L2 images that QEMU made, standalone and overlays, with zero subclusters both in
 * allocated clusters and in clusters without a host cluster. */
static void test_foreign_extended_l2(void **state)
{
	struct image_open_opts o = {.writable = true, .follow_refs = true};
	const char *cluster[] = {"16k", "64k", "128k", "2M"};
	struct image *img;
	struct err e = {0};

	if (!unit_have("qemu-img"))
		skip();
	assert_int_equal(unit_sh("python3 %s/tests/integration/images_pattern.py %s %d 5",
			    getenv("ENVUP_SRC") ? getenv("ENVUP_SRC") : ".", path("xb.raw"),
			    24 << 20), 0);
	for (size_t i = 0; i < 2 * sizeof(cluster) / sizeof(cluster[0]); i++) {
		bool overlay = i % 2;
		int ref;

		if (overlay)
			assert_int_equal(unit_sh("qemu-img create -q -f qcow2 -F raw -b xb.raw -o "
					    "extended_l2=on,cluster_size=%s %s",
					    cluster[i / 2], path("x.qcow2")), 0);
		else
			assert_int_equal(unit_sh("qemu-img create -q -f qcow2 -o "
					    "extended_l2=on,cluster_size=%s %s 24M",
					    cluster[i / 2], path("x.qcow2")), 0);
		/* data, zero subclusters inside it, and zero subclusters with no host cluster */
		assert_int_equal(unit_sh("qemu-io -c 'write -P 0x33 0 1M' -c 'write -z 16k 8k' "
				    "-c 'write -z 5M 4k' -c 'write -z 9M 64k' %s >/dev/null",
				    path("x.qcow2")), 0);
		assert_int_equal(unit_sh("qemu-img convert -O raw %s %s", path("x.qcow2"), path("x.ref")),
				 0);
		ref = open(path("x.ref"), O_RDWR);
		assert_true(ref >= 0);
		if (image_open(path("x.qcow2"), IMAGE_QCOW2, &o, &img, &e) < 0)
			fail_msg("open extended L2 %s: %s", cluster[i / 2], e.msg);
		random_writes(img, ref, 24 << 20, 150, 30 + (unsigned)i);
		compare_with(img, path("x.ref"));
		image_close(img);
		close(ref);
		if (unit_sh("qemu-img check -q %s", path("x.qcow2")) != 0)
			fail_msg("qemu-img check failed for extended L2 %s%s", cluster[i / 2],
				 overlay ? " overlay" : "");
		assert_int_equal(unit_sh("qemu-img compare -q -f raw -F qcow2 %s %s", path("x.ref"),
				    path("x.qcow2")), 0);
	}
}

static void test_raw_and_status(void **state)
{
	struct image_open_opts o = {.writable = true};
	struct image *img;
	struct err e = {0};
	uint8_t buf[4096];
	uint64_t n;
	bool zero;
	enum image_format fmt;
	int fd = open(path("r.raw"), O_RDWR | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8 << 20), 0);
	close(fd);
	assert_int_equal(image_open(path("r.raw"), IMAGE_RAW, &o, &img, &e), 0);
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(image_pwrite(img, buf, sizeof(buf), 1 << 20, &e), 0);
	assert_int_equal(image_flush(img, &e), 0);
	assert_int_equal(image_block_status(img, 0, 8 << 20, &n, &zero, &e), 0);
	assert_true(zero);
	assert_true(n <= 1 << 20);
	assert_int_equal(image_block_status(img, 1 << 20, 4096, &n, &zero, &e), 0);
	assert_false(zero);
	/* out of range */
	assert_int_equal(image_pread(img, buf, 2, (8 << 20) - 1, &e), -1);
	assert_int_equal(image_pwrite(img, buf, 1, 8 << 20, &e), -1);
	image_close(img);
	/* a guest that writes a qcow2 header into its raw disk changes nothing: raw stays raw */
	fd = open(path("r.raw"), O_RDWR);
	assert_int_equal(pwrite(fd, "QFI\xfb\0\0\0\3", 8, 0), 8);
	close(fd);
	assert_int_equal(image_open(path("r.raw"), IMAGE_RAW, NULL, &img, &e), 0);
	assert_int_equal(image_size(img), 8 << 20);
	image_close(img);
	assert_int_equal(image_detect(path("r.raw"), &fmt, &e), 0);
	assert_int_equal(fmt, IMAGE_QCOW2);
	assert_int_equal(image_open(path("r.raw"), IMAGE_UNKNOWN, NULL, &img, &e), -1);
	assert_int_equal(image_format_from_name("vpc"), IMAGE_VHD);
	assert_string_equal(image_format_name(IMAGE_VMDK), "vmdk");
	image_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_standalone_writes),
		cmocka_unit_test(test_overlay_writes),
		cmocka_unit_test(test_trusted_backing),
		cmocka_unit_test(test_foreign_writable),
		cmocka_unit_test(test_foreign_extended_l2),
		cmocka_unit_test(test_raw_and_status),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
