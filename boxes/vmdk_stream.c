/* streamOptimized VMDK to qcow2 in one front-to-back pass: the header, the embedded
 * descriptor, then a marker per grain (LBA, compressed size, deflate data) and metadata
 * markers (grain tables, directory, footer) up to the end-of-stream marker. The grain tables
 * at the end only repeat where the grains are, so the pass reads the grains as they come and
 * writes each into the qcow2 writer; all-zero grains are left out, as convert does. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "boxes/qcow2_impl.h"
#include "boxes/vmdk_stream.h"

#define SECTOR 512u
#define FLAG_ZERO_GRAIN (1u << 2)
#define FLAG_COMPRESSED (1u << 16)
#define FLAG_MARKERS (1u << 17)
#define MAX_GRAIN_SECTORS 2048u
#define MAX_CAPACITY (1ull << 42) /* sectors, as boxes/vmdk.c */
#define MAX_DESC_SECTORS 128u
#define MAX_OVERHEAD_SECTORS (1u << 20)
#define GD_AT_END 0xffffffffffffffffull
/* QEMU writes the grain directory and tables in front of the grains: held while streaming,
 * so at most this much of them */
#define MAX_FRONT_BYTES (64u << 20)
#define WRITEBACK_CHUNK (8u << 20)
#define MARKER_EOS 0
#define MARKER_GT 1
#define MARKER_GD 2
#define MARKER_FOOTER 3

struct in {
	vmdk_stream_read_fn rd;
	void *ctx;
	uint64_t pos; /* bytes consumed */
	const char *name;
	struct err *e;
};

/* Exactly len bytes, or an error naming what was being read. */
static int get(struct in *in, void *buf, size_t len, const char *what)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = in->rd(in->ctx, p, len, in->e);

		if (n < 0)
			return -1;
		if (n == 0)
			return err_set(in->e, ERR_CORRUPT,
				       "%s: the stream ends at byte %llu, inside the %s", in->name,
				       (unsigned long long)in->pos, what);
		p += n;
		len -= (size_t)n;
		in->pos += (uint64_t)n;
	}
	return 0;
}

/* Reads and drops bytes up to stream offset to. */
static int skip_to(struct in *in, uint64_t to, const char *what)
{
	uint8_t buf[4096];

	if (to < in->pos)
		return err_set(in->e, ERR_CORRUPT, "%s: the %s at byte %llu lies behind byte %llu",
			       in->name, what, (unsigned long long)to, (unsigned long long)in->pos);
	while (in->pos < to) {
		size_t n = to - in->pos < sizeof(buf) ? (size_t)(to - in->pos) : sizeof(buf);

		if (get(in, buf, n, what) < 0)
			return -1;
	}
	return 0;
}

/* QEMU's layout is streamed only while its tables, and one entry per grain of the disk, stay
 * within MAX_FRONT_BYTES (a 1 TiB disk of 64 KiB grains); larger ones are extracted and
 * converted through the file. */
static bool front_fits(const uint8_t *h)
{
	uint64_t grain_s = get_le64(h + 20), cap = get_le64(h + 12);

	return get_le64(h + 64) <= MAX_FRONT_BYTES / SECTOR && grain_s &&
	       cap / grain_s < MAX_FRONT_BYTES / 4;
}

bool vmdk_stream_is(const void *head, size_t len)
{
	const uint8_t *h = head;
	uint64_t dsec, dlen;
	char desc[MAX_DESC_SECTORS * SECTOR + 1], v[32];

	if (len < SECTOR || memcmp(h, "KDMV", 4) ||
	    (~get_le32(h + 8) & (FLAG_COMPRESSED | FLAG_MARKERS)))
		return false;
	if (get_le64(h + 56) != GD_AT_END && !front_fits(h))
		return false;
	dsec = get_le64(h + 28);
	dlen = get_le64(h + 36);
	if (!dsec || !dlen || dlen > MAX_DESC_SECTORS || dsec > len / SECTOR ||
	    dlen > len / SECTOR - dsec)
		return false;
	memcpy(desc, h + dsec * SECTOR, dlen * SECTOR);
	desc[dlen * SECTOR] = '\0';
	return vmdk_desc_value(desc, "createType", v, sizeof(v)) &&
	       !strcasecmp(v, "streamOptimized");
}

