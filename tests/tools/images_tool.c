/* Test helper for the image library: creates qcow2 images and overlays and writes random
 * data into them, so that scripts can kill a writer mid-write and check what it leaves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boxes/image.h"

static int usage(void)
{
	fprintf(stderr, "usage: images_tool create PATH SIZE [BACKING FORMAT]\n"
			"       images_tool create-timed PATH BACKING FORMAT N\n"
			"       images_tool write PATH SEED COUNT   (COUNT 0: until killed)\n");
	return 2;
}

static int do_write(const char *path, unsigned seed, unsigned long count)
{
	struct image_open_opts o = {.writable = true, .follow_refs = true};
	struct image *img;
	struct err e = {0};
	uint8_t *buf = malloc(300000);
	uint64_t size;

	if (!buf || image_open(path, IMAGE_QCOW2, &o, &img, &e) < 0) {
		fprintf(stderr, "images_tool: %s\n", buf ? e.msg : "out of memory");
		free(buf);
		return 1;
	}
	size = image_size(img);
	srand(seed);
	for (unsigned long i = 0; count == 0 || i < count; i++) {
		size_t len = (size_t)(rand() % 300000 + 1);
		uint64_t off = ((uint64_t)rand() << 20 ^ (uint64_t)rand()) % size;

		if (len > size - off)
			len = (size_t)(size - off);
		memset(buf, (int)(i & 0xff) | 1, len);
		if (image_pwrite(img, buf, len, off, &e) < 0 ||
		    (i % 64 == 63 && image_flush(img, &e) < 0)) {
			fprintf(stderr, "images_tool: %s\n", e.msg);
			image_close(img);
			free(buf);
			return 1;
		}
	}
	image_close(img);
	free(buf);
	return 0;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

/* create-timed PATH BACKING FORMAT N: makes the overlay N times as envup does for a machine's
 * disk (image_create_qcow2; PATH removed before each, outside the timing) and prints the
 * median in microseconds: the linked-clone time without a process start. */
static int do_create_timed(const char *path, const char *backing, const char *fmt, int n)
{
	long us[1000];
	struct err e = {0};

	if (n < 1 || n > 1000)
		return usage();
	for (int i = 0; i < n; i++) {
		struct timespec a, b;

		unlink(path);
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (image_create_qcow2(path, 0, backing, image_format_from_name(fmt), &e) < 0) {
			fprintf(stderr, "images_tool: %s\n", e.msg);
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		us[i] = (b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
	}
	qsort(us, (size_t)n, sizeof(us[0]), cmp_long);
	printf("%ld\n", us[n / 2]);
	return 0;
}

int main(int argc, char **argv)
{
	struct err e = {0};

	if (argc >= 4 && !strcmp(argv[1], "create")) {
		const char *backing = argc >= 6 ? argv[4] : NULL;
		enum image_format bf = argc >= 6 ? image_format_from_name(argv[5]) : IMAGE_UNKNOWN;

		if (image_create_qcow2(argv[2], strtoull(argv[3], NULL, 0), backing, bf, &e) < 0) {
			fprintf(stderr, "images_tool: %s\n", e.msg);
			return 1;
		}
		return 0;
	}
	if (argc == 6 && !strcmp(argv[1], "create-timed"))
		return do_create_timed(argv[2], argv[3], argv[4], atoi(argv[5]));
	if (argc == 5 && !strcmp(argv[1], "write"))
		return do_write(argv[2], (unsigned)atoi(argv[3]), strtoul(argv[4], NULL, 0));
	return usage();
}
