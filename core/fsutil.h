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

/* Creates a new file "PATH.part-XXXXXX" next to path (same directory, so a rename can put it in
 * place; a unique name, so concurrent or crashed runs never collide) with mode; returns its fd
 * and its name in *tmp (heap). */
int fs_create_temp_beside(const char *path, mode_t mode, char **tmp, struct err *e);

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

/* True when path exists (any type, symlinks not followed). */
bool fs_exists(const char *path);

#endif
