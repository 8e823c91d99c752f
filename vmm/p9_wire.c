/* The 9P wire format for envvmm's 9p server (vmm/p9.c): little-endian fields and
 * length-prefixed strings, read bounds-checked from a T-message and written into an R-message
 * that turns into an Rlerror when it overflows. */
#include "vmm/p9_impl.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

const uint8_t *p9_rd_take(struct rd *r, size_t n)
{
	const uint8_t *q;

	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	q = r->p + r->off;
	r->off += n;
	return q;
}

uint64_t p9_rd_le(struct rd *r, unsigned n)
{
	const uint8_t *q = p9_rd_take(r, n);
	uint64_t v = 0;

	for (unsigned i = 0; q && i < n; i++)
		v |= (uint64_t)q[i] << (8 * i);
	return v;
}

#define rd8(r) ((uint8_t)p9_rd_le(r, 1))
#define rd16(r) ((uint16_t)p9_rd_le(r, 2))
#define rd32(r) ((uint32_t)p9_rd_le(r, 4))
#define rd64(r) (p9_rd_le(r, 8))

/* A string field copied NUL-terminated into buf (cap bytes): errno-style result, 0 when
 * fine, ENAMETOOLONG when it does not fit, EINVAL when it holds a NUL or the message ends. */
int p9_rd_str(struct rd *r, char *buf, size_t cap)
{
	uint16_t n = rd16(r);
	const uint8_t *q = p9_rd_take(r, n);

	if (!q)
		return EINVAL;
	if (n >= cap)
		return ENAMETOOLONG;
	if (memchr(q, 0, n))
		return EINVAL;
	memcpy(buf, q, n);
	buf[n] = 0;
	return 0;
}

void p9_wr_le(struct wr *w, uint64_t v, unsigned n)
{
	if (w->full || n > w->cap - w->off) {
		w->full = true;
		return;
	}
	for (unsigned i = 0; i < n; i++)
		w->p[w->off++] = (uint8_t)(v >> (8 * i));
}

#define wr8(w, v) p9_wr_le(w, (uint8_t)(v), 1)
#define wr16(w, v) p9_wr_le(w, (uint16_t)(v), 2)
#define wr32(w, v) p9_wr_le(w, (uint32_t)(v), 4)
#define wr64(w, v) p9_wr_le(w, (uint64_t)(v), 8)

void p9_wr_bytes(struct wr *w, const void *b, size_t n)
{
	if (w->full || n > w->cap - w->off) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->off, b, n);
	w->off += n;
}

void p9_wr_str(struct wr *w, const char *s)
{
	size_t n = strlen(s);

	wr16(w, n);
	p9_wr_bytes(w, s, n);
}

void p9_wr_qid(struct wr *w, const struct stat *st)
{
	uint8_t type = S_ISDIR(st->st_mode) ? P9_QTDIR : S_ISLNK(st->st_mode) ? P9_QTSYMLINK : 0;

	wr8(w, type);
	wr32(w, 0);
	/* Inode numbers of another file system mounted inside the share could collide with
	 * the share's own: the device goes into the top bits. */
	wr64(w, (uint64_t)st->st_ino ^ ((uint64_t)st->st_dev << 48));
}
