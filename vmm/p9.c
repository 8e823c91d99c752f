/* The request handlers of envvmm's 9P2000.L server (vmm/p9.h says what it promises): one
 * op_ function per T-message, dispatched by p9_handle. The wire format is in vmm/p9_wire.c,
 * paths beneath the share and the fid table in vmm/p9_path.c. */
#include "vmm/p9_impl.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

int p9_server_open(struct p9_server *s, const char *dir, bool readonly, struct err *e)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	s->proc_fd = -1;
	s->readonly = readonly;
	s->msize = P9_MSIZE_MAX;
	s->root_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0)
		return err_sys(e, "%s", dir);
	s->proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->proc_fd < 0) {
		err_sys(e, "%s: /proc/self/fd (the 9p server needs /proc)", dir);
		p9_server_close(s);
		return -1;
	}
	/* openat2 arrived in Linux 5.6; without it there is no safe resolution. */
	{
		int fd = p9_openat(s, "", O_PATH | O_DIRECTORY);
		if (fd < 0) {
			errno = -fd;
			err_sys(e, "%s: openat2 (Linux 5.6 or later is needed)", dir);
			p9_server_close(s);
			return -1;
		}
		fstat(fd, &st);
		close(fd);
	}
	return 0;
}

void p9_server_close(struct p9_server *s)
{
	p9_server_reset(s);
	if (s->root_fd >= 0)
		close(s->root_fd);
	if (s->proc_fd >= 0)
		close(s->proc_fd);
	s->root_fd = s->proc_fd = -1;
}

/* --- requests --- */

/* Fetches a fid named in the request; NULL (with *err EBADF) when unknown. */
static struct p9_fid *req_fid(struct req *q, int *err)
{
	uint32_t num = rd32(&q->in);
	struct p9_fid *f = q->in.bad ? NULL : p9_fid_get(q->s, num);

	if (!f)
		*err = q->in.bad ? EINVAL : EBADF;
	return f;
}

/* A name field that must name one entry. */
static int req_name(struct req *q, char *name)
{
	int r = p9_rd_str(&q->in, name, NAME_MAX + 1);

	if (r)
		return r;
	return p9_name_ok(name) ? 0 : EINVAL;
}

/* stat of a fid's file, without following it. Returns 0 or errno. */
static int fid_stat(struct p9_server *s, struct p9_fid *f, struct stat *st)
{
	int fd;

	if (f->fd >= 0)
		return fstat(f->fd, st) < 0 ? errno : 0;
	fd = p9_openat(s, f->path, O_PATH);
	if (fd < 0)
		return -fd;
	if (fstat(fd, st) < 0) {
		int r = errno;
		close(fd);
		return r;
	}
	close(fd);
	return 0;
}

static int op_version(struct req *q)
{
	uint32_t msize = rd32(&q->in);
	char version[32];
	int r = p9_rd_str(&q->in, version, sizeof(version));

	if (q->in.bad)
		return EINVAL;
	p9_server_reset(q->s);
	if (msize < 4096)
		return EINVAL;
	q->s->msize = msize < P9_MSIZE_MAX ? msize : P9_MSIZE_MAX;
	wr32(&q->out, q->s->msize);
	if (r || strcmp(version, "9P2000.L")) {
		p9_wr_str(&q->out, "unknown");
		return 0;
	}
	q->s->versioned = true;
	p9_wr_str(&q->out, "9P2000.L");
	return 0;
}

static int op_attach(struct req *q)
{
	uint32_t num = rd32(&q->in), afid = rd32(&q->in);
	char uname[256], aname[256];
	struct stat st;
	char *root;
	int r;

	if ((r = p9_rd_str(&q->in, uname, sizeof(uname))) ||
	    (r = p9_rd_str(&q->in, aname, sizeof(aname))))
		return r;
	p9_rd_take(&q->in, 4); /* n_uname: the server acts as the user running envvmm */
	if (q->in.bad)
		return EINVAL;
	if (afid != P9_NOFID)
		return EOPNOTSUPP;
	if (*aname && strcmp(aname, "/"))
		return ENOENT; /* one tree per share */
	root = strdup("");
	if (!root)
		return ENOMEM;
	if (fstat(q->s->root_fd, &st) < 0) {
		free(root);
		return errno;
	}
	if ((r = p9_fid_new(q->s, num, root, true)) < 0)
		return -r;
	p9_wr_qid(&q->out, &st);
	return 0;
}

