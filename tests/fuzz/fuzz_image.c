/* libFuzzer harness for one image reader (FUZZ_FORMAT picks which): the input is written to
 * a file, opened with references allowed inside its directory, and read end to end. With
 * FUZZ_WRITE the image is opened writable (qcow2) and written a few times first: hostile
 * metadata must not make the writer touch memory it does not own. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boxes/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256], file[300];

static void cleanup(void)
{
	unlink(file);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[1 << 20];
	struct image_open_opts o = {.follow_refs = true};
	struct image *img;
	struct err e = {0};
	uint64_t off = 0, n;
	unsigned steps = 0;
	bool zero;
	int fd;

	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/envup-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir))
			abort();
		snprintf(file, sizeof(file), "%s/img", dir);
		atexit(cleanup);
	}
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
#ifdef FUZZ_WRITE
	o.writable = true;
	/* half the inputs as a conversion's output: no ordering syncs between the writes */
	o.unnamed_output = size & 1;
#endif
	if (image_open(file, FUZZ_FORMAT, &o, &img, &e) < 0)
		return 0;
#ifdef FUZZ_WRITE
	for (unsigned i = 0; i < 4 && image_size(img); i++) {
		uint64_t seed = size > i * 8 + 8 ? data[size - 1 - i] * 2654435761u + i : i;
		uint64_t woff = seed * 4099 % image_size(img);
		size_t wlen = (size_t)(seed % 70000) + 1;

		if (wlen > image_size(img) - woff)
			wlen = (size_t)(image_size(img) - woff);
		memset(buf, (int)(i + 1), wlen);
		if (image_pwrite(img, buf, wlen, woff, &e) < 0)
			break;
	}
#endif
	/* every run of the disk, bounded in steps so huge virtual sizes stay quick */
	while (off < image_size(img) && steps++ < 2048) {
		if (image_block_status(img, off, image_size(img) - off, &n, &zero, &e) < 0)
			break;
		if (!zero) {
			uint64_t len = n < sizeof(buf) ? n : sizeof(buf);

			if (image_pread(img, buf, (size_t)len, off, &e) < 0)
				break;
			n = len;
		}
		off += n;
	}
	image_close(img);
	return 0;
}
