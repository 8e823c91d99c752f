/* VMDK reader: monolithicSparse, streamOptimized (QEMU's layout, and VirtualBox's with the
 * grain directory at the end and a footer), monolithicFlat and the twoGbMaxExtent split
 * variants, zeroed-grain entries and parent (delta) links. Extents and parents are opened
 * only below the descriptor's directory. Grain tables are read on demand, so that reads
 * share no mutable state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boxes/image_impl.h"

#define SECTOR 512ull
#define GD_AT_END 0xffffffffffffffffull
#define FLAG_ZERO_GRAIN (1u << 2)
#define FLAG_COMPRESSED (1u << 16)
#define FLAG_MARKERS (1u << 17)
#define MAX_DESC (64u << 10)
#define MAX_GD_ENTRIES (4u << 20)
#define MAX_GRAIN_SECTORS 2048u
#define MAX_CAPACITY (1ull << 42) /* sectors: 2 PiB */

enum ext_type { EXT_FLAT, EXT_SPARSE, EXT_ZERO };

struct extent {
	enum ext_type type;
	uint64_t start, len; /* guest bytes */
	int fd;
	uint64_t file_size;
	uint64_t flat_off;
	uint64_t grain; /* bytes */
	uint32_t gtes;
	uint32_t gd_entries;
	uint32_t *gd; /* grain table sectors */
	bool compressed, zero_grain;
};

struct vmdk {
	struct extent ext[IMAGE_MAX_FILES];
	unsigned n;
	uint64_t max_grain; /* largest grain of any extent */
	uint64_t gd_total;  /* grain directory entries of all extents, bounded */
};

static void vmdk_close(struct image *img)
{
	struct vmdk *v = img->priv;

	if (!v)
		return;
	/* an extent that failed half-way may hold a grain directory too */
	for (unsigned i = 0; i < IMAGE_MAX_FILES; i++)
		free(v->ext[i].gd);
	free(v);
	img->priv = NULL;
}

static struct extent *find_extent(struct vmdk *v, uint64_t off)
{
	unsigned lo = 0, hi = v->n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (off < v->ext[mid].start)
			hi = mid;
		else if (off >= v->ext[mid].start + v->ext[mid].len)
			lo = mid + 1;
		else
			return &v->ext[mid];
	}
	return NULL;
}

enum gkind { G_DATA, G_ZERO, G_UNALLOC, G_COMPRESSED };

/* Maps rel (bytes into a sparse extent) to its grain's kind and file offset. */
static int grain_lookup(struct image *img, struct extent *x, uint64_t rel, enum gkind *kind,
			uint64_t *where, struct err *e)
{
	uint64_t g = rel / x->grain, gdi = g / x->gtes, gt, gte_off;
	uint8_t b[4];
	uint32_t gte;

	if (gdi >= x->gd_entries)
		return err_set(e, ERR_CORRUPT, "%s: grain %llu is outside the grain directory",
			       img->name, (unsigned long long)g);
	gt = x->gd[gdi];
	if (!gt) {
		*kind = G_UNALLOC;
		return 0;
	}
	gte_off = gt * SECTOR + (g % x->gtes) * 4;
	if (image_read_exact(img, x->fd, b, 4, gte_off, "grain table", e) < 0)
		return -1;
	gte = get_le32(b);
	if (gte == 0) {
		*kind = G_UNALLOC;
	} else if (gte == 1 && x->zero_grain) {
		*kind = G_ZERO;
	} else {
		if ((uint64_t)gte * SECTOR >= x->file_size)
			return err_set(e, ERR_CORRUPT,
				       "%s: grain %llu at sector %u is past the end of the file",
				       img->name, (unsigned long long)g, gte);
		*kind = x->compressed ? G_COMPRESSED : G_DATA;
		*where = (uint64_t)gte * SECTOR;
	}
	return 0;
}

/* Inflates the grain at where (guest bytes rel into the extent) into out; the last grain of
 * an extent may stop at the extent's end (QEMU writes it so). */