struct stream {
	struct in in;
	uint64_t capacity; /* bytes */
	uint64_t grain;	   /* bytes */
	uint64_t next_lba; /* grains must come in increasing order from here */
	/* QEMU's layout: the grain table entries (sector of each grain) from the front, each
	 * grain checked against its entry and cleared; what is left at the end never came */
	uint32_t *gtes;
	uint64_t ngtes;
	bool zero_grain;
	uint64_t unsynced; /* bytes written since writeback was last started */
	uint8_t *cbuf, *gbuf;
	struct image *out;
};

static int check_header(struct stream *s, const uint8_t *h, uint64_t max_size, uint64_t *dsec,
			uint64_t *dlen, uint64_t *overhead)
{
	struct err *e = s->in.e;
	const char *name = s->in.name;
	uint64_t cap = get_le64(h + 12), grain_s = get_le64(h + 20);
	uint32_t version = get_le32(h + 4);

	if (version < 1 || version > 3)
		return err_set(e, ERR_UNSUPPORTED, "%s: VMDK version %u is not supported", name,
			       version);
	if (get_le16(h + 77) != 1)
		return err_set(e, ERR_UNSUPPORTED, "%s: compressAlgorithm %u is not supported",
			       name, get_le16(h + 77));
	if (grain_s == 0 || grain_s > MAX_GRAIN_SECTORS || (grain_s & (grain_s - 1)))
		return err_set(e, ERR_CORRUPT, "%s: grainSize %llu sectors is invalid", name,
			       (unsigned long long)grain_s);
	if (cap > MAX_CAPACITY || cap * SECTOR > max_size)
		return err_set(e, ERR_CORRUPT,
			       "%s: capacity of %llu sectors is over the limit of "
			       "%llu bytes",
			       name, (unsigned long long)cap, (unsigned long long)max_size);
	*dsec = get_le64(h + 28);
	*dlen = get_le64(h + 36);
	*overhead = get_le64(h + 64);
	if (!*dsec || !*dlen || *dlen > MAX_DESC_SECTORS || *dsec > MAX_OVERHEAD_SECTORS)
		return err_set(e, ERR_CORRUPT,
			       "%s: embedded descriptor (sector %llu, %llu sectors) is missing, "
			       "misplaced or too large",
			       name, (unsigned long long)*dsec, (unsigned long long)*dlen);
	if (*overhead > MAX_OVERHEAD_SECTORS || *overhead < *dsec + *dlen)
		return err_set(e, ERR_CORRUPT, "%s: overHead of %llu sectors is invalid", name,
			       (unsigned long long)*overhead);
	s->capacity = cap * SECTOR;
	s->grain = grain_s * SECTOR;
	return 0;
}

/* One stream disk, no parent, one extent: anything else reads differently as a file. */
static int check_descriptor(struct stream *s, char *desc)
{
	char v[64];
	unsigned extents = 0;

	if (!vmdk_desc_value(desc, "createType", v, sizeof(v)) || strcasecmp(v, "streamOptimized"))
		return err_set(s->in.e, ERR_CORRUPT,
			       "%s: the descriptor's createType is not streamOptimized",
			       s->in.name);
	if (vmdk_desc_value(desc, "parentFileNameHint", v, sizeof(v)) ||
	    (vmdk_desc_value(desc, "parentCID", v, sizeof(v)) && strcasecmp(v, "ffffffff")))
		return err_set(s->in.e, ERR_UNSUPPORTED,
			       "%s: a stream VMDK with a parent disk is not supported", s->in.name);
	for (const char *l = desc; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		l += strspn(l, " \t");
		if (!strncmp(l, "RW ", 3) || !strncmp(l, "RDONLY ", 7) ||
		    !strncmp(l, "NOACCESS ", 9))
			extents++;
	}
	if (extents != 1)
		return err_set(s->in.e, ERR_CORRUPT,
			       "%s: the descriptor names %u extents; a stream VMDK has one",
			       s->in.name, extents);
	return 0;
}

/* QEMU's layout: front holds the bytes from stream offset base up to the first marker;
 * the grain directory at sector gd and the tables it names must lie inside it. */
