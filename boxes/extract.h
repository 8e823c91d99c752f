/* Safe extraction of box archives (tar, tar.gz, tar.bz2, tar.xz, tar.zst, zip) with libarchive.
 * An archive is untrusted: absolute paths, "..", links that leave the box, device nodes and
 * other special files, oversized entries and too many entries are refused with a message
 * naming the entry. Files are created beneath the target directory only (openat2
 * RESOLVE_BENEATH), never through a link, with plain permissions; holes are kept. */
#ifndef ENVUP_BOXES_EXTRACT_H
#define ENVUP_BOXES_EXTRACT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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

/* The rest of the entry a hook took, read front to back (holes as zeros, within the limits). */
struct extract_stream;
/* Reads up to len bytes: the count, 0 at the entry's end, -1 on error (e set). */
ssize_t extract_stream_read(void *stream, void *buf, size_t len, struct err *e);

/* A caller that writes some entries itself: for a regular file whose name ends in suffix
 * (case ignored), claim sees its first bytes (up to 64 KiB); when it returns true, write gets
 * the created, empty file (fd, still the caller's to leave open: extraction closes it) and
 * reads the whole entry, those first bytes included, through extract_stream_read. */
struct extract_hook {
	const char *suffix;
	bool (*claim)(void *ctx, const char *name, const void *head, size_t len);
	int (*write)(void *ctx, const char *name, int fd, struct extract_stream *s, struct err *e);
	void *ctx;
};

/* Extracts archive into the existing directory dir. progress counts archive bytes read;
 * hook may be NULL. */
int extract_archive(const char *archive, const char *dir, const struct extract_limits *lim,
		    const struct extract_hook *hook, const struct progress *p, struct err *e);

/* An archive read as it arrives (a download): read(ctx, buf, len) waits for bytes and returns
 * how many, 0 at the archive's end, -1 when it broke off. name is for messages. */
struct extract_source {
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	void *ctx;
	const char *name;
};

/* extract_archive for an archive read front to back from src, without progress. */
int extract_archive_from(const struct extract_source *src, const char *dir,
			 const struct extract_limits *lim, const struct extract_hook *hook,
			 struct err *e);

#endif