static int read_compressed(struct image *img, struct extent *x, uint64_t where, uint64_t rel,
			   uint8_t *out, struct err *e)
{
	uint64_t gstart = rel - rel % x->grain;
	uint64_t want = x->len - gstart < x->grain ? x->len - gstart : x->grain;
	uint8_t hdr[12], *in;
	uint32_t size;
	int rc;

	if (image_read_exact(img, x->fd, hdr, 12, where, "grain marker", e) < 0)
		return -1;
	size = get_le32(hdr + 8);
	if (size == 0 || size > x->grain * 2 + 4096 || size > x->file_size - where - 12)
		return err_set(e, ERR_CORRUPT, "%s: compressed grain at %llu has bad size %u",
			       img->name, (unsigned long long)where, size);
	in = malloc(size);
	if (!in)
		return err_set(e, ERR_FAIL, "out of memory");
	rc = image_read_exact(img, x->fd, in, size, where + 12, "compressed grain", e);
	if (rc == 0 && (rc = image_inflate_range(in, size, out, want, x->grain, true, e)) < 0)
		err_wrap(e, "%s: grain at %llu", img->name, (unsigned long long)where);
	free(in);
	if (rc == 0) /* a short last grain: the rest is past the disk's end */
		memset(out + want, 0, x->grain - want);
	return rc;
}

static int vmdk_pread(struct image *img, void *buf, size_t len, uint64_t off, struct err *e)
{
	struct vmdk *v = img->priv;
	uint8_t *p = buf, *tmp = NULL;
	int rc = 0;

	while (len && rc == 0) {
		struct extent *x = find_extent(v, off);
		uint64_t rel, n;
		enum gkind kind;
		uint64_t where = 0;

		if (!x)
			return err_set(e, ERR_FAIL, "%s: no extent at %llu", img->name,
				       (unsigned long long)off);
		rel = off - x->start;
		n = x->start + x->len - off;
		if (x->type == EXT_SPARSE && x->grain - rel % x->grain < n)
			n = x->grain - rel % x->grain;
		if (n > len)
			n = len;
		if (x->type == EXT_FLAT) {
			rc = image_read_fill(img, x->fd, p, n, x->flat_off + rel, e);
		} else if (x->type == EXT_ZERO) {
			memset(p, 0, n);
		} else if ((rc = grain_lookup(img, x, rel, &kind, &where, e)) == 0) {
			if (kind == G_DATA) {
				rc = image_read_fill(img, x->fd, p, n, where + rel % x->grain, e);
			} else if (kind == G_ZERO) {
				memset(p, 0, n);
			} else if (kind == G_UNALLOC) {
				rc = image_read_backing(img, p, n, off, e);
			} else {
				if (!tmp && !(tmp = malloc(v->max_grain)))
					rc = err_set(e, ERR_FAIL, "out of memory");
				else if ((rc = read_compressed(img, x, where, rel, tmp, e)) == 0)
					memcpy(p, tmp + rel % x->grain, n);
			}
		}
		p += n;
		off += n;
		len -= n;
	}
	free(tmp);
	return rc;
}

static int vmdk_status(struct image *img, uint64_t off, uint64_t len, uint64_t *pnum,
		       enum image_run *run, struct err *e)
{
	struct vmdk *v = img->priv;
	struct extent *x = find_extent(v, off);
	uint64_t rel, n, where;
	enum gkind kind;

	if (!x)
		return err_set(e, ERR_FAIL, "%s: no extent at %llu", img->name,
			       (unsigned long long)off);
	rel = off - x->start;
	n = x->start + x->len - off;
	if (n > len)
		n = len;
	*run = x->type == EXT_ZERO ? IMAGE_RUN_ZERO : IMAGE_RUN_DATA;
	*pnum = n;
	if (x->type != EXT_SPARSE)
		return 0;
	if (x->grain - rel % x->grain < n)
		n = x->grain - rel % x->grain;
	if (grain_lookup(img, x, rel, &kind, &where, e) < 0)
		return -1;
	if (kind == G_UNALLOC)
		return image_status_backing(img, off, n, pnum, run, e);
	*pnum = n;
	*run = kind == G_ZERO ? IMAGE_RUN_ZERO : IMAGE_RUN_DATA;
	return 0;
}

