/* Disk image handles: format names, detection by magic, opening (with references confined
 * to the image's directory, a depth limit and loop detection) and bounds-checked dispatch. */
#include "boxes/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxes/image_impl.h"
#include "core/fsutil.h"

#define DEFAULT_MAX_DEPTH 16

static const char *const format_names[] = {
	[IMAGE_UNKNOWN] = "unknown", [IMAGE_RAW] = "raw", [IMAGE_QCOW2] = "qcow2",
	[IMAGE_VMDK] = "vmdk",	     [IMAGE_VDI] = "vdi", [IMAGE_VHD] = "vhd",
};

enum image_format image_format_from_name(const char *name)
{
	if (!name)
		return IMAGE_UNKNOWN;
	if (!strcmp(name, "vpc"))
		return IMAGE_VHD;
	for (int i = IMAGE_RAW; i <= IMAGE_VHD; i++)
		if (!strcmp(name, format_names[i]))
			return (enum image_format)i;
	return IMAGE_UNKNOWN;
}

const char *image_format_name(enum image_format fmt)
{
	if ((unsigned)fmt > IMAGE_VHD)
		return "unknown";
	return format_names[fmt];
}

static int detect_fd(int fd, const char *name, enum image_format *fmt, struct err *e)
{
	uint8_t buf[1024] = {0};
	struct stat st;
	ssize_t n;

	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return err_sys(e, "%s: cannot read", name);
	if (n >= 4 && !memcmp(buf, "QFI\xfb", 4))
		*fmt = IMAGE_QCOW2;
	else if (n >= 4 && (!memcmp(buf, "KDMV", 4) || !memcmp(buf, "COWD", 4)))
		*fmt = IMAGE_VMDK;
	else if (n >= 0x48 && get_le32(buf + 0x40) == 0xbeda107f)
		*fmt = IMAGE_VDI;
	else if (n >= 8 && !memcmp(buf, "conectix", 8))
		*fmt = IMAGE_VHD;
	else if (memmem(buf, (size_t)n, "# Disk DescriptorFile", 21) ||
		 memmem(buf, (size_t)n, "# Disk Descriptor File", 22))
		*fmt = IMAGE_VMDK;
	else {
		*fmt = IMAGE_RAW;
		/* a fixed VHD has its only footer at the end */
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 1024 &&
		    pread(fd, buf, 512, st.st_size - 512) == 512 && !memcmp(buf, "conectix", 8))
			*fmt = IMAGE_VHD;
	}
	return 0;
}

/* Every image file is opened through here or image_open_ref_fd: never blocking (a FIFO named
 * as an image would hang), and only regular files and block devices. */
