/* Small filesystem helpers shared by every layer: atomic writes, bounded reads, safe paths. */
#ifndef ENVUP_CORE_FSUTIL_H
#define ENVUP_CORE_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/err.h"

/* Creates dir and its missing parents with mode (like mkdir -p). */
int fs_mkdir_p(const char *dir, mode_t mode, struct err *e);

/* Replaces path with data so that a crash leaves either the old or the new content:
 * temporary file in the same directory, fsync, rename, fsync of the directory. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct err *e);

/* Writes all len bytes at off, going on after short writes and EINTR: 0, or -1 with errno
 * (ENOSPC when the kernel accepts no byte without saying why). */
int fs_pwrite_all(int fd, const void *buf, size_t len, off_t off);

/* A file being written that appears under its final name only when complete. Where the
 * filesystem has O_TMPFILE it has no name at all until then, so that a run killed by any signal
 * (even SIGKILL) leaves nothing behind; elsewhere it is "PATH.part-XXXXXX" beside path. */
struct fs_temp {
	int fd;
	char *path;	 /* where it goes */
	char *reopen;	 /* a name that opens this very file ("/proc/self/fd/N" or the .part) */
	bool named;	 /* the fallback: a .part file that must be unlinked on failure */
};

/* Starts t for path (fs_check_output first); mode as for open. */
int fs_temp_create(const char *path, mode_t mode, struct fs_temp *t, struct err *e);

/* Puts the finished file in place: over path when replace (fs_check_output again), else only
 * where path does not exist (ERR_EXISTS). Closes the fd. */
int fs_temp_commit(struct fs_temp *t, bool replace, struct err *e);

/* Drops an unfinished t (nothing stays); fine after a commit or on a zeroed t. */
void fs_temp_discard(struct fs_temp *t);

/* Reads a whole file into a NUL-terminated heap buffer; fails if it is larger than max. */
int fs_read_file(const char *path, size_t max, char **out, size_t *len, struct err *e);

/* fsyncs the directory that holds path (after a rename or unlink in it). */
int fs_fsync_parent(const char *path, struct err *e);

/* Removes path and, if it is a directory, everything under it (no symlinks followed). */
int fs_remove_tree(const char *path, struct err *e);

/* Returns a heap string "a/b" (b absolute: b itself). NULL on allocation failure. */
char *fs_join(const char *a, const char *b);

/* Returns the directory part of path as a heap string ("." when there is none). */
char *fs_dirname(const char *path);

/* True when rel is a relative path that stays inside its base: not empty, not absolute,
 * no ".." component. Symlinks are checked separately at open time (fs_open_beneath). */
bool fs_path_is_contained(const char *rel);

/* Opens rel under the directory dirfd, refusing absolute paths, ".." and symlinks that leave
 * it (openat2 RESOLVE_BENEATH where the kernel has it, a component walk otherwise). */
int fs_open_beneath(int dirfd, const char *rel, int flags, mode_t mode, struct err *e);

/* Opens path for reading without ever blocking on it (a FIFO or a tty named as input would
 * hang the command): O_NONBLOCK for the open only, then anything that is not a regular file
 * (or a block device when allow_blockdev) is refused with a message naming what it is. */
int fs_open_input(const char *path, bool allow_blockdev, struct err *e);

/* Same check for an fd opened some other way (beneath a directory); name is for messages. */
int fs_check_input_fd(int fd, const char *name, bool allow_blockdev, struct err *e);

/* The check every command that writes a file a person names makes before writing: path may
 * be missing or a regular file (which is then replaced); a device node, FIFO, socket or
 * directory is refused (a rename over it would turn /dev/null into a plain file), and a
 * missing parent directory is reported by its own name. */
int fs_check_output(const char *path, struct err *e);

/* Renames the finished temporary file tmp over path after checking path again with
 * fs_check_output (it may have been replaced while tmp was written). */
int fs_rename_into(const char *tmp, const char *path, struct err *e);

/* "character device", "FIFO", ... for st_mode (messages). */
const char *fs_type_name(mode_t mode);

/* True when path exists (any type, symlinks not followed). */
bool fs_exists(const char *path);

#endif