static const struct image_ops vmdk_ops = {
	.pread = vmdk_pread,
	.status = vmdk_status,
	.close = vmdk_close,
};

/* Reads the sparse header of fd into x (the footer's copy when the GD is at the end);
 * *capacity gets its size in sectors, *desc the embedded descriptor (or NULL). */
static int open_sparse(struct image *img, int fd, const char *what, struct extent *x,
		       uint64_t *capacity, char **desc, struct err *e)
{
	uint8_t h[512];
	uint32_t flags, version;
	uint64_t grain_s, gd, gd_bytes, dsec, dlen;

	x->type = EXT_SPARSE;
	x->fd = fd;
	if (image_file_size(img, fd, &x->file_size, e) < 0)
		return -1;
	if (image_read_exact(img, fd, h, 512, 0, "VMDK header", e) < 0)
		return -1;
	if (memcmp(h, "KDMV", 4))
		return err_set(e, !memcmp(h, "COWD", 4) ? ERR_UNSUPPORTED : ERR_CORRUPT,
			       "%s: %s is not a VMDK sparse extent%s", img->name, what,
			       !memcmp(h, "COWD", 4) ? " (VMware 3 COWD is not supported)" : "");
	*desc = NULL;
	dsec = get_le64(h + 28);
	dlen = get_le64(h + 36);
	if (dsec && dlen) {
		if (dlen * SECTOR > MAX_DESC || dsec > x->file_size / SECTOR ||
		    dlen > x->file_size / SECTOR - dsec)
			return err_set(e, ERR_CORRUPT,
				       "%s: %s: embedded descriptor (sector %llu, %llu sectors) is "
				       "misplaced or too large",
				       img->name, what, (unsigned long long)dsec,
				       (unsigned long long)dlen);
		*desc = calloc(1, dlen * SECTOR + 1);
		if (!*desc)
			return err_set(e, ERR_FAIL, "out of memory");
		if (image_read_exact(img, fd, *desc, dlen * SECTOR, dsec * SECTOR, "descriptor",
				     e) < 0)
			return -1;
	}
	if (get_le64(h + 56) == GD_AT_END) {
		uint8_t f[1536];

		if (x->file_size < 1536 + 512 ||
		    image_read_exact(img, fd, f, sizeof(f), x->file_size - 1536, "footer", e) < 0)
			return err_set(e, ERR_CORRUPT,
				       "%s: %s: grain directory at the end, but no footer",
				       img->name, what);
		if (get_le32(f + 8) != 0 || get_le32(f + 12) != 3 || memcmp(f + 512, "KDMV", 4) ||
		    get_le64(f + 1024) != 0 || get_le32(f + 1036) != 0)
			return err_set(e, ERR_CORRUPT,
				       "%s: %s: footer or end-of-stream marker is invalid",
				       img->name, what);
		memcpy(h, f + 512, 512);
		if (get_le64(h + 56) == GD_AT_END)
			return err_set(e, ERR_CORRUPT,
				       "%s: %s: footer has no grain directory offset", img->name,
				       what);
	}
	version = get_le32(h + 4);
	flags = get_le32(h + 8);
	*capacity = get_le64(h + 12);
	grain_s = get_le64(h + 20);
	x->gtes = get_le32(h + 44);
	gd = get_le64(h + 56);
	if (version < 1 || version > 3)
		return err_set(e, ERR_UNSUPPORTED, "%s: %s: VMDK version %u is not supported",
			       img->name, what, version);
	if (grain_s == 0 || grain_s > MAX_GRAIN_SECTORS || (grain_s & (grain_s - 1)))
		return err_set(e, ERR_CORRUPT, "%s: %s: grainSize %llu sectors is invalid",
			       img->name, what, (unsigned long long)grain_s);
	if (x->gtes == 0 || x->gtes > 512)
		return err_set(e, ERR_CORRUPT, "%s: %s: numGTEsPerGT %u is outside 1..512",
			       img->name, what, x->gtes);
	if (*capacity > MAX_CAPACITY)
		return err_set(e, ERR_CORRUPT, "%s: %s: capacity %llu sectors is too large",
			       img->name, what, (unsigned long long)*capacity);
	if ((flags & FLAG_COMPRESSED) && get_le16(h + 77) != 1)
		return err_set(e, ERR_UNSUPPORTED, "%s: %s: compressAlgorithm %u is not supported",
			       img->name, what, get_le16(h + 77));
	if ((flags & FLAG_COMPRESSED) && !(flags & FLAG_MARKERS))
		return err_set(e, ERR_UNSUPPORTED,
			       "%s: %s: compressed grains without markers are not supported",
			       img->name, what);
	x->grain = grain_s * SECTOR;
	x->compressed = !!(flags & FLAG_COMPRESSED);
	x->zero_grain = !!(flags & FLAG_ZERO_GRAIN);
	/* bound before narrowing: 2^32 + 8 entries must not wrap to 8 */
	gd_bytes = (*capacity + grain_s * x->gtes - 1) / (grain_s * x->gtes);
	if (gd_bytes > MAX_GD_ENTRIES)
		return err_set(e, ERR_CORRUPT, "%s: %s: grain directory of %llu entries is too large",
			       img->name, what, (unsigned long long)gd_bytes);
	x->gd_entries = (uint32_t)gd_bytes;
	gd_bytes = (uint64_t)x->gd_entries * 4;
	if (gd > x->file_size / SECTOR || x->file_size - gd * SECTOR < gd_bytes)
		return err_set(e, ERR_CORRUPT,
			       "%s: %s: grain directory at sector %llu is past the end of the file",
			       img->name, what, (unsigned long long)gd);
	x->gd = malloc(gd_bytes + 4);
	if (!x->gd)
		return err_set(e, ERR_FAIL, "out of memory");
	if (image_read_exact(img, fd, x->gd, gd_bytes, gd * SECTOR, "grain directory", e) < 0)
		return -1;
	for (uint32_t i = 0; i < x->gd_entries; i++) {
		x->gd[i] = get_le32(&x->gd[i]);
		if (x->gd[i] && ((uint64_t)x->gd[i] > x->file_size / SECTOR ||
				 x->file_size - x->gd[i] * SECTOR < (uint64_t)x->gtes * 4))
			return err_set(e, ERR_CORRUPT,
				       "%s: %s: grain table %u at sector %u is past the end of the "
				       "file",
				       img->name, what, i, x->gd[i]);
	}
	x->len = *capacity * SECTOR;
	return 0;
}