static int open_image_file(const char *path, bool writable, struct err *e)
{
	int fd;

	if (!writable) {
		fd = fs_open_input(path, true, e);
		return fd;
	}
	fd = open(path, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(e, "cannot open image %s", path);
	if (fs_check_input_fd(fd, path, true, e) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int image_detect(const char *path, enum image_format *fmt, struct err *e)
{
	int fd = open_image_file(path, false, e);
	int rc;

	if (fd < 0)
		return -1;
	rc = detect_fd(fd, path, fmt, e);
	close(fd);
	return rc;
}

/* Takes ownership of fd and dirfd; runs the driver's open. */
static int setup(int fd, int dirfd, const char *name, enum image_format fmt,
		 const struct image_ctx *ctx, struct image **out, struct err *e)
{
	struct image *img = calloc(1, sizeof(*img));
	struct stat st;
	int rc;

	if (!img || !(img->name = strdup(name))) {
		free(img);
		close(fd);
		if (dirfd >= 0)
			close(dirfd);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	img->fd = fd;
	img->dirfd = dirfd;
	img->ctx = *ctx;
	img->fmt = fmt;
	if (fstat(fd, &st) < 0) {
		rc = err_sys(e, "%s: cannot stat", name);
		goto fail;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		rc = err_set(e, ERR_UNSUPPORTED, "%s is a %s, not a regular file or block device",
			     name, fs_type_name(st.st_mode));
		goto fail;
	}
	img->dev = st.st_dev;
	img->ino = st.st_ino;
	if (ctx->writable && fmt != IMAGE_RAW && fmt != IMAGE_QCOW2) {
		rc = err_set(e, ERR_UNSUPPORTED, "%s: %s images can only be opened read-only", name,
			     image_format_name(fmt));
		goto fail;
	}
	switch (fmt) {
	case IMAGE_RAW: rc = raw_open(img, e); break;
	case IMAGE_QCOW2: rc = qcow2_open(img, e); break;
	case IMAGE_VMDK: rc = vmdk_open(img, e); break;
	case IMAGE_VDI: rc = vdi_open(img, e); break;
	case IMAGE_VHD: rc = vhd_open(img, e); break;
	default: rc = err_set(e, ERR_USAGE, "%s: unknown image format", name); break;
	}
	img->ctx.chain = NULL; /* it pointed into the opener's stack */
	img->ctx.trusted_backing = NULL;
	if (rc == 0) {
		*out = img;
		return 0;
	}
fail:
	image_close(img);
	return rc;
}

int image_open_ctx(const char *path, enum image_format fmt, const struct image_ctx *ctx,
		   struct image **out, struct err *e)
{
	int fd, dirfd = -1;

	fd = open_image_file(path, ctx->writable, e);
	if (fd < 0)
		return -1;
	if (fmt == IMAGE_UNKNOWN && detect_fd(fd, path, &fmt, e) < 0) {
		close(fd);
		return -1;
	}
	/* A format given by hand that the file's magic contradicts would only fail deep in the
	 * wrong driver ("VMDK descriptor of 1376256 bytes is too large"); say what it is.
	 * Raw is never second-guessed: a raw disk may hold anything. */
	if (fmt != IMAGE_RAW) {
		enum image_format seen;

		if (detect_fd(fd, path, &seen, NULL) == 0 && seen != IMAGE_RAW && seen != fmt) {
			close(fd);
			return err_set(e, ERR_CORRUPT, "%s is a %s image, not %s", path,
				       image_format_name(seen), image_format_name(fmt));
		}
	}
	if (ctx->follow_refs) {
		char *dir = fs_dirname(path);

		if (!dir) {
			close(fd);
			return err_set(e, ERR_FAIL, "out of memory");
		}
		dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0) {
			err_sys(e, "cannot open directory %s", dir);
			free(dir);
			close(fd);
			return -1;
		}
		free(dir);
	}
	return setup(fd, dirfd, path, fmt, ctx, out, e);
}

int image_open(const char *path, enum image_format fmt, const struct image_open_opts *opts,
	       struct image **out, struct err *e)
{
	struct image_ctx ctx = {0};

	*out = NULL;
	if (fmt == IMAGE_UNKNOWN)
		return err_set(e, ERR_USAGE, "%s: image format must be given", path);
	if (opts) {
		ctx.writable = opts->writable;
		ctx.follow_refs = opts->follow_refs;
		ctx.max_depth = opts->max_depth;
		ctx.trusted_backing = opts->trusted_backing;
		ctx.l2_cache_bytes = opts->l2_cache_bytes;
		ctx.unnamed_output = opts->unnamed_output;
	}
	if (!ctx.max_depth)
		ctx.max_depth = DEFAULT_MAX_DEPTH;
	return image_open_ctx(path, fmt, &ctx, out, e);
}

static bool on_chain(const struct image_chain *c, dev_t dev, ino_t ino)
{
	for (; c; c = c->up)
		if (c->dev == dev && c->ino == ino)
			return true;
	return false;
}

int image_open_ref_fd(struct image *parent, const char *rel, struct err *e)
{
	struct stat st;
	int fd;

	if (parent->dirfd < 0)
		return err_set(
			e, ERR_USAGE,
			"%s refers to '%s', but references to other files are not allowed here",
			parent->name, rel);
	fd = fs_open_beneath(parent->dirfd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, e);
	if (fd < 0) {
		/* a reference that escapes is the image's fault, not the user's */
		if (e && e->code == ERR_USAGE)
			e->code = ERR_CORRUPT;
		return err_wrap(e, "%s: reference '%s'", parent->name, rel);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, ERR_CORRUPT, "%s: reference '%s' is not a regular file",
			       parent->name, rel);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if ((st.st_dev == parent->dev && st.st_ino == parent->ino) ||
	    on_chain(parent->ctx.chain, st.st_dev, st.st_ino)) {
		close(fd);
		return err_set(e, ERR_CORRUPT,
			       "%s: reference '%s' loops back to an image on the chain",
			       parent->name, rel);
	}
	return fd;
}

int image_open_ref(struct image *parent, const char *rel, enum image_format fmt, struct image **out,
		   struct err *e)
{
	struct image_chain node = {parent->dev, parent->ino, parent->ctx.chain};
	struct image_ctx ctx = parent->ctx;
	char *pdir = NULL, *name = NULL, *sub = NULL;
	int fd, dirfd = -1, rc = -1;

	if (parent->ctx.depth + 1 > parent->ctx.max_depth)
		return err_set(e, ERR_CORRUPT, "%s: backing chain deeper than %u images",
			       parent->name, parent->ctx.max_depth);
	fd = image_open_ref_fd(parent, rel, e);
	if (fd < 0)
		return -1;
	pdir = fs_dirname(parent->name);
	name = pdir ? fs_join(pdir, rel) : NULL;
	sub = fs_dirname(rel);
	if (!name || !sub) {
		rc = err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	if (!strcmp(sub, "."))
		dirfd = fcntl(parent->dirfd, F_DUPFD_CLOEXEC, 0);
	else
		dirfd = fs_open_beneath(parent->dirfd, sub, O_PATH | O_DIRECTORY, 0, e);
	if (dirfd < 0) {
		if (!strcmp(sub, "."))
			err_sys(e, "dup");
		goto out;
	}
	if (fmt == IMAGE_UNKNOWN && detect_fd(fd, name, &fmt, e) < 0)
		goto out;
	ctx.writable = false;
	ctx.unnamed_output = false;
	ctx.depth++;
	ctx.chain = &node;
	ctx.trusted_backing = NULL;
	rc = setup(fd, dirfd, name, fmt, &ctx, out, e);
	fd = dirfd = -1;
out:
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	free(pdir);
	free(name);
	free(sub);
	return rc;
}

int image_open_backing(struct image *parent, const char *name, enum image_format fmt,
		       struct image **out, struct err *e)
{
	struct image_chain node = {parent->dev, parent->ino, parent->ctx.chain};
	const char *trusted = parent->ctx.trusted_backing;
	struct image_ctx ctx = parent->ctx;
	struct stat st;
	char *dir;
	int fd, dirfd;

	if (!trusted || name[0] != '/' || strcmp(name, trusted))
		return image_open_ref(parent, name, fmt, out, e);
	if (parent->dirfd < 0)
		return err_set(e, ERR_USAGE,
			       "%s refers to '%s', but references to other files are not allowed here",
			       parent->name, name);
	if (parent->ctx.depth + 1 > parent->ctx.max_depth)
		return err_set(e, ERR_CORRUPT, "%s: backing chain deeper than %u images",
			       parent->name, parent->ctx.max_depth);
	fd = fs_open_input(name, false, e);
	if (fd < 0)
		return err_wrap(e, "%s: backing file", parent->name);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (st.st_dev == parent->dev && st.st_ino == parent->ino) ||
	    on_chain(parent->ctx.chain, st.st_dev, st.st_ino)) {
		close(fd);
		return err_set(e, ERR_CORRUPT, "%s: backing file %s is not a regular file or loops",
			       parent->name, name);
	}
	dir = fs_dirname(name);
	dirfd = dir ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	free(dir);
	if (dirfd < 0) {
		close(fd);
		return err_sys(e, "%s: cannot open the directory of %s", parent->name, name);
	}
	if (fmt == IMAGE_UNKNOWN && detect_fd(fd, name, &fmt, e) < 0) {
		close(fd);
		close(dirfd);
		return -1;
	}
	/* the base's own references stay inside its directory: trust is not inherited */
	ctx.writable = false;
	ctx.unnamed_output = false;
	ctx.depth++;
	ctx.chain = &node;
	ctx.trusted_backing = NULL;
	return setup(fd, dirfd, name, fmt, &ctx, out, e);
}

int image_read_exact(const struct image *img, int fd, void *buf, size_t len, uint64_t off,
		     const char *what, struct err *e)
{
	size_t done = 0;

	if (off > INT64_MAX || len > INT64_MAX - off)
		return err_set(e, ERR_CORRUPT, "%s: %s at offset %llu is out of range", img->name,
			       what, (unsigned long long)off);
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(e, "%s: cannot read %s", img->name, what);
		}
		if (n == 0)
			return err_set(
				e, ERR_CORRUPT,
				"%s: %s at offset %llu (%zu bytes) is past the end of the file",
				img->name, what, (unsigned long long)off, len);
		done += (size_t)n;
	}
	return 0;
}

int image_read_blocks(struct image *img, void *buf, size_t len, uint64_t off,
		      uint64_t block_size, image_block_fn block_at, struct err *e)
{
	uint8_t *p = buf;

	while (len) {
		uint64_t b = off / block_size, in = off % block_size, n = block_size - in, where;

		if (n > len)
			n = len;
		if (block_at(img, b, &where, e) < 0)
			return -1;
		if (!where)
			memset(p, 0, n);
		else if (image_read_fill(img, img->fd, p, n, where + in, e) < 0)
			return -1;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int image_read_fill(const struct image *img, int fd, void *buf, size_t len, uint64_t off,
		    struct err *e)
{
	size_t done = 0;

	if (off > INT64_MAX || len > INT64_MAX - off)
		return err_set(e, ERR_CORRUPT, "%s: data offset %llu is out of range", img->name,
			       (unsigned long long)off);
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(e, "%s: cannot read data", img->name);
		}
		if (n == 0) {
			memset((char *)buf + done, 0, len - done);
			break;
		}
		done += (size_t)n;
	}
	return 0;
}

int image_file_size(const struct image *img, int fd, uint64_t *size, struct err *e)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return err_sys(e, "%s: cannot stat", img->name);
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(fd, 0, SEEK_END);

		if (end < 0)
			return err_sys(e, "%s: cannot find the size", img->name);
		*size = (uint64_t)end;
	} else {
		*size = (uint64_t)st.st_size;
	}
	return 0;
}

