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
	if (rename(tmp, path) < 0) {
		err_sys(e, "cannot rename %s to %s", tmp, path);
		goto fail;
	}
	free(tmp);
	return fs_fsync_parent(path, e);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

int fs_create_temp_beside(const char *path, mode_t mode, char **tmp, struct err *e)
{
	int fd;

	if (asprintf(tmp, "%s.part-XXXXXX", path) < 0) {
		*tmp = NULL;
		return err_set(e, ERR_FAIL, "out of memory");
	}
	fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd >= 0 && fchmod(fd, mode) < 0) {
		close(fd);
		unlink(*tmp);
		fd = -1;
	}
	if (fd < 0) {
		err_sys(e, "cannot create %s", *tmp);
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

int fs_read_file(const char *path, size_t max, char **out, size_t *len, struct err *e)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return err_sys(e, "cannot open %s", path);
	if (fstat(fd, &st) < 0) {
		err_sys(e, "cannot stat %s", path);
		close(fd);
		return -1;
	}
	if (S_ISREG(st.st_mode) && (size_t)st.st_size > max) {
		close(fd);
		return err_set(e, ERR_USAGE, "%s: file is larger than %zu bytes", path, max);
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
				return err_set(e, ERR_USAGE, "%s: file is larger than %zu bytes", path, max);
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
		return err_set(e, ERR_USAGE, "%s: file is larger than %zu bytes", path, max);
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
