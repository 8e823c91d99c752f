/* VHD reader (Virtual PC / Hyper-V): fixed and dynamic disks, footer and dynamic header
 * checksums verified, the size rule QEMU follows (CHS geometry or current_size, by creator).
 * The BAT is bounded and loaded once; reads share no state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxes/image_impl.h"

#define VHD_FIXED 2
#define VHD_DYNAMIC 3
#define VHD_DIFF 4
#define VHD_FREE 0xffffffffu
#define MAX_BAT (16u << 20)
#define VHD_MAX_GEOMETRY (65535ull * 16 * 255)

struct vhd {
	bool fixed;
	uint32_t *bat;
	uint32_t entries;
	uint64_t block, bitmap, file_size;
};

static void vhd_close(struct image *img)
{
	struct vhd *v = img->priv;

	if (v)
		free(v->bat);
	free(v);
	img->priv = NULL;
}

static uint32_t checksum(const uint8_t *b, size_t len, size_t skip)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < len; i++)
		if (i < skip || i >= skip + 4)
			sum += b[i];
	return ~sum;
}

static int block_at(struct image *img, uint64_t b, uint64_t *where, struct err *e)
{
	struct vhd *v = img->priv;
	uint32_t s = v->bat[b];

	if (s == VHD_FREE) {
		*where = 0;
		return 0;
	}
	*where = (uint64_t)s * 512 + v->bitmap;
	if (*where >= v->file_size)
		return err_set(e, ERR_CORRUPT,
			       "%s: BAT entry %llu (sector %u) is past the end of "
			       "the file",
			       img->name, (unsigned long long)b, s);
	return 0;
}

static int vhd_pread(struct image *img, void *buf, size_t len, uint64_t off, struct err *e)
{
	struct vhd *v = img->priv;
	uint8_t *p = buf;

	if (v->fixed) {
		/* the data ends where the footer starts */
		uint64_t end = v->file_size - 512, n = off < end ? end - off : 0;

		if (n > len)
			n = len;
		memset(p + n, 0, len - n);
		return image_read_fill(img, img->fd, buf, n, off, e);
	}
	return image_read_blocks(img, buf, len, off, v->block, block_at, e);
}

static int vhd_status(struct image *img, uint64_t off, uint64_t len, uint64_t *pnum,
		      enum image_run *run, struct err *e)
{
	struct vhd *v = img->priv;
	uint64_t b, n, where;

	*run = IMAGE_RUN_DATA;
	*pnum = len;
	if (v->fixed)
		return 0;
	b = off / v->block;
	n = v->block - off % v->block;
	if (block_at(img, b, &where, e) < 0)
		return -1;
	*pnum = n < len ? n : len;
	*run = where ? IMAGE_RUN_DATA : IMAGE_RUN_ZERO;
	return 0;
}

static const struct image_ops vhd_ops = {
	.pread = vhd_pread,
	.status = vhd_status,
	.close = vhd_close,
};

