/* Paths beneath the share and the fid table of envvmm's 9p server (vmm/p9.c): every path
 * the guest names is resolved with openat2 beneath the share, never following a link, and
 * each fid remembers its path relative to the share. */
#include "vmm/p9_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

bool p9_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= NAME_MAX && !strchr(name, '/') && strcmp(name, ".") &&
	       strcmp(name, "..");
}

/* --- path resolution beneath the share --- */

/* Opens rel (a fid's path) beneath the share: symbolic links are never followed, not even
 * as the final component (an O_PATH|O_NOFOLLOW open yields the link itself), ".." cannot
 * climb out, and a concurrent rename makes the kernel retry or fail, never escape. Returns
 * the fd or -errno. */
int p9_openat(struct p9_server *s, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	for (int tries = 0; tries < 8; tries++) {
		fd = syscall(SYS_openat2, s->root_fd, *rel ? rel : ".", &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != EAGAIN && errno != EINTR)
			break;
	}
	return -errno;
}

/* Reopens the inode pinned by the O_PATH fd pfd with flags, refusing anything but regular
 * files and directories (a FIFO would block the server, a device node must never be opened
 * on the guest's behalf). The /proc/self/fd link names exactly that inode, whatever was
 * renamed meanwhile. Closes pfd. Returns the fd or -errno. */
int p9_reopen(struct p9_server *s, int pfd, int flags, struct stat *st)
{
	char num[16];
	int fd;

	if (fstat(pfd, st) < 0) {
		fd = -errno;
		close(pfd);
		return fd;
	}
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode)) {
		close(pfd);
		return S_ISLNK(st->st_mode) ? -ELOOP : -EPERM;
	}
	snprintf(num, sizeof(num), "%d", pfd);
	fd = openat(s->proc_fd, num, (flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL)) | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	close(pfd);
	return fd;
}

/* The directory holding a fid's entry, opened O_PATH, and the entry's name (the root is
 * "." in itself). Returns the fd or -errno. */
int p9_parent(struct p9_server *s, const char *path, char *name, size_t cap)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	if (!*path) {
		snprintf(name, cap, ".");
		return p9_openat(s, "", O_PATH | O_DIRECTORY);
	}
	snprintf(name, cap, "%s", slash ? slash + 1 : path);
	if (!slash)
		return p9_openat(s, "", O_PATH | O_DIRECTORY);
	dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return -ENOMEM;
	fd = p9_openat(s, dir, O_PATH | O_DIRECTORY);
	free(dir);
	return fd;
}

/* path + "/" + name into a new string, or NULL (errno ENAMETOOLONG or ENOMEM). */
char *p9_path_join(const char *path, const char *name)
{
	size_t a = strlen(path), b = strlen(name);
	char *p;

	if (a + 1 + b >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	p = malloc(a + b + 2);
	if (!p)
		return NULL;
	memcpy(p, path, a);
	if (a)
		p[a++] = '/';
	memcpy(p + a, name, b + 1);
	return p;
}

/* --- fids --- */

static struct p9_fid **fid_slot(struct p9_server *s, uint32_t num)
{
	struct p9_fid **pp = &s->bucket[(num * 2654435761u) % P9_FID_BUCKETS];

	while (*pp && (*pp)->num != num)
		pp = &(*pp)->next;
	return pp;
}

struct p9_fid *p9_fid_get(struct p9_server *s, uint32_t num)
{
	return *fid_slot(s, num);
}

/* A new fid num with path (taken over); -errno when num is in use or too many exist. */
int p9_fid_new(struct p9_server *s, uint32_t num, char *path, bool is_dir)
{
	struct p9_fid **pp = fid_slot(s, num), *f;

	if (*pp || num == P9_NOFID) {
		free(path);
		return -EBADF;
	}
	if (s->nfids >= P9_MAX_FIDS) {
		free(path);
		return -EMFILE;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		free(path);
		return -ENOMEM;
	}
	f->num = num;
	f->path = path;
	f->fd = -1;
	f->is_dir = is_dir;
	*pp = f;
	s->nfids++;
	return 0;
}

static void fid_free(struct p9_fid *f)
{
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f);
}

int p9_fid_clunk(struct p9_server *s, uint32_t num)
{
	struct p9_fid **pp = fid_slot(s, num), *f = *pp;

	if (!f)
		return -EBADF;
	*pp = f->next;
	s->nfids--;
	fid_free(f);
	return 0;
}

void p9_server_reset(struct p9_server *s)
{
	for (unsigned b = 0; b < P9_FID_BUCKETS; b++) {
		while (s->bucket[b]) {
			struct p9_fid *f = s->bucket[b];
			s->bucket[b] = f->next;
			fid_free(f);
		}
	}
	s->nfids = 0;
	s->versioned = false;
	s->msize = P9_MSIZE_MAX;
}

/* After a rename of old to new, every fid at or below old follows it. */
void p9_fids_renamed(struct p9_server *s, const char *old, const char *new)
{
	size_t ol = strlen(old);

	for (unsigned b = 0; b < P9_FID_BUCKETS; b++) {
		for (struct p9_fid *f = s->bucket[b]; f; f = f->next) {
			char *p;
			if (strncmp(f->path, old, ol) || (f->path[ol] && f->path[ol] != '/'))
				continue;
			p = malloc(strlen(new) + strlen(f->path + ol) + 1);
			if (!p)
				continue; /* that fid keeps the old name: later uses get ENOENT */
			strcpy(p, new);
			strcat(p, f->path + ol);
			free(f->path);
			f->path = p;
		}
	}
}