static int load_front_tables(struct stream *s, const uint8_t *h, const uint8_t *front,
			     uint64_t base, uint64_t end)
{
	struct err *e = s->in.e;
	uint64_t gd = get_le64(h + 56) * SECTOR, per_gt = get_le32(h + 44);
	uint64_t gd_n, cap_grains = (s->capacity + s->grain - 1) / s->grain;

	if (per_gt == 0 || per_gt > 512)
		return err_set(e, ERR_CORRUPT, "%s: numGTEsPerGT %llu is outside 1..512",
			       s->in.name, (unsigned long long)per_gt);
	if (!front_fits(h))
		return err_set(e, ERR_UNSUPPORTED, "%s: grain tables too large to stream",
			       s->in.name);
	gd_n = (cap_grains + per_gt - 1) / per_gt;
	if (gd < base || gd > end || (end - gd) / 4 < gd_n)
		return err_set(e, ERR_CORRUPT,
			       "%s: the grain directory is not between the descriptor and the "
			       "first grain",
			       s->in.name);
	s->ngtes = gd_n * per_gt;
	if (!(s->gtes = calloc(s->ngtes ? s->ngtes : 1, 4)))
		return err_set(e, ERR_FAIL, "out of memory");
	for (uint64_t i = 0; i < gd_n; i++) {
		uint64_t gt = (uint64_t)get_le32(front + (gd - base) + i * 4) * SECTOR;

		if (!gt)
			continue;
		if (gt < base || gt > end || (end - gt) / 4 < per_gt)
			return err_set(e, ERR_CORRUPT,
				       "%s: grain table %llu is not between the descriptor and the "
				       "first grain",
				       s->in.name, (unsigned long long)i);
		for (uint64_t j = 0; j < per_gt; j++) {
			uint32_t v = get_le32(front + (gt - base) + j * 4);

			s->gtes[i * per_gt + j] = (v == 1 && s->zero_grain) ? 0 : v;
		}
	}
	return 0;
}

/* Every grain the tables list came. */
static int all_grains_came(struct stream *s)
{
	for (uint64_t g = 0; s->gtes && g < s->ngtes; g++)
		if (s->gtes[g])
			return err_set(
				s->in.e, ERR_CORRUPT,
				"%s: the grain for sector %llu (at sector %u) is missing from "
				"the stream",
				s->in.name, (unsigned long long)(g * s->grain / SECTOR),
				s->gtes[g]);
	return 0;
}