static int op_walk(struct req *q)
{
	int err = 0;
	struct p9_fid *f = req_fid(q, &err);
	uint32_t newnum = rd32(&q->in);
	uint16_t n = rd16(&q->in);
	char name[NAME_MAX + 1];
	struct stat st = {0};
	size_t nq_at;
	char *path;
	bool is_dir;
	uint16_t done = 0;

	if (!f)
		return err;
	if (q->in.bad)
		return EINVAL;
	if (n > P9_MAX_WALK)
		return EINVAL;
	if (newnum != f->num && p9_fid_get(q->s, newnum))
		return EBADF;
	path = strdup(f->path);
	if (!path)
		return ENOMEM;
	is_dir = f->is_dir;
	nq_at = q->out.off;
	wr16(&q->out, 0);
	for (; done < n; done++) {
		char *next;
		int fd;
		if ((err = req_name(q, name)))
			break;
		next = p9_path_join(path, name);
		if (!next) {
			err = errno;
			break;
		}
		fd = p9_openat(q->s, next, O_PATH);
		if (fd < 0 || fstat(fd, &st) < 0) {
			err = fd < 0 ? -fd : errno;
			if (fd >= 0)
				close(fd);
			free(next);
			break;
		}
		close(fd);
		free(path);
		path = next;
		is_dir = S_ISDIR(st.st_mode);
		p9_wr_qid(&q->out, &st);
	}
	if (done == 0 && n > 0) {
		free(path);
		return err;
	}
	if (!q->out.full) {
		q->out.p[nq_at] = (uint8_t)done;
		q->out.p[nq_at + 1] = (uint8_t)(done >> 8);
	}
	if (done < n) {
		/* A partial walk answers the qids it found; newfid is not made. */
		free(path);
		return 0;
	}
	if (newnum == f->num) {
		free(f->path);
		f->path = path;
		f->is_dir = is_dir;
		return 0;
	}
	err = p9_fid_new(q->s, newnum, path, is_dir);
	return -err;
}

/* Tlopen's flags as open(2)'s; O_DIRECT is left out (its alignment rules are the guest's,
 * not the host's) and so is O_CREAT (Tlcreate creates). */
static int dotl_flags(uint32_t fl)
{
	int o = (int)(fl & P9_DOTL_ACCMODE);

	if (o == 3)
		o = O_RDWR;
	if (fl & P9_DOTL_EXCL)
		o |= O_EXCL;
	if (fl & P9_DOTL_TRUNC)
		o |= O_TRUNC;
	if (fl & P9_DOTL_APPEND)
		o |= O_APPEND;
	if (fl & P9_DOTL_NONBLOCK)
		o |= O_NONBLOCK;
	if (fl & P9_DOTL_DSYNC)
		o |= O_DSYNC;
	if (fl & P9_DOTL_DIRECTORY)
		o |= O_DIRECTORY;
	if (fl & P9_DOTL_NOATIME)
		o |= O_NOATIME;
	if (fl & P9_DOTL_SYNC)
		o |= O_SYNC;
	return o;
}

static bool flags_write(int o)
{
	return (o & O_ACCMODE) != O_RDONLY || (o & (O_TRUNC | O_APPEND));
}

static uint32_t iounit(struct p9_server *s)
{
	return s->msize - 24; /* Twrite's header: size type tag fid offset count */
}

static int op_lopen(struct req *q)
{
	int err = 0;
	struct p9_fid *f = req_fid(q, &err);
	int flags = dotl_flags(rd32(&q->in)), fd;
	struct stat st;

	if (!f)
		return err;
	if (q->in.bad)
		return EINVAL;
	if (f->fd >= 0)
		return EBUSY;
	if (q->s->readonly && flags_write(flags))
		return EROFS;
	fd = p9_openat(q->s, f->path, O_PATH);
	if (fd < 0)
		return -fd;
	fd = p9_reopen(q->s, fd, flags & ~O_NOATIME, &st);
	if (fd < 0)
		return -fd;
	f->fd = fd;
	f->is_dir = S_ISDIR(st.st_mode);
	p9_wr_qid(&q->out, &st);
	wr32(&q->out, iounit(q->s));
	return 0;
}