static int open_dynamic(struct image *img, struct vhd *v, uint64_t hoff, struct err *e)
{
	uint8_t d[1024];
	uint64_t toff, need;

	if (hoff > v->file_size || v->file_size - hoff < 1024)
		return err_set(e, ERR_CORRUPT,
			       "%s: VHD dynamic header at %llu is past the end of the file",
			       img->name, (unsigned long long)hoff);
	if (image_read_exact(img, img->fd, d, 1024, hoff, "VHD dynamic header", e) < 0)
		return -1;
	if (memcmp(d, "cxsparse", 8))
		return err_set(e, ERR_CORRUPT, "%s: VHD dynamic header has a bad cookie",
			       img->name);
	if (checksum(d, 1024, 36) != get_be32(d + 36))
		return err_set(e, ERR_CORRUPT, "%s: VHD dynamic header checksum mismatch",
			       img->name);
	toff = get_be64(d + 16);
	v->entries = get_be32(d + 28);
	v->block = get_be32(d + 32);
	if (v->block < 512 || v->block > (256u << 20) || (v->block & (v->block - 1)))
		return err_set(e, ERR_CORRUPT, "%s: VHD block size %llu is invalid", img->name,
			       (unsigned long long)v->block);
	if (v->entries > MAX_BAT)
		return err_set(e, ERR_CORRUPT, "%s: VHD max table entries %u is above %u",
			       img->name, v->entries, MAX_BAT);
	need = (img->size + v->block - 1) / v->block;
	if (v->entries < need)
		return err_set(e, ERR_CORRUPT,
			       "%s: VHD BAT has %u entries, the disk size needs %llu", img->name,
			       v->entries, (unsigned long long)need);
	if (toff > v->file_size || v->file_size - toff < (uint64_t)v->entries * 4)
		return err_set(e, ERR_CORRUPT, "%s: VHD BAT at %llu is past the end of the file",
			       img->name, (unsigned long long)toff);
	if (toff < hoff + 1024 && hoff < toff + (uint64_t)v->entries * 4)
		return err_set(e, ERR_CORRUPT, "%s: VHD BAT at %llu overlaps the dynamic header",
			       img->name, (unsigned long long)toff);
	v->bitmap = ((v->block / 512 + 7) / 8 + 511) & ~511ull;
	v->bat = malloc((size_t)v->entries * 4 + 4);
	if (!v->bat)
		return err_set(e, ERR_FAIL, "out of memory");
	if (image_read_exact(img, img->fd, v->bat, (size_t)v->entries * 4, toff, "VHD BAT", e) < 0)
		return -1;
	for (uint32_t i = 0; i < v->entries; i++)
		v->bat[i] = get_be32(&v->bat[i]);
	return 0;
}

int vhd_open(struct image *img, struct err *e)
{
	struct vhd *v = calloc(1, sizeof(*v));
	static const char *const sized[] = {"win ", "qem2", "d2v ", "CTXS", "tap"};
	uint8_t f[512];
	uint64_t chs, cur;
	uint32_t type;
	bool use_chs = true;

	if (!v)
		return err_set(e, ERR_FAIL, "out of memory");
	img->ops = &vhd_ops;
	img->priv = v;
	if (image_file_size(img, img->fd, &v->file_size, e) < 0)
		return -1;
	if (v->file_size < 512)
		return err_set(e, ERR_CORRUPT, "%s: too small for a VHD footer", img->name);
	if (image_read_exact(img, img->fd, f, 512, 0, "VHD footer", e) < 0)
		return -1;
	if (memcmp(f, "conectix", 8) &&
	    image_read_exact(img, img->fd, f, 512, v->file_size - 512, "VHD footer", e) < 0)
		return -1;
	if (memcmp(f, "conectix", 8))
		return err_set(e, ERR_CORRUPT, "%s: no VHD footer (cookie 'conectix')", img->name);
	if (checksum(f, 512, 64) != get_be32(f + 64))
		return err_set(e, ERR_CORRUPT,
			       "%s: VHD footer checksum mismatch (stored %08x, "
			       "computed %08x)",
			       img->name, get_be32(f + 64), checksum(f, 512, 64));
	type = get_be32(f + 60);
	cur = get_be64(f + 48);
	chs = (uint64_t)get_be16(f + 56) * f[58] * f[59];
	for (size_t i = 0; i < sizeof(sized) / sizeof(sized[0]); i++)
		if (!memcmp(f + 28, sized[i], 4))
			use_chs = false;
	img->size = (!use_chs || chs == VHD_MAX_GEOMETRY) ? cur / 512 * 512 : chs * 512;
	if (img->size > (2040ull << 30))
		return err_set(e, ERR_CORRUPT, "%s: VHD size %llu is above 2040 GiB", img->name,
			       (unsigned long long)img->size);
	if (type == VHD_FIXED) {
		v->fixed = true;
		snprintf(img->subformat, sizeof(img->subformat), "fixed");
		return 0;
	}
	if (type == VHD_DIFF)
		return err_set(e, ERR_UNSUPPORTED, "%s: differencing VHD images are not supported",
			       img->name);
	if (type != VHD_DYNAMIC)
		return err_set(e, ERR_CORRUPT, "%s: VHD disk type %u is invalid", img->name, type);
	if (open_dynamic(img, v, get_be64(f + 16), e) < 0)
		return -1;
	snprintf(img->subformat, sizeof(img->subformat), "dynamic, %llu KiB blocks",
		 (unsigned long long)(v->block >> 10));
	return 0;
}
