/* Raw images: the file is the disk. Holes (SEEK_HOLE) read as zeros and are reported so. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boxes/image_impl.h"
#include "core/fsutil.h"

static int raw_pread(struct image *img, void *buf, size_t len, uint64_t off, struct err *e)
{
	return image_read_fill(img, img->fd, buf, len, off, e);
}

static int raw_pwrite(struct image *img, const void *buf, size_t len, uint64_t off, struct err *e)
{
	if (fs_pwrite_all(img->fd, buf, len, (off_t)off) < 0)
		return err_sys(e, "%s: cannot write at %llu", img->name, (unsigned long long)off);
	return 0;
}

static int raw_status(struct image *img, uint64_t off, uint64_t len, uint64_t *pnum,
		      enum image_run *run, struct err *e)
{
	off_t data = lseek(img->fd, (off_t)off, SEEK_DATA);
	off_t hole;

	if (data < 0) {
		/* ENXIO: only a hole from off to the end; other errors: assume data */
		*run = errno == ENXIO ? IMAGE_RUN_ZERO : IMAGE_RUN_DATA;
		*pnum = len;
		return 0;
	}
	if ((uint64_t)data > off) {
		*run = IMAGE_RUN_ZERO;
		*pnum = (uint64_t)data - off < len ? (uint64_t)data - off : len;
		return 0;
	}
	hole = lseek(img->fd, (off_t)off, SEEK_HOLE);
	*run = IMAGE_RUN_DATA;
	if (hole < 0 || (uint64_t)hole <= off)
		*pnum = len;
	else
		*pnum = (uint64_t)hole - off < len ? (uint64_t)hole - off : len;
	return 0;
}

static const struct image_ops raw_ops = {
	.pread = raw_pread,
	.pwrite = raw_pwrite,
	.status = raw_status,
};

int raw_open(struct image *img, struct err *e)
{
	img->ops = &raw_ops;
	snprintf(img->subformat, sizeof(img->subformat), "raw");
	return image_file_size(img, img->fd, &img->size, e);
}
