/* Uploads over SFTP: single files, in-memory data (uploaded scripts) and directory trees, with
 * their permission bits. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libssh/sftp.h>

#include "core/fsutil.h"
#include "provisioners/comm_priv.h"
#include "provisioners/communicator.h"

#define CHUNK (64 * 1024)
#define MAX_DEPTH 64 /* symlinks are followed: a loop must end */

struct upload {
	struct comm *c;
	sftp_session sftp;
	const struct progress *p;
	uint64_t done, total;
	char *buf;
};

static int sftp_fail(struct upload *u, struct err *e, const char *what, const char *path)
{
	return err_set(e, ERR_NET, "%s: %s %s failed (SFTP error %d: %s)", u->c->where, what, path,
		       sftp_get_error(u->sftp), ssh_get_error(u->c->s));
}

/* "~/x" and "~" name the home directory, where SFTP starts. */
static const char *remote_path(const char *path)
{
	if (!strcmp(path, "~"))
		return ".";
	if (!strncmp(path, "~/", 2))
		return path[2] ? path + 2 : ".";
	return path;
}

static bool remote_is_dir(struct upload *u, const char *path)
{
	sftp_attributes a = sftp_stat(u->sftp, path);
	bool dir = a && a->type == SSH_FILEXFER_TYPE_DIRECTORY;

	sftp_attributes_free(a);
	return dir;
}

static int remote_mkdir(struct upload *u, const char *path, mode_t mode, struct err *e)
{
	if (sftp_mkdir(u->sftp, path, mode) == 0 || remote_is_dir(u, path))
		return 0;
	return sftp_fail(u, e, "creating directory", path);
}

/* Creates the missing directories above path. */
static int remote_mkdir_parents(struct upload *u, const char *path, struct err *e)
{
	char *copy = strdup(path);
	int rc = 0;

	if (!copy)
		return err_set(e, ERR_FAIL, "out of memory");
	for (char *p = copy + 1; *p && rc == 0; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (!remote_is_dir(u, copy))
			rc = remote_mkdir(u, copy, 0755, e);
		*p = '/';
	}
	free(copy);
	return rc;
}

static int write_remote(struct upload *u, sftp_file f, const char *data, size_t len,
			const char *remote, struct err *e)
{
	while (len) {
		size_t n = len > CHUNK ? CHUNK : len;
		ssize_t w = sftp_write(f, data, n);

		if (w <= 0)
			return sftp_fail(u, e, "writing", remote);
		data += w;
		len -= (size_t)w;
		u->done += (uint64_t)w;
		progress_update(u->p, u->done, u->total);
	}
	return 0;
}

static int upload_file(struct upload *u, const char *local, const char *remote, mode_t mode,
		       struct err *e)
{
	int fd = open(local, O_RDONLY | O_CLOEXEC);
	sftp_file f;
	int rc = 0;

	if (fd < 0)
		return err_sys(e, "cannot open %s", local);
	f = sftp_open(u->sftp, remote, O_WRONLY | O_CREAT | O_TRUNC, mode & 07777);
	if (!f) {
		close(fd);
		return sftp_fail(u, e, "creating", remote);
	}
	for (;;) {
		ssize_t n = read(fd, u->buf, CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_sys(e, "reading %s", local);
			break;
		}
		if (n == 0)
			break;
		if (write_remote(u, f, u->buf, (size_t)n, remote, e) < 0) {
			rc = -1;
			break;
		}
	}
	close(fd);
	if (sftp_close(f) < 0 && rc == 0)
		rc = sftp_fail(u, e, "closing", remote);
	/* The server applies its umask at creation: set the bits the source has. */
	if (rc == 0 && sftp_chmod(u->sftp, remote, mode & 07777) < 0)
		rc = sftp_fail(u, e, "setting the mode of", remote);
	return rc;
}

static int upload_tree(struct upload *u, const char *local, const char *remote, int depth,
		       struct err *e);