int image_read_backing(struct image *img, void *buf, size_t len, uint64_t off, struct err *e)
{
	struct image *b = img->backing;
	size_t n = 0;

	if (b && off < b->size) {
		n = b->size - off < len ? (size_t)(b->size - off) : len;
		if (b->ops->pread(b, buf, n, off, e) < 0)
			return -1;
	}
	memset((char *)buf + n, 0, len - n);
	return 0;
}

int image_status(struct image *img, uint64_t off, uint64_t len, uint64_t *pnum, enum image_run *run,
		 struct err *e)
{
	if (!img->ops->status) {
		*pnum = len;
		*run = IMAGE_RUN_DATA;
		return 0;
	}
	return img->ops->status(img, off, len, pnum, run, e);
}

int image_status_backing(struct image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			 enum image_run *run, struct err *e)
{
	struct image *b = img->backing;

	if (!b || off >= b->size) {
		*pnum = len;
		*run = IMAGE_RUN_ZERO;
		return 0;
	}
	if (len > b->size - off)
		len = b->size - off;
	return image_status(b, off, len, pnum, run, e);
}

int image_block_status(struct image *img, uint64_t off, uint64_t len, uint64_t *pnum, bool *zero,
		       struct err *e)
{
	enum image_run run;

	if (off >= img->size || len == 0)
		return err_set(e, ERR_USAGE, "%s: status at %llu is past the end of the disk",
			       img->name, (unsigned long long)off);
	if (len > img->size - off)
		len = img->size - off;
	if (image_status(img, off, len, pnum, &run, e) < 0)
		return -1;
	if (*pnum == 0 || *pnum > len)
		return err_set(e, ERR_FAIL, "%s: internal error in block status", img->name);
	*zero = run == IMAGE_RUN_ZERO;
	return 0;
}

