/* Safe extraction of box archives (tar, tar.gz, tar.bz2, tar.xz, tar.zst, zip) with libarchive.
 * An archive is untrusted: absolute paths, "..", links that leave the box, device nodes and
 * other special files, oversized entries and too many entries are refused with a message
 * naming the entry. Files are created beneath the target directory only (openat2
 * RESOLVE_BENEATH), never through a link, with plain permissions; holes are kept. */
#ifndef ENVUP_BOXES_EXTRACT_H
#define ENVUP_BOXES_EXTRACT_H

#include <stdint.h>

#include "core/err.h"
#include "core/progress.h"

struct extract_limits {
	uint64_t max_entry;   /* bytes in one file; 0: EXTRACT_DEFAULT_MAX_ENTRY */
	uint64_t max_total;   /* bytes in all files; 0: EXTRACT_DEFAULT_MAX_TOTAL */
	unsigned max_entries; /* 0: EXTRACT_DEFAULT_MAX_ENTRIES */
};

#define EXTRACT_DEFAULT_MAX_ENTRY (1ULL << 40) /* 1 TiB */
#define EXTRACT_DEFAULT_MAX_TOTAL (2ULL << 40)
#define EXTRACT_DEFAULT_MAX_ENTRIES 10000

/* Extracts archive into the existing directory dir. progress counts archive bytes read. */
int extract_archive(const char *archive, const char *dir, const struct extract_limits *lim,
		    const struct progress *p, struct err *e);

#endif