/* The value of key in a descriptor ("createType", ...), unquoted, or NULL. */
bool vmdk_desc_value(const char *desc, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);

	for (const char *l = desc; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *p = l;

		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, key, klen))
			continue;
		p += klen;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p++ != '=')
			continue;
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strcspn(p, "\r\n");

		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
			p++;
			n -= 2;
		}
		if (n >= outlen)
			n = outlen - 1;
		memcpy(out, p, n);
		out[n] = '\0';
		return true;
	}
	return false;
}

static int open_parent(struct image *img, const char *desc, struct err *e)
{
	char cid[32], hint[1024];

	if (!vmdk_desc_value(desc, "parentCID", cid, sizeof(cid)) || !strcasecmp(cid, "ffffffff"))
		return 0;
	if (!vmdk_desc_value(desc, "parentFileNameHint", hint, sizeof(hint)))
		return err_set(e, ERR_CORRUPT, "%s: delta disk without parentFileNameHint",
			       img->name);
	return image_open_ref(img, hint, IMAGE_VMDK, &img->backing, e);
}

/* Parses one extent line: ACCESS SECTORS TYPE "FILE" [OFFSET]. */
static int parse_extent(struct image *img, struct vmdk *v, const char *line, uint64_t *pos,
			struct err *e)
{
	char access[16], type[16], file[1024] = "";
	unsigned long long sectors, offset = 0;
	struct extent *x;
	int n;

