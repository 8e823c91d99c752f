/* What the format drivers in boxes/ share: the handle layout, the driver operations and
 * bounded file access helpers. Private to boxes/ (and its tests and fuzzers). */
#ifndef ENVUP_BOXES_IMAGE_IMPL_H
#define ENVUP_BOXES_IMAGE_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "boxes/image.h"

/* Result of a status query: the run at an offset is data, or reads as zeros. */
enum image_run { IMAGE_RUN_DATA = 0, IMAGE_RUN_ZERO = 1 };

struct image_ops {
	int (*pread)(struct image *img, void *buf, size_t len, uint64_t off, struct err *e);
	int (*pwrite)(struct image *img, const void *buf, size_t len, uint64_t off, struct err *e);
	int (*flush)(struct image *img, struct err *e);
	/* Sets *pnum (0 < *pnum <= len) to the length of the run at off and *run to its kind. */
	int (*status)(struct image *img, uint64_t off, uint64_t len, uint64_t *pnum,
		      enum image_run *run, struct err *e);
	void (*close)(struct image *img);
};

/* A file already on the open chain, for loop detection. */
struct image_chain {
	dev_t dev;
	ino_t ino;
	const struct image_chain *up;
};

/* How an image (and what it references) is being opened. */
struct image_ctx {
	bool writable;
	bool follow_refs;
	unsigned max_depth;
	unsigned depth;
	const struct image_chain *chain;
	const char *trusted_backing; /* see image_open_opts; only for the top image */
	size_t l2_cache_bytes;	     /* see image_open_opts */
	bool unnamed_output;	     /* see image_open_opts; only for the top image */
};


struct image {
	const struct image_ops *ops;
	enum image_format fmt;
	uint64_t size;
	char *name;	      /* for messages */
	int fd;		      /* the main file */
	int dirfd;	      /* directory references resolve in; -1: none allowed */
	struct image_ctx ctx; /* how it was opened (chain points to the caller's stack) */
	dev_t dev;
	ino_t ino;
	struct image *backing;		/* parent image, or NULL */
	int extra_fds[IMAGE_MAX_FILES]; /* other files this image owns (VMDK extents) */
	unsigned n_extra;
	char subformat[64]; /* "v3", "streamOptimized", ... for info */
	void *priv;
};

/* The value of key in a VMDK descriptor ("createType", ...), unquoted, into out. */
bool vmdk_desc_value(const char *desc, const char *key, char *out, size_t outlen);

/* Driver entry points: fill img (fd, name, dirfd, ctx already set) or fail. */
int raw_open(struct image *img, struct err *e);
int qcow2_open(struct image *img, struct err *e);
int vmdk_open(struct image *img, struct err *e);
int vdi_open(struct image *img, struct err *e);
int vhd_open(struct image *img, struct err *e);

/* Opens path (as given by the user) with ctx; used by image_open and the fuzzers. */
int image_open_ctx(const char *path, enum image_format fmt, const struct image_ctx *ctx,
		   struct image **out, struct err *e);

/* Opens rel, a reference found inside parent (backing file, extent), below parent's directory:
 * refused when references are not allowed, past the depth limit or when it loops. */
int image_open_ref(struct image *parent, const char *rel, enum image_format fmt, struct image **out,
		   struct err *e);

/* Opens a backing file name found in parent: the trusted absolute path when it is exactly
 * the one the caller vouched for, else through image_open_ref. */
int image_open_backing(struct image *parent, const char *name, enum image_format fmt,
		       struct image **out, struct err *e);

/* Opens rel below parent's directory as a plain file (VMDK extents), read-only. */
int image_open_ref_fd(struct image *parent, const char *rel, struct err *e);

/* Reads exactly len bytes at off of fd; a short read is ERR_CORRUPT naming what. */
int image_read_exact(const struct image *img, int fd, void *buf, size_t len, uint64_t off,
		     const char *what, struct err *e);

/* Reads up to len bytes at off, zero-filling past the end of the file. */
int image_read_fill(const struct image *img, int fd, void *buf, size_t len, uint64_t off,
		    struct err *e);

/* Where block number b of a block-mapped image (VDI, VHD) lies in its file; 0 for a block
 * that reads as zeros. */
typedef int (*image_block_fn)(struct image *img, uint64_t b, uint64_t *where, struct err *e);

/* Reads len bytes at off from an image stored as a map of block_size-byte blocks. */
int image_read_blocks(struct image *img, void *buf, size_t len, uint64_t off,
		      uint64_t block_size, image_block_fn block_at, struct err *e);

/* Size of fd's file in bytes. */
int image_file_size(const struct image *img, int fd, uint64_t *size, struct err *e);

/* fdatasync of the image's own file. */
int image_sync(const struct image *img, struct err *e);

/* Reads [off, off+len) of the backing image (zeros past its end, or without one). */
int image_read_backing(struct image *img, void *buf, size_t len, uint64_t off, struct err *e);

/* Status of [off, off+len) in the backing image (zero past its end, or without one). */
int image_status_backing(struct image *img, uint64_t off, uint64_t len, uint64_t *pnum,
			 enum image_run *run, struct err *e);

/* Status of img at off (any format; formats without a map report data). */
int image_status(struct image *img, uint64_t off, uint64_t len, uint64_t *pnum, enum image_run *run,
		 struct err *e);

/* True when all len bytes of buf are zero. */
bool image_is_zero(const void *buf, size_t len);

/* Decompresses in into exactly outlen bytes: zlib (with header) or raw deflate; more or
 * less output than outlen is an error. */
int image_inflate(const void *in, size_t inlen, void *out, size_t outlen, bool zlib_header,
		  struct err *e);
/* The same, accepting exactly minlen or exactly outlen bytes of output. */
int image_inflate_range(const void *in, size_t inlen, void *out, size_t minlen, size_t outlen,
			bool zlib_header, struct err *e);
/* The same for one zstd frame (trailing bytes after the frame are ignored). */
int image_unzstd(const void *in, size_t inlen, void *out, size_t outlen, struct err *e);

static inline uint16_t get_le16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | b[1] << 8);
}
static inline uint32_t get_le32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t get_le64(const void *p)
{
	return get_le32(p) | (uint64_t)get_le32((const uint8_t *)p + 4) << 32;
}
static inline uint16_t get_be16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] << 8 | b[1]);
}
static inline uint32_t get_be32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}
static inline uint64_t get_be64(const void *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32((const uint8_t *)p + 4);
}
static inline void put_be16(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}
static inline void put_be32(void *p, uint32_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}
static inline void put_be64(void *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32((uint8_t *)p + 4, (uint32_t)v);
}

#endif