static int grain(struct stream *s, uint64_t lba, uint32_t size)
{
	struct err *e = s->in.e;
	uint64_t at = lba * SECTOR, want;

	if (size > s->grain * 2 + 4096)
		return err_set(e, ERR_CORRUPT, "%s: the grain at byte %llu has bad size %u",
			       s->in.name, (unsigned long long)s->in.pos - 12, size);
	if (lba > (UINT64_MAX / SECTOR) || at % s->grain || at >= s->capacity || lba < s->next_lba)
		return err_set(e, ERR_CORRUPT,
			       "%s: grain for sector %llu is outside the disk, not on a grain "
			       "boundary or out of order",
			       s->in.name, (unsigned long long)lba);
	s->next_lba = lba + s->grain / SECTOR;
	if (s->gtes) {
		uint64_t g = at / s->grain, here = (s->in.pos - 12) / SECTOR;

		if (g >= s->ngtes || s->gtes[g] != here)
			return err_set(e, ERR_CORRUPT,
				       "%s: the grain for sector %llu at sector %llu is not where "
				       "its grain table says",
				       s->in.name, (unsigned long long)lba,
				       (unsigned long long)here);
		s->gtes[g] = 0;
	}
	want = s->capacity - at < s->grain ? s->capacity - at : s->grain;
	if (get(&s->in, s->cbuf, size, "compressed grain") < 0)
		return -1;
	if (image_inflate_range(s->cbuf, size, s->gbuf, want, s->grain, true, e) < 0)
		return err_wrap(e, "%s: grain for sector %llu", s->in.name,
				(unsigned long long)lba);
	if (image_is_zero(s->gbuf, want))
		return 0;
	if (image_pwrite(s->out, s->gbuf, want, at, e) < 0)
		return -1;
	/* writeback starts as the image grows, so that the final sync has little left */
	s->unsynced += want;
	if (s->unsynced >= WRITEBACK_CHUNK) {
		sync_file_range(s->out->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		s->unsynced = 0;
	}
	return 0;
}

static int markers(struct stream *s)
{
	for (;;) {
		uint8_t m[SECTOR];
		uint64_t val;
		uint32_t size, type;
		uint64_t start = s->in.pos;

		/* QEMU ends a stream without grains where the overhead ends, with no marker */
		ssize_t n = s->in.rd(s->in.ctx, m, 12, s->in.e);

		if (n < 0)
			return -1;
		if (n == 0)
			return s->gtes ? 0 : get(&s->in, m, 12, "marker");
		s->in.pos += (uint64_t)n;
		if (n < 12 && get(&s->in, m + n, 12 - (size_t)n, "marker") < 0)
			return -1;
		val = get_le64(m);
		size = get_le32(m + 8);
		if (size) {
			if (grain(s, val, size) < 0)
				return -1;
		} else {
			if (get(&s->in, m + 12, SECTOR - 12, "marker") < 0)
				return -1;
			type = get_le32(m + 12);
			if (type == MARKER_EOS)
				return 0;
			if (type != MARKER_GT && type != MARKER_GD && type != MARKER_FOOTER)
				return err_set(s->in.e, ERR_CORRUPT,
					       "%s: unknown marker type %u at byte %llu",
					       s->in.name, type, (unsigned long long)start);
			/* the tables and footer repeat what the grains said: read past them */
			if (val > MAX_OVERHEAD_SECTORS * 16ull)
				return err_set(s->in.e, ERR_CORRUPT,
					       "%s: metadata of %llu sectors at byte %llu",
					       s->in.name, (unsigned long long)val,
					       (unsigned long long)start);
			if (skip_to(&s->in, s->in.pos + val * SECTOR, "metadata") < 0)
				return -1;
		}
		/* markers start on sector boundaries */
		if (skip_to(&s->in, (s->in.pos + SECTOR - 1) / SECTOR * SECTOR, "padding") < 0)
			return -1;
	}
}

int vmdk_stream_to_qcow2(vmdk_stream_read_fn rd, void *ctx, int fd, const char *name,
			 uint64_t max_size, struct err *e)
{
	struct stream s = {.in = {.rd = rd, .ctx = ctx, .name = name, .e = e}};
	struct image_open_opts wo = {.writable = true};
	uint8_t h[SECTOR];
	uint64_t dsec = 0, dlen = 0, overhead = 0;
	char *desc = NULL, reopen[64];
	uint8_t *front = NULL;
	int rc = -1;

	if (get(&s.in, h, SECTOR, "header") < 0)
		return -1;
	if (memcmp(h, "KDMV", 4) || (~get_le32(h + 8) & (FLAG_COMPRESSED | FLAG_MARKERS)))
		return err_set(e, ERR_CORRUPT, "%s: not a streamOptimized VMDK", name);
	if (check_header(&s, h, max_size, &dsec, &dlen, &overhead) < 0 ||
	    skip_to(&s.in, dsec * SECTOR, "descriptor") < 0)
		return -1;
	if (!(desc = calloc(1, dlen * SECTOR + 1)))
		return err_set(e, ERR_FAIL, "out of memory");
	if (get(&s.in, desc, dlen * SECTOR, "descriptor") < 0 || check_descriptor(&s, desc) < 0)
		goto out;
	s.zero_grain = !!(get_le32(h + 8) & FLAG_ZERO_GRAIN);
	if (get_le64(h + 56) == GD_AT_END) {
		if (skip_to(&s.in, overhead * SECTOR, "first grain") < 0)
			goto out;
	} else {
		uint64_t base = s.in.pos, end = overhead * SECTOR;

		if (end < base || end - base > MAX_FRONT_BYTES) {
			err_set(e, ERR_CORRUPT, "%s: overHead of %llu sectors is invalid", name,
				(unsigned long long)overhead);
			goto out;
		}
		if (!(front = malloc(end - base ? end - base : 1))) {
			err_set(e, ERR_FAIL, "out of memory");
			goto out;
		}
		if (get(&s.in, front, end - base, "grain tables") < 0 ||
		    load_front_tables(&s, h, front, base, end) < 0)
			goto out;
	}
	s.cbuf = malloc(s.grain * 2 + 4096);
	s.gbuf = malloc(s.grain);
	if (!s.cbuf || !s.gbuf) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	snprintf(reopen, sizeof(reopen), "/proc/self/fd/%d", fd);
	if (qcow2_create_fd(fd, name, s.capacity, NULL, NULL, QCOW2_LAYOUT_BASE, e) < 0 ||
	    image_open(reopen, IMAGE_QCOW2, &wo, &s.out, e) < 0)
		goto out;
	if (markers(&s) < 0 || all_grains_came(&s) < 0 || image_flush(s.out, e) < 0)
		goto out;
	rc = 0;
out:
	image_close(s.out);
	free(desc);
	free(front);
	free(s.gtes);
	free(s.cbuf);
	free(s.gbuf);
	return rc;
}