static int op_lcreate(struct req *q)
{
	int err = 0;
	struct p9_fid *f = req_fid(q, &err);
	char name[NAME_MAX + 1];
	int flags, dfd, fd;
	uint32_t mode;
	struct stat st;
	char *path;

	if (!f)
		return err;
	if ((err = req_name(q, name)))
		return err;
	flags = dotl_flags(rd32(&q->in));
	mode = rd32(&q->in);
	p9_rd_take(&q->in, 4); /* gid: files belong to the user running envvmm */
	if (q->in.bad)
		return EINVAL;
	if (q->s->readonly)
		return EROFS;
	if (f->fd >= 0 || !f->is_dir)
		return f->fd >= 0 ? EBUSY : ENOTDIR;
	path = p9_path_join(f->path, name);
	if (!path)
		return errno;
	dfd = p9_openat(q->s, f->path, O_PATH | O_DIRECTORY);
	if (dfd < 0) {
		free(path);
		return -dfd;
	}
	fd = openat(dfd, name, (flags & ~O_DIRECTORY) | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    mode & P9_MODE_BITS);
	if (fd >= 0) {
		fstat(fd, &st);
	} else if (errno == EEXIST && !(flags & O_EXCL)) {
		/* Made meanwhile by someone else: open what is there, as open(2) would. */
		fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		fd = fd < 0 ? -errno : p9_reopen(q->s, fd, flags, &st);
		if (fd < 0)
			errno = -fd;
	}
	err = errno;
	close(dfd);
	if (fd < 0) {
		free(path);
		return err;
	}
	free(f->path);
	f->path = path;
	f->fd = fd;
	f->is_dir = false;
	p9_wr_qid(&q->out, &st);
	wr32(&q->out, iounit(q->s));
	return 0;
}

static int op_read(struct req *q)
{
	int err = 0;
	struct p9_fid *f = req_fid(q, &err);
	uint64_t off = rd64(&q->in);
	uint32_t count = rd32(&q->in);
	size_t room = q->out.cap - q->out.off;
	ssize_t n;

	if (!f)
		return err;
	if (q->in.bad)
		return EINVAL;
	if (f->fd < 0 || f->is_dir)
		return EBADF;
	if (off > INT64_MAX)
		return EINVAL;
	if (room < 4)
		return EMSGSIZE;
	if (count > room - 4)
		count = (uint32_t)(room - 4);
	n = pread(f->fd, q->out.p + q->out.off + 4, count, (off_t)off);
	if (n < 0)
		return errno;
	wr32(&q->out, n);
	q->out.off += (size_t)n;
	return 0;
}

static int op_write(struct req *q)
{
	int err = 0;
	struct p9_fid *f = req_fid(q, &err);
	uint64_t off = rd64(&q->in);
	uint32_t count = rd32(&q->in);
	const uint8_t *data = p9_rd_take(&q->in, count);
	ssize_t n;

	if (!f)
		return err;
	if (q->in.bad || !data)
		return EINVAL;
	if (q->s->readonly)
		return EROFS;
	if (f->fd < 0 || f->is_dir)
		return EBADF;
	if (off > INT64_MAX)
		return EINVAL;
	n = pwrite(f->fd, data, count, (off_t)off);
	if (n < 0)
		return errno;
	wr32(&q->out, n);
	return 0;
}

static int op_clunk(struct req *q)
{
	uint32_t num = rd32(&q->in);

	if (q->in.bad)
		return EINVAL;
	return -p9_fid_clunk(q->s, num);
}

static int op_getattr(struct req *q)
{
	int err = 0;
	struct p9_fid *f = req_fid(q, &err);
	struct stat st;
	struct wr *w = &q->out;

	if (!f)
		return err;
	p9_rd_take(&q->in, 8); /* request_mask: the basic set is always answered */
	if (q->in.bad)
		return EINVAL;
	if ((err = fid_stat(q->s, f, &st)))
		return err;
	wr64(w, P9_GETATTR_BASIC);
	p9_wr_qid(w, &st);
	wr32(w, st.st_mode);
	wr32(w, st.st_uid);
	wr32(w, st.st_gid);
	wr64(w, st.st_nlink);
	wr64(w, st.st_rdev);
	wr64(w, st.st_size);
	wr64(w, st.st_blksize);
	wr64(w, st.st_blocks);
	wr64(w, st.st_atim.tv_sec);
	wr64(w, st.st_atim.tv_nsec);
	wr64(w, st.st_mtim.tv_sec);
	wr64(w, st.st_mtim.tv_nsec);
	wr64(w, st.st_ctim.tv_sec);
	wr64(w, st.st_ctim.tv_nsec);
	for (int i = 0; i < 4; i++)
		wr64(w, 0); /* btime, gen, data_version: not in the basic set */
	return 0;
}

