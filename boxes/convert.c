/* Conversion of any readable image to qcow2 (zero clusters not stored) or to a sparse raw
 * file. Memory is bounded (one chunk per worker); workers read, and so decompress, chunks in
 * parallel; the output appears under its name only once complete (rename). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxes/image_impl.h"
#include "boxes/qcow2_impl.h"
#include "core/fsutil.h"

#define CHUNK (2u << 20)
#define MAX_WORKERS 8
/* Writeback of the output is started after every this many bytes written, so that it runs
 * while the conversion goes on and the final fdatasync has little left to wait for. */
#define WRITEBACK_CHUNK (8u << 20)

struct job {
	struct image *src;
	struct image *dst;    /* qcow2 output */
	int dst_fd;	      /* raw output */
	int out_fd;	      /* the output file, either format */
	uint64_t unsubmitted; /* bytes written since writeback was last started (atomic) */
	uint64_t granule;     /* zero detection unit */
	pthread_mutex_t lock;
	uint64_t next; /* guest offset of the next chunk to hand out */
	uint64_t done;
	bool failed;
	struct err err;
	const struct progress *p;
};

static int write_out(struct job *j, const uint8_t *buf, size_t len, uint64_t off, struct err *e)
{
	if (j->dst) {
		if (image_pwrite(j->dst, buf, len, off, e) < 0)
			return -1;
	} else if (fs_pwrite_all(j->dst_fd, buf, len, (off_t)off) < 0) {
		return err_sys(e, "cannot write the output");
	}
	/* The whole file: qcow2 places clusters where it allocates them. Pages already under
	 * writeback are skipped, so the cost is the dirty pages' lookup. */
	if (__atomic_add_fetch(&j->unsubmitted, len, __ATOMIC_RELAXED) >= WRITEBACK_CHUNK) {
		__atomic_store_n(&j->unsubmitted, 0, __ATOMIC_RELAXED);
		sync_file_range(j->out_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
	return 0;
}

/* Writes the non-zero granules of buf (guest bytes [off, off+len)). */
static int write_nonzero(struct job *j, const uint8_t *buf, size_t len, uint64_t off, struct err *e)
{
	size_t pos = 0;

	while (pos < len) {
		size_t g = (size_t)(j->granule - ((off + pos) % j->granule)), start;

		if (g > len - pos)
			g = len - pos;
		if (image_is_zero(buf + pos, g)) {
			pos += g;
			continue;
		}
		start = pos;
		pos += g;
		while (pos < len) {
			g = j->granule < len - pos ? (size_t)j->granule : len - pos;
			if (image_is_zero(buf + pos, g))
				break;
			pos += g;
		}
		if (write_out(j, buf + start, pos - start, off + start, e) < 0)
			return -1;
	}
	return 0;
}

static int do_chunk(struct job *j, uint8_t *buf, uint64_t off, size_t len, struct err *e)
{
	size_t pos = 0;

	while (pos < len) {
		uint64_t n;
		bool zero;

		if (image_block_status(j->src, off + pos, len - pos, &n, &zero, e) < 0)
			return -1;
		if (!zero) {
			if (image_pread(j->src, buf + pos, (size_t)n, off + pos, e) < 0)
				return -1;
			if (write_nonzero(j, buf + pos, (size_t)n, off + pos, e) < 0)
				return -1;
		}
		pos += (size_t)n;
	}
	return 0;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	uint64_t size = j->src->size;
	uint8_t *buf = malloc(CHUNK);
	struct err e = {0};

	pthread_mutex_lock(&j->lock);
	if (!buf && !j->failed) {
		j->failed = true;
		err_set(&j->err, ERR_FAIL, "out of memory");
	}
	while (buf && !j->failed) {
		uint64_t off = j->next, n;
		size_t len;
		bool zero;

		if (off >= size)
			break;
		/* Runs that read as zeros are skipped from the metadata, never walked chunk by
		 * chunk: an empty disk of 1 PiB costs what its L1 table does. */
		if (image_block_status(j->src, off, size - off, &n, &zero, &e) < 0) {
			j->failed = true;
			j->err = e;
			break;
		}
		if (zero && n >= CHUNK) {
			j->next += n;
			j->done += n;
			progress_update(j->p, j->done, size);
			continue;
		}
		len = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
		j->next += len;
		pthread_mutex_unlock(&j->lock);
		int rc = do_chunk(j, buf, off, len, &e);

		pthread_mutex_lock(&j->lock);
		if (rc < 0 && !j->failed) {
			j->failed = true;
			j->err = e;
		}
		j->done += len;
		progress_update(j->p, j->done, size);
	}
	pthread_mutex_unlock(&j->lock);
	free(buf);
	return NULL;
}

static unsigned worker_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	const char *env = getenv("ENVUP_CONVERT_THREADS");

	if (env && atoi(env) > 0)
		n = atoi(env);
	if (n < 1)
		n = 1;
	return n > MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

static int run_workers(struct job *j, struct err *e)
{
	pthread_t th[MAX_WORKERS];
	unsigned n = worker_count(), started = 0;

	for (; started < n; started++)
		if (pthread_create(&th[started], NULL, worker, j) != 0)
			break;
	if (started == 0)
		worker(j);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (j->failed) {
		*e = j->err;
		return -1;
	}
	return 0;
}

/* "64 TiB": the largest binary unit that divides v exactly. */
static void limit_text(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	unsigned u = 0;

	while (u + 1 < sizeof(units) / sizeof(units[0]) && v && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%llu %s", (unsigned long long)v, units[u]);
}

int image_convert(const char *src, enum image_format src_fmt, const char *dst,
		  enum image_format dst_fmt, uint64_t max_size, const struct progress *p,
		  struct err *e)
{
	return image_convert_trusted(src, src_fmt, NULL, dst, dst_fmt, max_size, p, e);
}

int image_convert_trusted(const char *src, enum image_format src_fmt, const char *trusted_backing,
			  const char *dst, enum image_format dst_fmt, uint64_t max_size,
			  const struct progress *p, struct err *e)
{
	struct image_ctx ctx = {
		.follow_refs = true, .max_depth = 16, .trusted_backing = trusted_backing};
	struct job j = {.dst_fd = -1, .p = p};
	struct fs_temp tmp = {.fd = -1};
	int fd, rc = -1;

	if (dst_fmt != IMAGE_QCOW2 && dst_fmt != IMAGE_RAW)
		return err_set(e, ERR_USAGE, "cannot convert to %s (only qcow2 and raw)",
			       image_format_name(dst_fmt));
	if (image_open_ctx(src, src_fmt, &ctx, &j.src, e) < 0)
		return -1;
	if (max_size && j.src->size > max_size) {
		char lim[32];

		limit_text(max_size, lim, sizeof(lim));
		err_set(e, ERR_CORRUPT, "%s: virtual size %llu bytes is over the limit of %s", src,
			(unsigned long long)j.src->size, lim);
		goto out;
	}
	if (fs_temp_create(dst, 0644, &tmp, e) < 0)
		goto out;
	fd = tmp.fd;
	j.out_fd = fd;
	if (dst_fmt == IMAGE_RAW) {
		if (ftruncate(fd, (off_t)j.src->size) < 0) {
			err_sys(e, "cannot size %s", dst);
			goto out;
		}
		j.dst_fd = fd;
		j.granule = 4096;
	} else {
		struct image_open_opts o = {.writable = true, .unnamed_output = true};

		if (qcow2_create_fd(fd, dst, j.src->size, NULL, NULL, QCOW2_LAYOUT_BASE, e) < 0 ||
		    image_open(tmp.reopen, IMAGE_QCOW2, &o, &j.dst, e) < 0)
			goto out;
		j.granule = ((struct qcow2 *)j.dst->priv)->cs;
	}
	if (pthread_mutex_init(&j.lock, NULL) != 0) {
		err_set(e, ERR_FAIL, "cannot create a lock");
		goto out;
	}
	rc = run_workers(&j, e);
	pthread_mutex_destroy(&j.lock);
	if (rc < 0) {
		err_wrap(e, "converting %s", src);
		goto out;
	}
	rc = -1;
	/* one sync of the complete file, before it gets its name */
	if (j.dst) {
		if (image_flush(j.dst, e) < 0)
			goto out;
	} else if (fdatasync(fd) < 0) {
		err_sys(e, "cannot sync %s", dst);
		goto out;
	}
	rc = fs_temp_commit(&tmp, true, e);
out:
	image_close(j.dst);
	image_close(j.src);
	fs_temp_discard(&tmp);
	return rc;
}
