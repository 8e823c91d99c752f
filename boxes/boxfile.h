/* Box files as archives: writing a .box (an uncompressed tar, as `vagrant package` can make
 * and every Vagrant and envup reads) with its SHA-256 computed while it is written, and
 * reading one small member (metadata.json) out of a box without extracting it. */
#ifndef ENVUP_BOXES_BOXFILE_H
#define ENVUP_BOXES_BOXFILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/hash.h"

struct boxfile_member {
	const char *name; /* path inside the box */
	const char *path; /* a file to copy in ... */
	const char *data; /* ... or these bytes (NUL-terminated) */
};

/* Writes the members into a new archive at out (appearing only when complete); the sha256 of
 * the archive goes to hex (HASH_HEX_MAX), its size to *size. */
int boxfile_write(const char *out, const struct boxfile_member *m, size_t n, char *hex,
		  uint64_t *size, struct err *e);

/* Reads member name (at most max bytes) of the box at archive into a NUL-terminated heap
 * buffer; ERR_NOTFOUND when the box has none. */
int boxfile_read_member(const char *archive, const char *name, size_t max, char **out, size_t *len,
			struct err *e);

#endif