/* chmod of the inode pinned by the O_PATH fd pfd (chmod cannot refuse to follow a link, so
 * the link is refused first and the inode itself is named through /proc/self/fd). */
static int chmod_pinned(struct p9_server *s, int pfd, mode_t mode)
{
	struct stat st;
	char num[16];

	if (fstat(pfd, &st) < 0)
		return errno;
	if (S_ISLNK(st.st_mode))
		return EOPNOTSUPP;
	snprintf(num, sizeof(num), "%d", pfd);
	return fchmodat(s->proc_fd, num, mode & P9_MODE_BITS, 0) < 0 ? errno : 0;
}

static struct timespec setattr_time(uint32_t valid, uint32_t bit, uint32_t set_bit, uint64_t sec,
				    uint64_t nsec)
{
	struct timespec t = {.tv_nsec = UTIME_OMIT};

	if (valid & set_bit) {
		t.tv_sec = (time_t)sec;
		t.tv_nsec = (long)(nsec % 1000000000u);
	} else if (valid & bit) {
		t.tv_nsec = UTIME_NOW;
	}
	return t;
}

static int op_setattr(struct req *q)
{
	int err = 0;
	struct p9_fid *f = req_fid(q, &err);
	uint32_t valid = rd32(&q->in), mode = rd32(&q->in), uid = rd32(&q->in), gid = rd32(&q->in);
	uint64_t size = rd64(&q->in), as = rd64(&q->in), an = rd64(&q->in), ms = rd64(&q->in),
		 mn = rd64(&q->in);
	char name[NAME_MAX + 1];
	int pfd, dfd;

	if (!f)
		return err;
	if (q->in.bad)
		return EINVAL;
	if (q->s->readonly)
		return EROFS;
	pfd = p9_openat(q->s, f->path, O_PATH);
	if (pfd < 0)
		return -pfd;
	dfd = p9_parent(q->s, f->path, name, sizeof(name));
	if (dfd < 0) {
		close(pfd);
		return -dfd;
	}
	if (valid & P9_SETATTR_MODE)
		err = chmod_pinned(q->s, pfd, mode);
	/* Owners are not changed on the host: files belong to the user running envvmm, whatever
	 * the guest asks (an envvmm run as root would otherwise hand the project's files to
	 * guest uids). The request succeeds, as with QEMU's security_model=none, which ignores
	 * a failed chown: cp -p, tar and envup's own chown after mounting stay quiet. */
	(void)uid;
	(void)gid;
	if (!err && (valid & P9_SETATTR_SIZE)) {
		if (size > INT64_MAX) {
			err = EFBIG;
		} else if (f->fd >= 0 && !f->is_dir &&
			   (fcntl(f->fd, F_GETFL) & O_ACCMODE) != O_RDONLY) {
			if (ftruncate(f->fd, (off_t)size) < 0)
				err = errno;
		} else {
			struct stat st;
			int fd = p9_openat(q->s, f->path, O_PATH);
			if (fd >= 0)
				fd = p9_reopen(q->s, fd, O_WRONLY, &st);
			if (fd < 0)
				err = -fd;
			else if (ftruncate(fd, (off_t)size) < 0)
				err = errno;
			if (fd >= 0)
				close(fd);
		}
	}
	if (!err && (valid & (P9_SETATTR_ATIME | P9_SETATTR_MTIME))) {
		struct timespec t[2] = {
			setattr_time(valid, P9_SETATTR_ATIME, P9_SETATTR_ATIME_SET, as, an),
			setattr_time(valid, P9_SETATTR_MTIME, P9_SETATTR_MTIME_SET, ms, mn),
		};
		if (utimensat(dfd, name, t, AT_SYMLINK_NOFOLLOW) < 0)
			err = errno;
	}
	close(dfd);
	close(pfd);
	return err;
}