static int upload_dir(struct upload *u, const char *local, const char *remote, mode_t mode,
		      int depth, struct err *e)
{
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (depth > MAX_DEPTH)
		return err_set(e, ERR_USAGE,
			       "%s: directories nested more than %d deep (a symlink "
			       "loop?)",
			       local, MAX_DEPTH);
	/* Writable for us while we fill it; the real mode comes last. */
	if (remote_mkdir(u, remote, 0700, e) < 0)
		return -1;
	d = opendir(local);
	if (!d)
		return err_sys(e, "cannot open directory %s", local);
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		char *l, *r;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		l = fs_join(local, de->d_name);
		r = fs_join(remote, de->d_name);
		rc = l && r ? upload_tree(u, l, r, depth + 1, e)
			    : err_set(e, ERR_FAIL, "out of memory");
		free(l);
		free(r);
	}
	if (rc == 0 && errno)
		rc = err_sys(e, "reading directory %s", local);
	closedir(d);
	if (rc == 0 && sftp_chmod(u->sftp, remote, mode & 07777) < 0)
		rc = sftp_fail(u, e, "setting the mode of", remote);
	return rc;
}

static int upload_tree(struct upload *u, const char *local, const char *remote, int depth,
		       struct err *e)
{
	struct stat st;

	if (stat(local, &st) < 0)
		return err_sys(e, "cannot read %s", local);
	if (S_ISDIR(st.st_mode))
		return upload_dir(u, local, remote, st.st_mode, depth, e);
	if (S_ISREG(st.st_mode))
		return upload_file(u, local, remote, st.st_mode, e);
	return err_set(e, ERR_USAGE, "%s: only files and directories can be uploaded", local);
}

static int upload_open(struct upload *u, struct comm *c, const struct progress *p, struct err *e)
{
	memset(u, 0, sizeof(*u));
	u->c = c;
	u->p = p;
	u->buf = malloc(CHUNK);
	u->sftp = sftp_new(c->s);
	if (!u->buf || !u->sftp) {
		free(u->buf);
		sftp_free(u->sftp);
		return err_set(e, ERR_FAIL, "%s: cannot start SFTP: %s", c->where,
			       ssh_get_error(c->s));
	}
	if (sftp_init(u->sftp) < 0) {
		err_set(e, ERR_NET, "%s: the server does not offer SFTP: %s", c->where,
			ssh_get_error(c->s));
		free(u->buf);
		sftp_free(u->sftp);
		return -1;
	}
	return 0;
}

static void upload_close(struct upload *u)
{
	sftp_free(u->sftp);
	free(u->buf);
}

int comm_upload(struct comm *c, const char *local, const char *remote, const struct progress *p,
		struct err *e)
{
	const char *dest = remote_path(remote);
	struct upload u;
	struct stat st;
	int rc;

	if (stat(local, &st) < 0)
		return err_sys(e, "cannot read %s", local);
	if (upload_open(&u, c, p, e) < 0)
		return -1;
	u.total = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	rc = remote_mkdir_parents(&u, dest, e);
	if (rc == 0)
		rc = upload_tree(&u, local, dest, 0, e);
	upload_close(&u);
	if (rc < 0)
		return err_wrap(e, "uploading %s to %s", local, remote);
	return 0;
}

int comm_upload_data(struct comm *c, const void *data, size_t len, const char *remote, int mode,
		     struct err *e)
{
	const char *dest = remote_path(remote);
	struct upload u;
	sftp_file f;
	int rc;

	if (upload_open(&u, c, NULL, e) < 0)
		return -1;
	f = sftp_open(u.sftp, dest, O_WRONLY | O_CREAT | O_TRUNC, (mode_t)mode);
	if (!f) {
		rc = sftp_fail(&u, e, "creating", remote);
	} else {
		rc = write_remote(&u, f, data, len, dest, e);
		if (sftp_close(f) < 0 && rc == 0)
			rc = sftp_fail(&u, e, "closing", remote);
		if (rc == 0 && sftp_chmod(u.sftp, dest, (mode_t)mode) < 0)
			rc = sftp_fail(&u, e, "setting the mode of", remote);
	}
	upload_close(&u);
	return rc;
}