	n = sscanf(line, "%15s %llu %15s \"%1023[^\"]\" %llu", access, &sectors, type, file,
		   &offset);
	if (n < 3)
		return err_set(e, ERR_CORRUPT, "%s: malformed extent line '%.60s'", img->name,
			       line);
	if (v->n >= IMAGE_MAX_FILES)
		return err_set(e, ERR_CORRUPT, "%s: more than %u extents", img->name,
			       IMAGE_MAX_FILES);
	if (sectors > MAX_CAPACITY || *pos / SECTOR + sectors > MAX_CAPACITY)
		return err_set(e, ERR_CORRUPT, "%s: extent of %llu sectors is too large", img->name,
			       sectors);
	x = &v->ext[v->n];
	memset(x, 0, sizeof(*x));
	x->fd = -1;
	x->start = *pos;
	x->len = sectors * SECTOR;
	if (!strcmp(type, "ZERO")) {
		x->type = EXT_ZERO;
	} else if (!strcmp(type, "FLAT") || !strcmp(type, "VMFS") || !strcmp(type, "SPARSE")) {
		uint64_t cap;
		char *edesc = NULL;
		int fd, rc;

		if (n < 4)
			return err_set(e, ERR_CORRUPT, "%s: extent line without a file name",
				       img->name);
		if (offset > MAX_CAPACITY)
			return err_set(e, ERR_CORRUPT, "%s: extent offset %llu is too large",
				       img->name, offset);
		fd = image_open_ref_fd(img, file, e);
		if (fd < 0)
			return -1;
		if (img->n_extra >= IMAGE_MAX_FILES) {
			close(fd);
			return err_set(e, ERR_CORRUPT, "%s: too many extents", img->name);
		}
		img->extra_fds[img->n_extra++] = fd;
		if (type[0] != 'S') {
			x->type = EXT_FLAT;
			x->fd = fd;
			x->flat_off = offset * SECTOR;
		} else {
			rc = open_sparse(img, fd, file, x, &cap, &edesc, e);
			free(edesc);
			if (rc < 0)
				return -1;
			v->gd_total += x->gd_entries;
			if (v->gd_total > MAX_GD_ENTRIES)
				return err_set(
					e, ERR_CORRUPT,
					"%s: grain directories of all extents exceed %u entries",
					img->name, MAX_GD_ENTRIES);
			/* a larger extent is read only as far as the descriptor says */
			if (cap < sectors)
				return err_set(e, ERR_CORRUPT,
					       "%s: extent %s holds %llu sectors, the descriptor "
					       "says %llu",
					       img->name, file, (unsigned long long)cap, sectors);
		}
	} else {
		return err_set(e, ERR_UNSUPPORTED, "%s: extent type %s is not supported", img->name,
			       type);
	}
	v->n++;
	if (x->grain > v->max_grain)
		v->max_grain = x->grain;
	*pos += x->len;
	return 0;
}

/* A monolithic sparse file's embedded descriptor describes the file itself: one extent whose
 * size is the header's capacity. Anything else (a second extent, another size, another file
 * named) is a header and descriptor that disagree, so the image is refused, not guessed at. */
static int embedded_extents_agree(struct image *img, const char *desc, uint64_t cap,
				  struct err *e)
{
	uint64_t total = 0;
	unsigned n = 0;

	for (const char *l = desc; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		unsigned long long sectors;
		char type[32];

		while (*l == ' ' || *l == '\t')
			l++;
		if (strncmp(l, "RW ", 3) && strncmp(l, "RDONLY ", 7) && strncmp(l, "NOACCESS ", 9))
			continue;
		if (sscanf(l, "%*s %llu %31s", &sectors, type) != 2 || strcmp(type, "SPARSE"))
			return err_set(e, ERR_CORRUPT,
				       "%s: the embedded descriptor names an extent that is not this "
				       "sparse file",
				       img->name);
		if (++n > 1 || sectors > cap)
			break;
		total += sectors;
	}
	if (n != 1 || total != cap)
		return err_set(e, ERR_CORRUPT,
			       "%s: the sparse header says %llu sectors but the embedded descriptor "
			       "lists %u extent%s%s",
			       img->name, (unsigned long long)cap, n, n == 1 ? " of " : "s",
			       n == 1 ? "another size" : "");
	return 0;
}