static int op_readdir(struct req *q)
{
	int err = 0;
	struct p9_fid *f = req_fid(q, &err);
	uint64_t off = rd64(&q->in);
	uint32_t count = rd32(&q->in);
	size_t room = q->out.cap - q->out.off, count_at = q->out.off, start;
	char buf[16384];
	bool full = false;
	struct stat dir;

	if (!f)
		return err;
	if (q->in.bad)
		return EINVAL;
	if (f->fd < 0 || !f->is_dir)
		return EBADF;
	if (room < 4)
		return EMSGSIZE;
	if (count > room - 4)
		count = (uint32_t)(room - 4);
	if (fstat(f->fd, &dir) < 0)
		return errno;
	if (off > INT64_MAX || lseek(f->fd, (off_t)off, SEEK_SET) < 0)
		return off > INT64_MAX ? EINVAL : errno;
	wr32(&q->out, 0);
	start = q->out.off;
	while (!full) {
		long n = syscall(SYS_getdents64, f->fd, buf, sizeof(buf));
		if (n < 0)
			return errno;
		if (n == 0)
			break;
		for (long at = 0; at < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + at);
			size_t nl = strnlen(d->d_name, NAME_MAX);
			struct stat st = {.st_ino = d->d_ino};
			if (d->d_reclen == 0 || d->d_reclen > n - at)
				return EIO;
			at += d->d_reclen;
			if (q->out.off - start + 24 + nl > count) {
				full = true;
				break;
			}
			st.st_mode = d->d_type == DT_DIR   ? S_IFDIR
				     : d->d_type == DT_LNK ? S_IFLNK
							   : 0;
			st.st_dev = dir.st_dev;
			p9_wr_qid(&q->out, &st);
			wr64(&q->out, d->d_off);
			wr8(&q->out, d->d_type);
			wr16(&q->out, nl);
			p9_wr_bytes(&q->out, d->d_name, nl);
		}
	}
	{
		uint32_t len = (uint32_t)(q->out.off - start);
		memcpy(q->out.p + count_at, &(uint32_t){htole32(len)}, 4);
	}
	return 0;
}

static int op_statfs(struct req *q)
{
	int err = 0;
	struct p9_fid *f = req_fid(q, &err);
	struct statfs sf;
	struct wr *w = &q->out;
	int fd;

	if (!f)
		return err;
	if (q->in.bad)
		return EINVAL;
	fd = p9_openat(q->s, f->path, O_PATH);
	if (fd < 0)
		return -fd;
	if (fstatfs(fd, &sf) < 0)
		err = errno;
	close(fd);
	if (err)
		return err;
	wr32(w, 0x01021997); /* V9FS_MAGIC */
	wr32(w, sf.f_bsize);
	wr64(w, sf.f_blocks);
	wr64(w, sf.f_bfree);
	wr64(w, sf.f_bavail);
	wr64(w, sf.f_files);
	wr64(w, sf.f_ffree);
	wr64(w, (uint64_t)(uint32_t)sf.f_fsid.__val[0] | (uint64_t)sf.f_fsid.__val[1] << 32);
	wr32(w, sf.f_namelen);
	return 0;
}

static int op_readlink(struct req *q)
{
	int err = 0;
	struct p9_fid *f = req_fid(q, &err);
	char target[PATH_MAX];
	ssize_t n;
	int fd;

	if (!f)
		return err;
	if (q->in.bad)
		return EINVAL;
	fd = p9_openat(q->s, f->path, O_PATH);
	if (fd < 0)
		return -fd;
	n = readlinkat(fd, "", target, sizeof(target) - 1);
	err = errno;
	close(fd);
	if (n < 0)
		return err == ENOENT ? EINVAL : err; /* not a link */
	target[n] = 0;
	p9_wr_str(&q->out, target);
	return 0;
}

/* The directory fid and new entry name of Tmkdir, Tsymlink, Tmknod; opens the directory. */
static int create_prologue(struct req *q, char *name, int *dfd)
{
	int err = 0;
	struct p9_fid *d = req_fid(q, &err);

	if (!d)
		return err;
	if ((err = req_name(q, name)))
		return err;
	if (q->s->readonly)
		return EROFS;
	*dfd = p9_openat(q->s, d->path, O_PATH | O_DIRECTORY);
	return *dfd < 0 ? -*dfd : 0;
}

/* Answers the new entry's qid. */
static int create_epilogue(struct req *q, int dfd, const char *name)
{
	struct stat st;
	int err = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		err = errno;
	else
		p9_wr_qid(&q->out, &st);
	close(dfd);
	return err;
}

static int op_mkdir(struct req *q)
{
	char name[NAME_MAX + 1];
	int dfd = -1, err = create_prologue(q, name, &dfd);
	uint32_t mode = rd32(&q->in);

	p9_rd_take(&q->in, 4); /* gid */
	if (!err && q->in.bad)
		err = EINVAL;
	if (!err && mkdirat(dfd, name, mode & P9_MODE_BITS) < 0)
		err = errno;
	if (err) {
		if (dfd >= 0)
			close(dfd);
		return err;
	}
	return create_epilogue(q, dfd, name);
}

