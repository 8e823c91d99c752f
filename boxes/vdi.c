/* VDI reader (VirtualBox): dynamic and fixed images, version 1.1 headers, zero and
 * unallocated blocks. The block map is bounded and loaded once; reads share no state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxes/image_impl.h"

#define VDI_SIGNATURE 0xbeda107fu
#define VDI_FREE 0xffffffffu
#define VDI_ZERO 0xfffffffeu
#define MAX_BLOCKS (16u << 20)

struct vdi {
	uint32_t *map;
	uint32_t blocks;
	uint64_t block, extra, data_off, file_size;
};

static void vdi_close(struct image *img)
{
	struct vdi *v = img->priv;

	if (v)
		free(v->map);
	free(v);
	img->priv = NULL;
}

/* The file offset of block b, 0 when it reads as zeros. */
static int block_at(struct image *img, uint64_t b, uint64_t *where, struct err *e)
{
	struct vdi *v = img->priv;
	uint32_t m = v->map[b];

	if (m == VDI_FREE || m == VDI_ZERO) {
		*where = 0;
		return 0;
	}
	if (m >= v->blocks)
		return err_set(e, ERR_CORRUPT, "%s: block map entry %llu (%u) is out of range",
			       img->name, (unsigned long long)b, m);
	*where = v->data_off + (uint64_t)m * (v->block + v->extra) + v->extra;
	if (*where >= v->file_size)
		return err_set(e, ERR_CORRUPT, "%s: block %llu at %llu is past the end of the file",
			       img->name, (unsigned long long)b, (unsigned long long)*where);
	return 0;
}

static int vdi_pread(struct image *img, void *buf, size_t len, uint64_t off, struct err *e)
{
	struct vdi *v = img->priv;

	return image_read_blocks(img, buf, len, off, v->block, block_at, e);
}

static int vdi_status(struct image *img, uint64_t off, uint64_t len, uint64_t *pnum,
		      enum image_run *run, struct err *e)
{
	struct vdi *v = img->priv;
	uint64_t where = 0, b = off / v->block, n = v->block - off % v->block;
	bool zero;

	if (block_at(img, b, &where, e) < 0)
		return -1;
	zero = !where;
	/* merge following blocks of the same kind */
	while (n < len && b + 1 < v->blocks) {
		uint64_t w2 = 0;

		if (block_at(img, b + 1, &w2, e) < 0)
			return -1;
		if (!w2 != zero)
			break;
		b++;
		n += v->block;
	}
	*pnum = n < len ? n : len;
	*run = zero ? IMAGE_RUN_ZERO : IMAGE_RUN_DATA;
	return 0;
}

static const struct image_ops vdi_ops = {
	.pread = vdi_pread,
	.status = vdi_status,
	.close = vdi_close,
};

int vdi_open(struct image *img, struct err *e)
{
	struct vdi *v = calloc(1, sizeof(*v));
	uint8_t h[512];
	uint32_t version, hsize, type, boff, doff, sector, blocks;
	uint64_t disk;

	if (!v)
		return err_set(e, ERR_FAIL, "out of memory");
	img->ops = &vdi_ops;
	img->priv = v;
	if (image_file_size(img, img->fd, &v->file_size, e) < 0 ||
	    image_read_exact(img, img->fd, h, 400, 0, "VDI header", e) < 0)
		return -1;
	if (get_le32(h + 0x40) != VDI_SIGNATURE)
		return err_set(e, ERR_CORRUPT, "%s: not a VDI image (bad signature)", img->name);
	version = get_le32(h + 0x44);
	if (version >> 16 != 1)
		return err_set(e, ERR_UNSUPPORTED, "%s: VDI version %u.%u is not supported",
			       img->name, version >> 16, version & 0xffff);
	hsize = get_le32(h + 72);
	type = get_le32(h + 76);
	boff = get_le32(h + 340);
	doff = get_le32(h + 344);
	sector = get_le32(h + 360);
	disk = get_le64(h + 368);
	v->block = get_le32(h + 376);
	v->extra = get_le32(h + 380);
	blocks = get_le32(h + 384);
	if (hsize < 0x180 - 72 || hsize > 4096)
		return err_set(e, ERR_CORRUPT, "%s: VDI header size %u is invalid", img->name,
			       hsize);
	if (type != 1 && type != 2)
		return err_set(e, ERR_UNSUPPORTED,
			       "%s: VDI image type %u is not supported (only dynamic and fixed)",
			       img->name, type);
	if (sector != 512)
		return err_set(e, ERR_UNSUPPORTED, "%s: VDI sector size %u is not supported",
			       img->name, sector);
	if (v->block < 4096 || v->block > (64u << 20) || (v->block & (v->block - 1)))
		return err_set(e, ERR_CORRUPT, "%s: VDI block size %llu is invalid", img->name,
			       (unsigned long long)v->block);
	if (v->extra > (1u << 20) || (v->extra & 511))
		return err_set(e, ERR_CORRUPT, "%s: VDI extra block size %llu is invalid",
			       img->name, (unsigned long long)v->extra);
	if (blocks > MAX_BLOCKS)
		return err_set(e, ERR_CORRUPT, "%s: VDI block count %u is above %u", img->name,
			       blocks, MAX_BLOCKS);
	if (disk > (uint64_t)blocks * v->block)
		return err_set(e, ERR_CORRUPT,
			       "%s: VDI disk size %llu is larger than its %u blocks of %llu bytes",
			       img->name, (unsigned long long)disk, blocks,
			       (unsigned long long)v->block);
	if (boff < 72 + hsize || boff > v->file_size || v->file_size - boff < (uint64_t)blocks * 4)
		return err_set(e, ERR_CORRUPT,
			       "%s: VDI block map at %u is past the end of the file", img->name,
			       boff);
	if (doff > v->file_size || (doff < boff + (uint64_t)blocks * 4 && blocks))
		return err_set(e, ERR_CORRUPT,
			       "%s: VDI data offset %u overlaps the block map or "
			       "is past the end of the file",
			       img->name, doff);
	v->blocks = blocks;
	v->data_off = doff;
	v->map = malloc((size_t)blocks * 4 + 4);
	if (!v->map)
		return err_set(e, ERR_FAIL, "out of memory");
	if (image_read_exact(img, img->fd, v->map, (size_t)blocks * 4, boff, "VDI block map", e) <
	    0)
		return -1;
	for (uint32_t i = 0; i < blocks; i++)
		v->map[i] = get_le32(&v->map[i]);
	img->size = disk;
	snprintf(img->subformat, sizeof(img->subformat), "%s, %llu KiB blocks",
		 type == 1 ? "dynamic" : "fixed", (unsigned long long)(v->block >> 10));
	return 0;
}