static int open_descriptor(struct image *img, struct vmdk *v, char *desc, struct err *e)
{
	uint64_t pos = 0;
	char ct[64] = "";

	for (char *l = desc, *next; l && *l; l = next) {
		next = strchr(l, '\n');
		if (next)
			*next++ = '\0';
		while (*l == ' ' || *l == '\t')
			l++;
		if (!strncmp(l, "RW ", 3) || !strncmp(l, "RDONLY ", 7) ||
		    !strncmp(l, "NOACCESS ", 9)) {
			if (parse_extent(img, v, l, &pos, e) < 0)
				return -1;
		}
		if (next)
			next[-1] = '\n';
	}
	if (!v->n)
		return err_set(e, ERR_CORRUPT, "%s: VMDK descriptor lists no extents", img->name);
	if (!pos)
		return err_set(e, ERR_CORRUPT, "%s: the descriptor's extents hold 0 sectors",
			       img->name);
	vmdk_desc_value(desc, "createType", ct, sizeof(ct));
	snprintf(img->subformat, sizeof(img->subformat), "%s", ct[0] ? ct : "descriptor");
	img->size = pos;
	return open_parent(img, desc, e);
}

int vmdk_open(struct image *img, struct err *e)
{
	struct vmdk *v = calloc(1, sizeof(*v));
	uint8_t magic[4];
	char *desc = NULL;
	uint64_t fsize;
	int rc = -1;

	if (!v)
		return err_set(e, ERR_FAIL, "out of memory");
	img->ops = &vmdk_ops;
	img->priv = v;
	if (image_file_size(img, img->fd, &fsize, e) < 0 ||
	    image_read_exact(img, img->fd, magic, 4, 0, "VMDK magic", e) < 0)
		return -1;
	if (!memcmp(magic, "KDMV", 4) || !memcmp(magic, "COWD", 4)) {
		uint64_t cap;
		char ct[64] = "monolithicSparse";

		if (open_sparse(img, img->fd, "sparse extent", &v->ext[0], &cap, &desc, e) < 0)
			goto out;
		v->n = 1;
		v->max_grain = v->ext[0].grain;
		img->size = cap * SECTOR;
		if (!cap) {
			err_set(e, ERR_CORRUPT, "%s: the sparse header says the disk has 0 sectors",
				img->name);
			goto out;
		}
		if (desc && embedded_extents_agree(img, desc, cap, e) < 0)
			goto out;
		if (desc) {
			vmdk_desc_value(desc, "createType", ct, sizeof(ct));
			if (open_parent(img, desc, e) < 0)
				goto out;
		}
		snprintf(img->subformat, sizeof(img->subformat), "%s", ct);
		rc = 0;
		goto out;
	}
	if (fsize > MAX_DESC)
		return err_set(e, ERR_CORRUPT, "%s: VMDK descriptor of %llu bytes is too large",
			       img->name, (unsigned long long)fsize);
	desc = calloc(1, fsize + 1);
	if (!desc)
		return err_set(e, ERR_FAIL, "out of memory");
	if (image_read_exact(img, img->fd, desc, fsize, 0, "descriptor", e) < 0)
		goto out;
	if ((!strstr(desc, "# Disk DescriptorFile") && !strstr(desc, "# Disk Descriptor File"))) {
		err_set(e, ERR_CORRUPT, "%s: not a VMDK descriptor or sparse extent", img->name);
		goto out;
	}
	rc = open_descriptor(img, v, desc, e);
out:
	free(desc);
	return rc;
}