static int op_symlink(struct req *q)
{
	char name[NAME_MAX + 1], target[PATH_MAX];
	int dfd = -1, err = create_prologue(q, name, &dfd);

	if (!err)
		err = p9_rd_str(&q->in, target, sizeof(target));
	p9_rd_take(&q->in, 4); /* gid */
	if (!err && (q->in.bad || !*target))
		err = EINVAL;
	/* The target is data: the server never follows it, the guest resolves it itself. */
	if (!err && symlinkat(target, dfd, name) < 0)
		err = errno;
	if (err) {
		if (dfd >= 0)
			close(dfd);
		return err;
	}
	return create_epilogue(q, dfd, name);
}

static int op_mknod(struct req *q)
{
	char name[NAME_MAX + 1];
	int dfd = -1, err = create_prologue(q, name, &dfd);
	uint32_t mode = rd32(&q->in);

	p9_rd_take(&q->in, 4); /* major */
	p9_rd_take(&q->in, 4); /* minor */
	p9_rd_take(&q->in, 4); /* gid */
	if (!err && q->in.bad)
		err = EINVAL;
	/* FIFOs and sockets only: a device node made by the guest could later be opened by the
	 * host, with the host's rights. */
	if (!err && !S_ISFIFO(mode) && !S_ISSOCK(mode) && !S_ISREG(mode))
		err = EPERM;
	if (!err && mknodat(dfd, name, (mode & P9_MODE_BITS) | (mode & S_IFMT), 0) < 0)
		err = errno;
	if (err) {
		if (dfd >= 0)
			close(dfd);
		return err;
	}
	return create_epilogue(q, dfd, name);
}

/* Trenameat and Trename: the entry at opath (taken over; NULL with errno set when it could
 * not be made) moves to nname in the directory fid nd, and every fid at or below it follows. */
static int rename_entry(struct req *q, char *opath, struct p9_fid *nd, const char *nname)
{
	char oname[NAME_MAX + 1];
	char *npath = p9_path_join(nd->path, nname);
	int ofd = -1, nfd = -1, err = 0;

	if (!opath || !npath)
		err = errno;
	if (!err && (ofd = p9_parent(q->s, opath, oname, sizeof(oname))) < 0)
		err = -ofd;
	if (!err && (nfd = p9_openat(q->s, nd->path, O_PATH | O_DIRECTORY)) < 0)
		err = -nfd;
	if (!err && renameat(ofd, oname, nfd, nname) < 0)
		err = errno;
	if (!err)
		p9_fids_renamed(q->s, opath, npath);
	if (ofd >= 0)
		close(ofd);
	if (nfd >= 0)
		close(nfd);
	free(opath);
	free(npath);
	return err;
}

static int op_renameat(struct req *q)
{
	int err = 0;
	struct p9_fid *od = req_fid(q, &err), *nd;
	char oname[NAME_MAX + 1], nname[NAME_MAX + 1];

	if (!od)
		return err;
	if ((err = req_name(q, oname)))
		return err;
	if (!(nd = req_fid(q, &err)))
		return err;
	if ((err = req_name(q, nname)))
		return err;
	if (q->s->readonly)
		return EROFS;
	return rename_entry(q, p9_path_join(od->path, oname), nd, nname);
}

/* Trename: fid's entry moves into dfid as name. */
static int op_rename(struct req *q)
{
	int err = 0;
	struct p9_fid *f = req_fid(q, &err), *d;
	char nname[NAME_MAX + 1];

	if (!f)
		return err;
	if (!(d = req_fid(q, &err)))
		return err;
	if ((err = req_name(q, nname)))
		return err;
	if (q->s->readonly)
		return EROFS;
	if (!*f->path)
		return EBUSY;
	return rename_entry(q, strdup(f->path), d, nname);
}

/* Tunlinkat and Tremove: removes entry name of the directory dfd (an O_PATH fd, or -errno
 * from opening it) and closes dfd. */
static int unlink_entry(int dfd, const char *name, int flags)
{
	int err = 0;

	if (dfd < 0)
		return -dfd;
	if (unlinkat(dfd, name, flags) < 0)
		err = errno;
	close(dfd);
	return err;
}

