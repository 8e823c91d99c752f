#include "core/fsutil.h"

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
#include <ftw.h>

int fs_mkdir_p(const char *dir, mode_t mode, struct err *e)
{
	char *p, *buf = strdup(dir);

	if (!buf)
		return err_set(e, ERR_FAIL, "out of memory");
	for (p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST) {
				err_sys(e, "cannot create directory %s", buf);
				free(buf);
				return -1;
			}
			*p = c;
			if (!c)
				break;
		}
	}
	free(buf);
	return 0;
}

char *fs_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

char *fs_join(const char *a, const char *b)
{
	char *out;

	if (b[0] == '/')
		return strdup(b);
	if (asprintf(&out, "%s%s%s", a, (a[0] && a[strlen(a) - 1] == '/') ? "" : "/", b) < 0)
		return NULL;
	return out;
}

int fs_fsync_parent(const char *path, struct err *e)
{
	char *dir = fs_dirname(path);
	int fd, rc = 0;

	if (!dir)
		return err_set(e, ERR_FAIL, "out of memory");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		rc = err_sys(e, "cannot sync directory %s", dir);
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

int fs_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct err *e)
{
	char *tmp;
	int fd;

	if (fs_check_output(path, e) < 0)
		return -1;
	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return err_set(e, ERR_FAIL, "out of memory");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		err_sys(e, "cannot create %s", tmp);
		free(tmp);
		return -1;
	}
	if (fs_pwrite_all(fd, data, len, 0) < 0 || fsync(fd) < 0) {
		err_sys(e, "cannot write %s", tmp);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		err_sys(e, "cannot write %s", tmp);
		goto fail;
	}
	fd = -1;
	if (fs_rename_into(tmp, path, e) < 0)
		goto fail;
	free(tmp);
	return fs_fsync_parent(path, e);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

int fs_temp_create(const char *path, mode_t mode, struct fs_temp *t, struct err *e)
{
	char *dir;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (fs_check_output(path, e) < 0)
		return -1;
	if (!(t->path = strdup(path)) || !(dir = fs_dirname(path))) {
		fs_temp_discard(t);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	t->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	free(dir);
	if (t->fd >= 0) {
		if (asprintf(&t->reopen, "/proc/self/fd/%d", t->fd) < 0) {
			t->reopen = NULL;
			fs_temp_discard(t);
			return err_set(e, ERR_FAIL, "out of memory");
		}
		return 0;
	}
	/* no O_TMPFILE here (some network and FUSE filesystems): a named, unique .part */
	if (asprintf(&t->reopen, "%s.part-XXXXXX", path) < 0) {
		t->reopen = NULL;
		fs_temp_discard(t);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	t->fd = mkostemp(t->reopen, O_CLOEXEC);
	if (t->fd < 0) {
		err_sys(e, "cannot create %s", t->reopen);
		fs_temp_discard(t);
		return -1;
	}
	t->named = true;
	if (fchmod(t->fd, mode) < 0) {
		err_sys(e, "cannot create %s", t->reopen);
		fs_temp_discard(t);
		return -1;
	}
	return 0;
}

/* Gives the unnamed file a unique name beside path (linkat cannot replace). */
static int temp_link_named(struct fs_temp *t, struct err *e)
{
	char *name;

	for (int i = 0; i < 100; i++) {
		if (asprintf(&name, "%s.part-%08x", t->path, (unsigned)rand() ^ (unsigned)getpid() ^
							    (unsigned)i << 24) < 0)
			return err_set(e, ERR_FAIL, "out of memory");
		if (linkat(AT_FDCWD, t->reopen, AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0) {
			free(t->reopen);
			t->reopen = name;
			t->named = true;
			return 0;
		}
		free(name);
		if (errno != EEXIST)
			return err_sys(e, "cannot create %s", t->path);
	}
	return err_set(e, ERR_EXISTS, "cannot find a free temporary name beside %s", t->path);
}

int fs_temp_commit(struct fs_temp *t, bool replace, struct err *e)
{
	if (!replace && !t->named) {
		if (linkat(AT_FDCWD, t->reopen, AT_FDCWD, t->path, AT_SYMLINK_FOLLOW) < 0)
			return errno == EEXIST ? err_set(e, ERR_EXISTS, "%s already exists", t->path)
					       : err_sys(e, "cannot create %s", t->path);
	} else if (!replace) {
		if (link(t->reopen, t->path) < 0)
			return errno == EEXIST ? err_set(e, ERR_EXISTS, "%s already exists", t->path)
					       : err_sys(e, "cannot create %s", t->path);
		unlink(t->reopen);
		t->named = false;
	} else {
		if (!t->named && temp_link_named(t, e) < 0)
			return -1;
		if (fs_rename_into(t->reopen, t->path, e) < 0)
			return -1;
		t->named = false;
	}
	if (close(t->fd) < 0) {
		t->fd = -1;
		return err_sys(e, "cannot write %s", t->path);
	}
	t->fd = -1;
	return fs_fsync_parent(t->path, e);
}

void fs_temp_discard(struct fs_temp *t)
{
	if (t->fd >= 0)
		close(t->fd);
	if (t->named && t->reopen)
		unlink(t->reopen);
	free(t->reopen);
	free(t->path);
	memset(t, 0, sizeof(*t));
	t->fd = -1;
}

const char *fs_type_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "regular file";
	case S_IFDIR: return "directory";
	case S_IFCHR: return "character device";
	case S_IFBLK: return "block device";
	case S_IFIFO: return "FIFO";
	case S_IFSOCK: return "socket";
	case S_IFLNK: return "symbolic link";
	default: return "special file";
	}
}

int fs_check_input_fd(int fd, const char *name, bool allow_blockdev, struct err *e)
{
	struct stat st;
	int fl;

	if (fstat(fd, &st) < 0)
		return err_sys(e, "cannot stat %s", name);
	if (!S_ISREG(st.st_mode) && !(allow_blockdev && S_ISBLK(st.st_mode)))
		return err_set(e, ERR_UNSUPPORTED, "%s is a %s, not a regular file%s", name,
			       fs_type_name(st.st_mode), allow_blockdev ? " or block device" : "");
	/* reads must block normally again (O_NONBLOCK was only for the open) */
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return 0;
}

int fs_open_input(const char *path, bool allow_blockdev, struct err *e)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd < 0) {
		struct stat st;

		/* a dangling link says what it points at, not just "no such file" */
		if (errno == ENOENT && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			return err_set(e, ERR_NOTFOUND, "%s is a symbolic link to a missing file",
				       path);
		return err_sys(e, "cannot open %s", path);
	}
	if (fs_check_input_fd(fd, path, allow_blockdev, e) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int fs_check_output(const char *path, struct err *e)
{
	struct stat st;
	char *dir;

	if (lstat(path, &st) == 0) {
		/* a symlink is replaced by the rename, never written through */
		if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))
			return 0;
		return err_set(e, ERR_EXISTS, "%s exists and is a %s; refusing to replace it",
			       path, fs_type_name(st.st_mode));
	}
	if (errno != ENOENT)
		return err_sys(e, "cannot check %s", path);
	dir = fs_dirname(path);
	if (!dir)
		return err_set(e, ERR_FAIL, "out of memory");
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		int rc = stat(dir, &st) < 0
				 ? err_sys(e, "cannot write %s: directory %s", path, dir)
				 : err_set(e, ERR_NOTFOUND, "cannot write %s: %s is not a directory",
					   path, dir);

		free(dir);
		return rc;
	}
	free(dir);
	return 0;
}