bool image_is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i = 0;

	for (; i < len && ((uintptr_t)(p + i) & 7); i++)
		if (p[i])
			return false;
	for (; i + 32 <= len; i += 32) {
		const uint64_t *q = (const uint64_t *)(const void *)(p + i);

		if (q[0] | q[1] | q[2] | q[3])
			return false;
	}
	for (; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static int check_range(const struct image *img, size_t len, uint64_t off, struct err *e)
{
	if (off > img->size || len > img->size - off)
		return err_set(e, ERR_USAGE, "%s: access at %llu+%zu is past the disk size %llu",
			       img->name, (unsigned long long)off, len,
			       (unsigned long long)img->size);
	return 0;
}

int image_pread(struct image *img, void *buf, size_t len, uint64_t off, struct err *e)
{
	if (check_range(img, len, off, e) < 0)
		return -1;
	if (len == 0)
		return 0;
	return img->ops->pread(img, buf, len, off, e);
}

int image_pwrite(struct image *img, const void *buf, size_t len, uint64_t off, struct err *e)
{
	if (!img->ctx.writable || !img->ops->pwrite)
		return err_set(e, ERR_USAGE, "%s: image is not open for writing", img->name);
	if (check_range(img, len, off, e) < 0)
		return -1;
	if (len == 0)
		return 0;
	return img->ops->pwrite(img, buf, len, off, e);
}

int image_flush(struct image *img, struct err *e)
{
	if (!img->ctx.writable)
		return 0;
	if (img->ops->flush)
		return img->ops->flush(img, e);
	return image_sync(img, e);
}

int image_sync(const struct image *img, struct err *e)
{
	if (fdatasync(img->fd) < 0)
		return err_sys(e, "%s: cannot flush", img->name);
	return 0;
}

uint64_t image_size(const struct image *img)
{
	return img->size;
}

const char *image_name(const struct image *img)
{
	return img->name;
}

enum image_format image_get_format(const struct image *img)
{
	return img->fmt;
}

const char *image_subformat(const struct image *img)
{
	return img->subformat;
}

struct image *image_backing(const struct image *img)
{
	return img->backing;
}

size_t image_file_ids(const struct image *img, struct image_file_id *ids, size_t max)
{
	size_t n = 0;
	struct stat st;

	for (; img; img = img->backing) {
		if (n < max)
			ids[n++] = (struct image_file_id){img->dev, img->ino};
		for (unsigned i = 0; i < img->n_extra; i++)
			if (n < max && fstat(img->extra_fds[i], &st) == 0)
				ids[n++] = (struct image_file_id){st.st_dev, st.st_ino};
	}
	return n;
}

uint64_t image_allocated(const struct image *img)
{
	struct stat st;
	uint64_t total = 0;

	if (fstat(img->fd, &st) == 0)
		total += (uint64_t)st.st_blocks * 512;
	for (unsigned i = 0; i < img->n_extra; i++)
		if (fstat(img->extra_fds[i], &st) == 0)
			total += (uint64_t)st.st_blocks * 512;
	return total;
}

void image_close(struct image *img)
{
	if (!img)
		return;
	if (img->ops && img->ops->close)
		img->ops->close(img);
	image_close(img->backing);
	for (unsigned i = 0; i < img->n_extra; i++)
		close(img->extra_fds[i]);
	if (img->fd >= 0)
		close(img->fd);
	if (img->dirfd >= 0)
		close(img->dirfd);
	free(img->name);
	free(img);
}