static int op_unlinkat(struct req *q)
{
	int err = 0;
	struct p9_fid *d = req_fid(q, &err);
	char name[NAME_MAX + 1];
	uint32_t flags;

	if (!d)
		return err;
	if ((err = req_name(q, name)))
		return err;
	flags = rd32(&q->in);
	if (q->in.bad)
		return EINVAL;
	if (q->s->readonly)
		return EROFS;
	return unlink_entry(p9_openat(q->s, d->path, O_PATH | O_DIRECTORY), name,
			    (int)(flags & AT_REMOVEDIR));
}

static int op_remove(struct req *q)
{
	int err = 0;
	struct p9_fid *f = req_fid(q, &err);
	char name[NAME_MAX + 1];
	uint32_t num;

	if (!f)
		return err;
	num = f->num;
	if (q->s->readonly)
		err = EROFS;
	else if (!*f->path)
		err = EBUSY;
	else
		err = unlink_entry(p9_parent(q->s, f->path, name, sizeof(name)), name,
				   f->is_dir ? AT_REMOVEDIR : 0);
	p9_fid_clunk(q->s, num); /* Tremove clunks, whether or not the removal worked */
	return err;
}

static int op_link(struct req *q)
{
	int err = 0;
	struct p9_fid *d = req_fid(q, &err), *f;
	char name[NAME_MAX + 1], oname[NAME_MAX + 1];
	int dfd = -1, ofd = -1;

	if (!d)
		return err;
	if (!(f = req_fid(q, &err)))
		return err;
	if ((err = req_name(q, name)))
		return err;
	if (q->s->readonly)
		return EROFS;
	if (!*f->path)
		return EPERM;
	/* Both ends are entries beneath the share, named relative to pinned directories, and a
	 * symbolic link is linked as itself (no AT_SYMLINK_FOLLOW). */
	if ((ofd = p9_parent(q->s, f->path, oname, sizeof(oname))) < 0)
		err = -ofd;
	if (!err && (dfd = p9_openat(q->s, d->path, O_PATH | O_DIRECTORY)) < 0)
		err = -dfd;
	if (!err && linkat(ofd, oname, dfd, name, 0) < 0)
		err = errno;
	if (ofd >= 0)
		close(ofd);
	if (dfd >= 0)
		close(dfd);
	return err;
}

static int op_fsync(struct req *q)
{
	int err = 0;
	struct p9_fid *f = req_fid(q, &err);
	uint32_t datasync;

	if (!f)
		return err;
	datasync = rd32(&q->in); /* absent from older clients: then a full fsync */
	if (f->fd < 0)
		return EBADF;
	if ((q->in.bad || !datasync ? fsync(f->fd) : fdatasync(f->fd)) < 0)
		return errno;
	return 0;
}

/* Tlock and Tgetlock as open-file-description locks on the fid's own open file: each fid is
 * one lock owner, as each open file is on the guest. */
static int lock_prologue(struct req *q, struct p9_fid **f, struct flock *fl, bool with_flags)
{
	int err = 0;
	uint8_t type;
	uint64_t start, len;
	char client[256];

	*f = req_fid(q, &err);
	if (!*f)
		return err;
	type = rd8(&q->in);
	if (with_flags)
		p9_rd_take(&q->in, 4);
	start = rd64(&q->in);
	len = rd64(&q->in);
	p9_rd_take(&q->in, 4); /* proc_id */
	if ((err = p9_rd_str(&q->in, client, sizeof(client))))
		return err;
	if (q->in.bad || start > INT64_MAX || len > INT64_MAX)
		return EINVAL;
	if ((*f)->fd < 0)
		return EBADF;
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type == P9_LOCK_RDLCK ? F_RDLCK : type == P9_LOCK_WRLCK ? F_WRLCK : F_UNLCK;
	if (type > P9_LOCK_UNLCK)
		return EINVAL;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)start;
	fl->l_len = (off_t)len;
	return 0;
}

static int op_lock(struct req *q)
{
	struct p9_fid *f;
	struct flock fl;
	int err = lock_prologue(q, &f, &fl, true);
	uint8_t status = P9_LOCK_SUCCESS;

	if (err)
		return err;
	/* Never waits (the one server thread must not block): a conflict answers BLOCKED and
	 * Linux's client retries. */
	if (fcntl(f->fd, F_OFD_SETLK, &fl) < 0)
		status = (errno == EAGAIN || errno == EACCES) ? P9_LOCK_BLOCKED : P9_LOCK_ERROR;
	wr8(&q->out, status);
	return 0;
}

