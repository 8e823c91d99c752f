#include "boxes/ovf.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The value of attribute name (with or without a namespace prefix) inside one tag. */
static bool tag_attr(const char *tag, const char *end, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name);

	for (const char *p = tag; p + nl + 2 < end; p++) {
		const char *v, *q;

		if ((p[-1] != ' ' && p[-1] != ':' && p[-1] != '\t' && p[-1] != '\n') ||
		    strncmp(p, name, nl) || p[nl] != '=' || (p[nl + 1] != '"' && p[nl + 1] != '\''))
			continue;
		v = p + nl + 2;
		q = memchr(v, p[nl + 1], (size_t)(end - v));
		if (!q || (size_t)(q - v) >= size)
			return false;
		memcpy(out, v, (size_t)(q - v));
		out[q - v] = '\0';
		return true;
	}
	return false;
}

/* Next start tag named elem (any namespace prefix) at or after *pos; sets tag and its end. */
static bool next_tag(const char *s, const char *end, const char **pos, const char *elem,
		     const char **tag, const char **tag_end)
{
	size_t el = strlen(elem);

	for (const char *p = *pos; p < end && (p = memchr(p, '<', (size_t)(end - p))); p++) {
		const char *n = p + 1, *colon, *gt;

		gt = memchr(n, '>', (size_t)(end - n));
		if (!gt)
			return false;
		if (*n == '/' || *n == '!' || *n == '?')
			continue; /* end tags, comments, declarations */
		colon = memchr(n, ':', (size_t)(gt - n));
		if (colon && (size_t)(colon - n) < 32 && !memchr(n, ' ', (size_t)(colon - n)))
			n = colon + 1;
		if ((size_t)(gt - n) >= el && !strncmp(n, elem, el) &&
		    (n[el] == ' ' || n[el] == '>' || n[el] == '/' || n[el] == '\n' ||
		     n[el] == '\t')) {
			*tag = n + el;
			*tag_end = gt;
			*pos = gt + 1;
			return true;
		}
	}
	(void)s;
	return false;
}

struct ovf_disk {
	char id[128], href[512];
	bool used;
};

static int add(struct ovf_disks *out, const char *href, struct err *e)
{
	if (!(out->href[out->n] = strdup(href)))
		return err_set(e, ERR_FAIL, "out of memory");
	out->n++;
	return 0;
}

void ovf_disks_free(struct ovf_disks *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->href[i]);
	d->n = 0;
}

int ovf_disks(const char *ovf, size_t len, struct ovf_disks *out, struct err *e)
{
	const char *end = ovf + len, *pos, *tag, *tend;
	struct ovf_disk disks[OVF_MAX_DISKS];
	size_t nd = 0;

	out->n = 0;
	/* Disk ids to file names: <Disk ovf:diskId ovf:fileRef> then <File ovf:id ovf:href>. */
	for (pos = ovf; next_tag(ovf, end, &pos, "Disk", &tag, &tend);) {
		char ref[128], id[128];
		const char *fp, *ft, *fe;
		bool found = false;

		if (!tag_attr(tag, tend, "diskId", disks[nd].id, sizeof(disks[nd].id)) ||
		    !tag_attr(tag, tend, "fileRef", ref, sizeof(ref)))
			return err_set(e, ERR_CORRUPT, "box.ovf: a <Disk> lacks diskId or fileRef");
		for (fp = ovf; next_tag(ovf, end, &fp, "File", &ft, &fe);)
			if (tag_attr(ft, fe, "id", id, sizeof(id)) && !strcmp(id, ref) &&
			    tag_attr(ft, fe, "href", disks[nd].href, sizeof(disks[nd].href))) {
				found = true;
				break;
			}
		if (!found)
			return err_set(e, ERR_CORRUPT,
				       "box.ovf: disk '%s' refers to unknown file '%s'",
				       disks[nd].id, ref);
		disks[nd].used = false;
		if (++nd == OVF_MAX_DISKS)
			break;
	}
	if (nd == 0)
		return err_set(e, ERR_CORRUPT, "box.ovf: no <Disk> in the DiskSection");
	/* Attachment order: the hardware items' HostResource "ovf:/disk/ID" in document order. */
	for (pos = ovf; next_tag(ovf, end, &pos, "HostResource", &tag, &tend);) {
		const char *v = tend + 1, *close = memchr(v, '<', (size_t)(end - v)), *id;
		size_t n;

		if (!close)
			break;
		n = (size_t)(close - v);
		id = memmem(v, n, "/disk/", 6);
		if (!id)
			continue;
		id += 6;
		n = (size_t)(close - id);
		for (size_t i = 0; i < nd; i++)
			if (!disks[i].used && strlen(disks[i].id) == n &&
			    !strncmp(disks[i].id, id, n)) {
				disks[i].used = true;
				if (add(out, disks[i].href, e) < 0)
					goto fail;
			}
	}
	for (size_t i = 0; i < nd; i++)
		if (!disks[i].used && add(out, disks[i].href, e) < 0)
			goto fail;
	return 0;
fail:
	ovf_disks_free(out);
	return -1;
}
