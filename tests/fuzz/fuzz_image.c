/* libFuzzer harness for one image reader (FUZZ_FORMAT picks which): the input is written to
 * a file, opened with references allowed inside its directory, and read end to end. With
 * FUZZ_WRITE the image is opened writable (qcow2) and written a few times first: hostile
 * metadata must not make the writer touch memory it does not own. With FUZZ_ADOPT the
 * box store's adoption check runs first: an image it accepts must then read end to end. With
 * FUZZ_STREAM an input that looks like a stream VMDK also goes through the streaming
 * converter: whatever it writes must pass the adoption check. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boxes/image.h"
#include "boxes/vmdk_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256], file[300];

static void cleanup(void)
{
	unlink(file);
	rmdir(dir);
}

#ifdef FUZZ_STREAM
struct mem {
	const uint8_t *p;
	size_t n, pos;
};

static ssize_t mem_read(void *ctx, void *buf, size_t len, struct err *e)
{
	struct mem *m = ctx;
	size_t k = m->n - m->pos < len ? m->n - m->pos : len;

	(void)e;
	memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	return (ssize_t)k;
}

static void fuzz_stream(const uint8_t *data, size_t size)
{
	char out[320];
	struct mem m = {data, size, 0};
	struct err e = {0};
	int fd;

	if (!vmdk_stream_is(data, size))
		return;
	snprintf(out, sizeof(out), "%s/stream.qcow2", dir);
	fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	if (vmdk_stream_to_qcow2(mem_read, &m, fd, "stream", 1ull << 32, &e) == 0) {
		close(fd);
		if (!image_qcow2_adoptable(out, 1ull << 46, &e))
			abort(); /* the stream converter wrote an image the box store would refuse */
	} else {
		close(fd);
	}
	unlink(out);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[1 << 20];
	struct image_open_opts o = {.follow_refs = true};
	struct image *img;
	struct err e = {0};
	uint64_t off = 0, n;
	unsigned steps = 0;
	bool zero, adoptable = false;
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
#ifdef FUZZ_STREAM
	fuzz_stream(data, size);
#endif
#ifdef FUZZ_WRITE
	o.writable = true;
	/* half the inputs as a conversion's output: no ordering syncs between the writes */
	o.unnamed_output = size & 1;
#endif
#ifdef FUZZ_ADOPT
	adoptable = image_qcow2_adoptable(file, 1ull << 46, &e);
#endif
	if (image_open(file, FUZZ_FORMAT, &o, &img, &e) < 0) {
		if (adoptable)
			abort(); /* adopted, but the reader refuses it */
		return 0;
	}
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
		if (image_block_status(img, off, image_size(img) - off, &n, &zero, &e) < 0) {
			if (adoptable)
				abort();
			break;
		}
		if (!zero) {
			uint64_t len = n < sizeof(buf) ? n : sizeof(buf);

			if (image_pread(img, buf, (size_t)len, off, &e) < 0) {
				if (adoptable)
					abort();
				break;
			}
			n = len;
		}
		off += n;
	}
	image_close(img);
	return 0;
}