static int op_getlock(struct req *q)
{
	struct p9_fid *f;
	struct flock fl;
	int err = lock_prologue(q, &f, &fl, false);

	if (err)
		return err;
	if (fcntl(f->fd, F_OFD_GETLK, &fl) < 0)
		return errno;
	wr8(&q->out, fl.l_type == F_RDLCK   ? P9_LOCK_RDLCK
		     : fl.l_type == F_WRLCK ? P9_LOCK_WRLCK
					    : P9_LOCK_UNLCK);
	wr64(&q->out, fl.l_start);
	wr64(&q->out, fl.l_len);
	wr32(&q->out, fl.l_pid > 0 ? fl.l_pid : 0);
	p9_wr_str(&q->out, "");
	return 0;
}

static int op_flush(struct req *q)
{
	p9_rd_take(&q->in, 2); /* oldtag: requests are answered in order, none is in flight */
	return q->in.bad ? EINVAL : 0;
}

typedef int (*p9_op)(struct req *q);

static p9_op op_for(uint8_t type, bool versioned)
{
	if (type == P9_TVERSION)
		return op_version;
	if (!versioned)
		return NULL;
	switch (type) {
	case P9_TATTACH: return op_attach;
	case P9_TWALK: return op_walk;
	case P9_TLOPEN: return op_lopen;
	case P9_TLCREATE: return op_lcreate;
	case P9_TREAD: return op_read;
	case P9_TWRITE: return op_write;
	case P9_TCLUNK: return op_clunk;
	case P9_TGETATTR: return op_getattr;
	case P9_TSETATTR: return op_setattr;
	case P9_TREADDIR: return op_readdir;
	case P9_TSTATFS: return op_statfs;
	case P9_TREADLINK: return op_readlink;
	case P9_TMKDIR: return op_mkdir;
	case P9_TSYMLINK: return op_symlink;
	case P9_TMKNOD: return op_mknod;
	case P9_TRENAMEAT: return op_renameat;
	case P9_TRENAME: return op_rename;
	case P9_TUNLINKAT: return op_unlinkat;
	case P9_TREMOVE: return op_remove;
	case P9_TLINK: return op_link;
	case P9_TFSYNC: return op_fsync;
	case P9_TLOCK: return op_lock;
	case P9_TGETLOCK: return op_getlock;
	case P9_TFLUSH: return op_flush;
	default: return NULL;
	}
}

static size_t reply_error(uint8_t *resp, size_t cap, uint16_t tag, int err)
{
	struct wr w = {.p = resp, .cap = cap};

	wr32(&w, P9_HDR + 4);
	wr8(&w, P9_RLERROR);
	wr16(&w, tag);
	wr32(&w, err);
	return w.full ? 0 : w.off;
}

size_t p9_handle(struct p9_server *s, const uint8_t *req, size_t len, uint8_t *resp, size_t cap)
{
	struct req q = {.s = s, .in = {.p = req, .len = len}};
	uint32_t size;
	uint8_t type;
	uint16_t tag;
	p9_op op;
	int err;

	s->requests++;
	if (cap > s->msize)
		cap = s->msize;
	size = rd32(&q.in);
	type = rd8(&q.in);
	tag = rd16(&q.in);
	if (q.in.bad) {
		s->errors++;
		return reply_error(resp, cap, P9_NOTAG, EINVAL);
	}
	if (size < P9_HDR || size > len || size > s->msize) {
		s->errors++;
		return reply_error(resp, cap, tag, size > s->msize ? EMSGSIZE : EINVAL);
	}
	q.in.len = size;
	op = op_for(type, s->versioned);
	if (!op) {
		s->errors++;
		return reply_error(resp, cap, tag, s->versioned ? EOPNOTSUPP : EPROTO);
	}
	q.out = (struct wr){.p = resp, .cap = cap, .off = P9_HDR};
	if (cap < P9_HDR) {
		q.out.full = true;
		q.out.off = 0;
	}
	err = op(&q);
	if (!err && q.out.full)
		err = EMSGSIZE;
	if (err) {
		s->errors++;
		return reply_error(resp, cap, tag, err);
	}
	{
		struct wr h = {.p = resp, .cap = P9_HDR};
		wr32(&h, q.out.off);
		wr8(&h, type + 1);
		wr16(&h, tag);
	}
	return q.out.off;
}
