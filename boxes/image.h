/* Disk images: one handle type for every format (raw, qcow2, VMDK, VDI, VHD).
 * Every image is untrusted input: headers are bounded before use, and references to other
 * files (qcow2 backing/data files, VMDK extents) are followed only when the caller allows it,
 * and only to files inside the image's own directory. */
#ifndef ENVUP_BOXES_IMAGE_H
#define ENVUP_BOXES_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"
#include "core/progress.h"

enum image_format {
	IMAGE_UNKNOWN = 0,
	IMAGE_RAW,
	IMAGE_QCOW2,
	IMAGE_VMDK,
	IMAGE_VDI,
	IMAGE_VHD,
};

struct image_open_opts {
	bool writable;         /* raw and qcow2 only */
	bool follow_refs;      /* follow backing files / extents (inside the image's directory) */
	unsigned max_depth;    /* backing chain depth limit; 0 means the default (16) */
	/* An absolute path the caller vouches for (a machine overlay's box base image, kept in
	 * the box store): a qcow2 backing file name equal to it is followed although it lies
	 * outside the image's directory. Anything else still has to stay inside. */
	const char *trusted_backing;
	/* qcow2: bytes of L2 tables cached per image in the chain; 0 means the default (1 MiB,
	 * which maps 8 GiB of 64 KiB clusters) */
	size_t l2_cache_bytes;
	/* qcow2 opened writable: the file has no name until it is complete (a conversion's
	 * temporary), so a crash cannot expose it half written; the fdatasyncs that order data
	 * before metadata are skipped and image_flush alone makes the whole file durable. */
	bool unnamed_output;
};

struct image;

/* "raw", "qcow2", ... to the enum; IMAGE_UNKNOWN for anything else. */
enum image_format image_format_from_name(const char *name);
/* The enum's name ("qcow2"). */
const char *image_format_name(enum image_format fmt);

/* Detects the format from magic bytes (box import and envbox convert/info only). */
int image_detect(const char *path, enum image_format *fmt, struct err *e);

/* Opens path as fmt (never guessed here). */
int image_open(const char *path, enum image_format fmt, const struct image_open_opts *opts,
	       struct image **out, struct err *e);

/* Reads len bytes at off; reads past the virtual size are an error. */
int image_pread(struct image *img, void *buf, size_t len, uint64_t off, struct err *e);

/* Writes len bytes at off (raw and qcow2 opened writable). qcow2 metadata is cached and
 * written back on image_flush or image_close, as a disk with a write cache behaves. */
int image_pwrite(struct image *img, const void *buf, size_t len, uint64_t off, struct err *e);

/* Makes every completed write durable (metadata and data; fdatasync). */
int image_flush(struct image *img, struct err *e);

/* The virtual disk size in bytes. */
uint64_t image_size(const struct image *img);

/* Closes the handle and everything it opened. NULL is fine. */
void image_close(struct image *img);

/* Creates a qcow2 v3 image of size bytes at path; with backing (a name relative to path's
 * directory, or an absolute path that openers then pass as trusted_backing) it is an
 * overlay recording backing_fmt, and size 0 means the backing's size. Layout: 128 KiB
 * clusters with extended L2 entries (4 KiB subclusters), so a guest's small write into an
 * overlay copies nothing from the backing image; QEMU reads these since 5.2. */
int image_create_qcow2(const char *path, uint64_t size, const char *backing,
		       enum image_format backing_fmt, struct err *e);

/* Converts src (format src_fmt; IMAGE_UNKNOWN: detect) to dst in dst_fmt (IMAGE_QCOW2 or
 * IMAGE_RAW), with bounded memory; dst appears only when complete. A source whose virtual
 * size is over max_size (0: no bound) is refused before anything is written. */
int image_convert(const char *src, enum image_format src_fmt, const char *dst,
		  enum image_format dst_fmt, uint64_t max_size, const struct progress *p,
		  struct err *e);

/* Whether the qcow2 file at path may be kept as it is where a converted copy would do: one
 * plain standalone image (no backing file, data file, snapshots, encryption, compression,
 * dirty bit, extended L2 or bitmaps), virtual size within max_size, every L1/L2/refcount entry
 * pointing into the file at a cluster nothing else uses, refcounts equal to the references.
 * false: why says what stands in the way (the image may still convert, or be refused). */
bool image_qcow2_adoptable(const char *path, uint64_t max_size, struct err *why);

/* image_convert of a qcow2 overlay whose backing file is the absolute path trusted_backing
 * (a machine's disk on its box's base.qcow2: see image_open_opts); NULL: as image_convert. */
int image_convert_trusted(const char *src, enum image_format src_fmt, const char *trusted_backing,
			  const char *dst, enum image_format dst_fmt, uint64_t max_size,
			  const struct progress *p, struct err *e);

/* Facts for `envbox info` and the importer. */
/* The path the image was opened with (references: joined to their parent's directory). */
const char *image_name(const struct image *img);
/* The image's format. */
enum image_format image_get_format(const struct image *img);
/* A short description of the variant ("v3, 64 KiB clusters", "streamOptimized"). */
const char *image_subformat(const struct image *img);
#define IMAGE_MAX_FILES 64 /* files one image may read (VMDK extents) */

/* A file an image reads, by identity (paths may name it several ways). */
struct image_file_id {
	dev_t dev;
	ino_t ino;
};
/* Fills ids with up to max files img reads (itself, VMDK extents, the backing chain's);
 * returns how many. */
size_t image_file_ids(const struct image *img, struct image_file_id *ids, size_t max);

/* Bytes the image's own files take on disk (not counting its backing image). */
uint64_t image_allocated(const struct image *img);
/* The backing (parent) image, or NULL. */
struct image *image_backing(const struct image *img);

/* Sets *pnum (0 < *pnum <= len) to the length of the run at off, and *zero to whether that
 * run reads as zeros (holes, zero clusters, unallocated without backing data). */
int image_block_status(struct image *img, uint64_t off, uint64_t len, uint64_t *pnum,
		       bool *zero, struct err *e);

#endif