int fs_rename_into(const char *tmp, const char *path, struct err *e)
{
	if (fs_check_output(path, e) < 0)
		return -1;
	if (rename(tmp, path) < 0)
		return err_sys(e, "cannot rename %s to %s", tmp, path);
	return 0;
}

int fs_read_file(const char *path, size_t max, char **out, size_t *len, struct err *e)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd = fs_open_input(path, false, e);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		err_sys(e, "cannot stat %s", path);
		close(fd);
		return -1;
	}
	if (S_ISREG(st.st_mode) && (size_t)st.st_size > max) {
		close(fd);
		return err_set(e, ERR_CORRUPT, "%s: file is larger than %zu bytes", path, max);
	}
	buf = malloc(max + 1 < 65536 ? max + 1 : 65536);
	if (!buf) {
		close(fd);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	for (size_t cap = max + 1 < 65536 ? max + 1 : 65536;;) {
		ssize_t n;

		if (got == cap) {
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *nb;

			if (ncap == cap) {
				free(buf);
				close(fd);
				return err_set(e, ERR_CORRUPT, "%s: file is larger than %zu bytes", path, max);
			}
			nb = realloc(buf, ncap);
			if (!nb) {
				free(buf);
				close(fd);
				return err_set(e, ERR_FAIL, "out of memory");
			}
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + got, cap - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err_sys(e, "cannot read %s", path);
			free(buf);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got > max) {
		free(buf);
		return err_set(e, ERR_CORRUPT, "%s: file is larger than %zu bytes", path, max);
	}
	{
		char *nb = realloc(buf, got + 1);

		if (nb)
			buf = nb;
	}
	buf[got] = '\0';
	*out = buf;
	if (len)
		*len = got;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int fs_remove_tree(const char *path, struct err *e)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : err_sys(e, "cannot remove %s", path);
	if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS) < 0)
		return err_sys(e, "cannot remove %s", path);
	return 0;
}

bool fs_path_is_contained(const char *rel)
{
	const char *p = rel;

	if (!rel || !*rel || rel[0] == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += n;
		while (*p == '/')
			p++;
	}
	return true;
}

bool fs_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Fallback for kernels without openat2: walk component by component with O_NOFOLLOW. */
static int open_beneath_walk(int dirfd, const char *rel, int flags, mode_t mode, struct err *e)
{
	char *copy = strdup(rel), *save = NULL, *comp, *next;
	int fd = dup(dirfd);

	if (!copy || fd < 0) {
		free(copy);
		if (fd >= 0)
			close(fd);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	comp = strtok_r(copy, "/", &save);
	while (comp) {
		int nfd;

		next = strtok_r(NULL, "/", &save);
		if (!strcmp(comp, ".")) {
			comp = next;
			continue;
		}
		if (next)
			nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		else
			nfd = openat(fd, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
		if (nfd < 0) {
			err_sys(e, "cannot open %s", rel);
			close(fd);
			free(copy);
			return -1;
		}
		close(fd);
		fd = nfd;
		comp = next;
	}
	free(copy);
	return fd;
}

int fs_open_beneath(int dirfd, const char *rel, int flags, mode_t mode, struct err *e)
{
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	if (!fs_path_is_contained(rel))
		return err_set(e, ERR_USAGE, "path '%s' leaves its directory", rel);
	fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	if (fd >= 0)
		return (int)fd;
	if (errno == ENOSYS || errno == EPERM)
		return open_beneath_walk(dirfd, rel, flags, mode, e);
	if (errno == EXDEV)
		return err_set(e, ERR_USAGE, "path '%s' leaves its directory through a link", rel);
	return err_sys(e, "cannot open %s", rel);
}
