#include "boxes/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/fsutil.h"

struct ctx {
	struct archive *a;
	int dirfd;
	const char *archive;
	uint64_t max_entry, max_total, total;
	unsigned max_entries;
	const struct progress *p;
	const struct extract_hook *hook;
	uint64_t archive_size;
	struct err *e;
	char **links; /* every symlink made, checked once the tree is complete */
	size_t nlinks;
};

static int remember_link(struct ctx *c, const char *name)
{
	char **nl = realloc(c->links, (c->nlinks + 1) * sizeof(*nl));

	if (!nl)
		return err_set(c->e, ERR_FAIL, "out of memory");
	c->links = nl;
	if (!(nl[c->nlinks] = strdup(name)))
		return err_set(c->e, ERR_FAIL, "out of memory");
	c->nlinks++;
	return 0;
}

/* Each link's target is resolved as the kernel would, through the links extracted with it and
 * whatever order they came in ("a -> ." then "b -> a/a/a/../../../x" is lexically inside but
 * leaves physically): with RESOLVE_BENEATH the walk fails the moment it would climb out.
 * A dangling link is fine (nothing more is extracted that could complete it). */
static int check_links(struct ctx *c)
{
	for (size_t i = 0; i < c->nlinks; i++) {
		struct open_how how = {.flags = O_PATH | O_CLOEXEC,
				       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
		long fd = syscall(SYS_openat2, c->dirfd, c->links[i], &how, sizeof(how));
		char target[PATH_MAX];
		ssize_t n;
		int err = errno;

		if (fd >= 0) {
			close((int)fd);
			continue;
		}
		if (err == ENOENT || err == ENOTDIR)
			continue;
		n = readlinkat(c->dirfd, c->links[i], target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		if (err == ENOSYS)
			return err_set(c->e, ERR_UNSUPPORTED,
				       "%s: link '%s': this kernel cannot check where links lead "
				       "(no openat2); boxes with links are refused",
				       c->archive, c->links[i]);
		return err_set(c->e, ERR_CORRUPT,
			       "%s: link '%s' -> '%s' leads outside the box (through other links) "
			       "or loops",
			       c->archive, c->links[i], target);
	}
	return 0;
}

/* Removes leading "./" and trailing "/" in place; returns the cleaned name. */
static char *clean_name(char *name)
{
	size_t n;

	while (name[0] == '.' && name[1] == '/')
		name += 2;
	while (name[0] == '/' && name[1] == '/')
		name++;
	n = strlen(name);
	while (n > 1 && name[n - 1] == '/')
		name[--n] = '\0';
	return name;
}

/* Creates every directory of rel (rel itself too when last is true) beneath dirfd, never
 * through a symlink. Returns an fd of the deepest directory, or -1. */
static int mkdirs_beneath(int dirfd, const char *rel, bool last, struct err *e)
{
	char *copy = strdup(rel), *save = NULL, *comp, *next;
	int fd = dup(dirfd);

	if (!copy || fd < 0) {
		free(copy);
		if (fd >= 0)
			close(fd);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	for (comp = strtok_r(copy, "/", &save); comp; comp = next) {
		int nfd;

		next = strtok_r(NULL, "/", &save);
		if (!next && !last)
			break;
		if (!strcmp(comp, "."))
			continue;
		if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
			err_sys(e, "cannot create directory %s", rel);
			goto fail;
		}
		nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			if (errno == ELOOP || errno == ENOTDIR)
				err_set(e, ERR_CORRUPT, "'%s' goes through a link or a file", rel);
			else
				err_sys(e, "cannot open directory %s", rel);
			goto fail;
		}
		close(fd);
		fd = nfd;
	}
	free(copy);
	return fd;
fail:
	close(fd);
	free(copy);
	return -1;
}

static const char *base_of(const char *rel)
{
	const char *s = strrchr(rel, '/');

	return s ? s + 1 : rel;
}

/* A link target stays inside when, read from the link's own directory, it never climbs above
 * the top. Links resolved later are also opened with RESOLVE_BENEATH, so a chain of links
 * that escapes physically still cannot be followed out. */
static bool link_target_contained(const char *name, const char *target)
{
	long depth = -1; /* the link's own name is not a directory it sits in */
	const char *p;

	if (!*target || target[0] == '/')
		return false;
	/* count real components: "a//b" and "a/./b" sit one level down, not two */
	for (p = name; *p;) {
		size_t n = strcspn(p, "/");

		if (n && !(n == 1 && p[0] == '.'))
			depth++;
		p += n;
		while (*p == '/')
			p++;
	}
	p = target;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return false;
		} else if (n && !(n == 1 && p[0] == '.')) {
			depth++;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	return true;
}

#define EXTRACT_HOOK_HEAD (64u << 10)
#define EXTRACT_WRITEBACK_CHUNK (8u << 20)

struct extract_stream {
	struct ctx *c;
	const char *name;
	uint8_t *head; /* the first EXTRACT_HOOK_HEAD bytes, read to ask the hook */
	size_t head_len, head_pos;
	uint64_t read; /* bytes of the entry handed out */
};

ssize_t extract_stream_read(void *stream, void *buf, size_t len, struct err *e)
{
	struct extract_stream *s = stream;
	struct ctx *c = s->c;
	la_ssize_t n;

	if (s->head_pos < s->head_len) {
		size_t k = s->head_len - s->head_pos < len ? s->head_len - s->head_pos : len;

		memcpy(buf, s->head + s->head_pos, k);
		s->head_pos += k;
		return (ssize_t)k;
	}
	n = archive_read_data(c->a, buf, len);
	if (n < 0)
		return err_set(e, ERR_CORRUPT, "%s: entry '%s': %s", c->archive, s->name,
			       archive_error_string(c->a));
	if (s->read + (uint64_t)n > c->max_entry || c->total + (uint64_t)n > c->max_total)
		return err_set(e, ERR_CORRUPT, "%s: entry '%s' is over the size limit of %llu bytes",
			       c->archive, s->name,
			       (unsigned long long)(s->read + (uint64_t)n > c->max_entry
							    ? c->max_entry
							    : c->max_total));
	s->read += (uint64_t)n;
	c->total += (uint64_t)n;
	if (c->p)
		progress_update(c->p, (uint64_t)archive_filter_bytes(c->a, -1), c->archive_size);
	return n;
}

/* An entry the hook may take: its first bytes are read to ask; an entry not taken is
 * written front to back (holes come back as zeros, which only costs space). */
static int hooked_file(struct ctx *c, const char *name, int fd)
{
	struct extract_stream s = {.c = c, .name = name};
	uint64_t at = 0;
	la_ssize_t n = 0;
	int rc = -1;

	if (!(s.head = malloc(EXTRACT_HOOK_HEAD)))
		return err_set(c->e, ERR_FAIL, "out of memory");
	while (s.head_len < EXTRACT_HOOK_HEAD) {
		n = archive_read_data(c->a, s.head + s.head_len, EXTRACT_HOOK_HEAD - s.head_len);
		if (n <= 0)
			break;
		s.head_len += (size_t)n;
	}
	if (n < 0) {
		err_set(c->e, ERR_CORRUPT, "%s: entry '%s': %s", c->archive, name,
			archive_error_string(c->a));
		goto out;
	}
	s.read = s.head_len;
	c->total += s.head_len;
	if (c->hook->claim(c->hook->ctx, name, s.head, s.head_len)) {
		if (c->hook->write(c->hook->ctx, name, fd, &s, c->e) < 0)
			err_wrap(c->e, "%s: entry '%s'", c->archive, name);
		else
			rc = 0;
		goto out;
	}
	/* not taken: the head, then the rest through the same buffer */
	if (fs_pwrite_all(fd, s.head, s.head_len, 0) < 0) {
		err_sys(c->e, "cannot write %s", name);
		goto out;
	}
	s.head_pos = s.head_len;
	at = s.head_len;
	while ((n = extract_stream_read(&s, s.head, EXTRACT_HOOK_HEAD, c->e)) > 0) {
		if (fs_pwrite_all(fd, s.head, (size_t)n, (off_t)at) < 0) {
			err_sys(c->e, "cannot write %s", name);
			goto out;
		}
		at += (uint64_t)n;
	}
	rc = n < 0 ? -1 : 0;
out:
	free(s.head);
	return rc;
}

static bool hook_wants(const struct ctx *c, const char *name)
{
	size_t n = strlen(name), k;

	if (!c->hook)
		return false;
	k = strlen(c->hook->suffix);
	return n >= k && !strcasecmp(name + n - k, c->hook->suffix);
}

static int write_file(struct ctx *c, const char *name, struct archive_entry *ent)
{
	int pfd, fd;
	const void *buf;
	size_t size;
	la_int64_t off;
	uint64_t end = 0, synced = 0;
	int r;

	if (archive_entry_size_is_set(ent) && (uint64_t)archive_entry_size(ent) > c->max_entry)
		return err_set(c->e, ERR_CORRUPT,
			       "%s: entry '%s' is %lld bytes, over the limit of %llu", c->archive,
			       name, (long long)archive_entry_size(ent),
			       (unsigned long long)c->max_entry);
	pfd = mkdirs_beneath(c->dirfd, name, false, c->e);
	if (pfd < 0)
		return err_wrap(c->e, "%s", c->archive);
	fd = openat(pfd, base_of(name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	close(pfd);
	if (fd < 0) {
		if (errno == EEXIST)
			return err_set(c->e, ERR_CORRUPT, "%s: entry '%s' appears twice",
				       c->archive, name);
		return err_sys(c->e, "cannot create %s", name);
	}
	if (hook_wants(c, name)) {
		if (hooked_file(c, name, fd) < 0)
			goto fail;
		if (close(fd) < 0)
			return err_sys(c->e, "cannot write %s", name);
		return 0;
	}
	while ((r = archive_read_data_block(c->a, &buf, &size, &off)) == ARCHIVE_OK) {
		if (off < 0 || (uint64_t)off + size > c->max_entry ||
		    c->total + size > c->max_total) {
			err_set(c->e, ERR_CORRUPT,
				"%s: entry '%s' is over the size limit of %llu bytes", c->archive,
				name,
				(unsigned long long)((uint64_t)off + size > c->max_entry
							     ? c->max_entry
							     : c->max_total));
			goto fail;
		}
		if (fs_pwrite_all(fd, buf, size, (off_t)off) < 0) {
			err_sys(c->e, "cannot write %s", name);
			goto fail;
		}
		c->total += size;
		if ((uint64_t)off + size > end)
			end = (uint64_t)off + size;
		/* Writeback starts as the file grows: a disk the store keeps (base.qcow2 is
		 * synced before it is committed) then has little left to wait for. */
		if (end - synced >= EXTRACT_WRITEBACK_CHUNK) {
			sync_file_range(fd, (off_t)synced, (off_t)(end - synced),
					SYNC_FILE_RANGE_WRITE);
			synced = end;
		}
		if (c->p)
			progress_update(c->p, (uint64_t)archive_filter_bytes(c->a, -1),
					c->archive_size);
	}
	if (r != ARCHIVE_EOF) {
		err_set(c->e, ERR_CORRUPT, "%s: entry '%s': %s", c->archive, name,
			archive_error_string(c->a));
		goto fail;
	}
	/* A sparse tail leaves no data block: the header's size is the file's size. */
	if (archive_entry_size_is_set(ent) && (uint64_t)archive_entry_size(ent) > end)
		end = (uint64_t)archive_entry_size(ent);
	if (ftruncate(fd, (off_t)end) < 0 || close(fd) < 0) {
		fd = -1;
		err_sys(c->e, "cannot write %s", name);
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

static int make_symlink(struct ctx *c, const char *name, const char *target)
{
	int pfd;

	if (!target || !link_target_contained(name, target))
		return err_set(c->e, ERR_CORRUPT, "%s: link '%s' -> '%s' points outside the box",
			       c->archive, name, target ? target : "");
	pfd = mkdirs_beneath(c->dirfd, name, false, c->e);
	if (pfd < 0)
		return err_wrap(c->e, "%s", c->archive);
	if (symlinkat(target, pfd, base_of(name)) < 0) {
		err_sys(c->e, "cannot create link %s", name);
		close(pfd);
		return -1;
	}
	close(pfd);
	return remember_link(c, name);
}

static int make_hardlink(struct ctx *c, const char *name, char *target)
{
	int sfd, dfd, rc = 0;

	target = clean_name(target);
	if (!fs_path_is_contained(target))
		return err_set(c->e, ERR_CORRUPT,
			       "%s: hard link '%s' -> '%s' points outside the box", c->archive,
			       name, target);
	sfd = mkdirs_beneath(c->dirfd, target, false, c->e);
	if (sfd < 0)
		return err_wrap(c->e, "%s", c->archive);
	dfd = mkdirs_beneath(c->dirfd, name, false, c->e);
	if (dfd < 0) {
		close(sfd);
		return err_wrap(c->e, "%s", c->archive);
	}
	/* flags 0: linkat never follows a symlink in the last component, so a hard link to a
	 * symlink is a second symlink, whose target now resolves from name's directory */
	{
		char lt[PATH_MAX];
		struct stat st;
		ssize_t n;

		if (fstatat(sfd, base_of(target), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode)) {
			n = readlinkat(sfd, base_of(target), lt, sizeof(lt) - 1);
			if (n >= 0)
				lt[n] = '\0';
			if (n < 0 || !link_target_contained(name, lt)) {
				rc = err_set(c->e, ERR_CORRUPT,
					     "%s: link '%s' -> '%s' points outside the box",
					     c->archive, name, n < 0 ? "" : lt);
				goto out;
			}
		}
	}
	if (linkat(sfd, base_of(target), dfd, base_of(name), 0) < 0)
		rc = err_sys(c->e, "%s: cannot link '%s' to '%s'", c->archive, name, target);
	else
		rc = remember_link(c, name); /* a hard link to a symlink is one too */
out:
	close(sfd);
	close(dfd);
	return rc;
}

static int extract_entry(struct ctx *c, struct archive_entry *ent)
{
	const char *raw = archive_entry_pathname(ent);
	char *copy, *name;
	int rc = 0;

	if (!raw || !*raw)
		return err_set(c->e, ERR_CORRUPT, "%s: an entry has no name", c->archive);
	if (raw[0] == '/')
		return err_set(c->e, ERR_CORRUPT, "%s: entry '%s' has an absolute path", c->archive,
			       raw);
	copy = strdup(raw);
	if (!copy)
		return err_set(c->e, ERR_FAIL, "out of memory");
	name = clean_name(copy);
	if (!strcmp(name, ".") || !*name)
		goto out; /* the top directory itself */
	if (!fs_path_is_contained(name)) {
		rc = err_set(c->e, ERR_CORRUPT, "%s: entry '%s' leaves the box ('..')", c->archive,
			     raw);
		goto out;
	}
	if (archive_entry_hardlink(ent)) {
		char *t = strdup(archive_entry_hardlink(ent));

		rc = t ? make_hardlink(c, name, t) : err_set(c->e, ERR_FAIL, "out of memory");
		free(t);
		goto out;
	}
	switch (archive_entry_filetype(ent)) {
	case AE_IFDIR: {
		int fd = mkdirs_beneath(c->dirfd, name, true, c->e);

		rc = fd < 0 ? err_wrap(c->e, "%s", c->archive) : close(fd);
		break;
	}
	case AE_IFREG: rc = write_file(c, name, ent); break;
	case AE_IFLNK: rc = make_symlink(c, name, archive_entry_symlink(ent)); break;
	default:
		rc = err_set(
			c->e, ERR_CORRUPT,
			"%s: entry '%s' is a device node, FIFO or socket; boxes hold files only",
			c->archive, raw);
	}
out:
	free(copy);
	return rc;
}

/* Sets c up for dir and a new reader with every format and filter a box may use. */
static int begin(struct ctx *c, const char *dir, const struct extract_limits *lim)
{
	c->max_entry = lim && lim->max_entry ? lim->max_entry : EXTRACT_DEFAULT_MAX_ENTRY;
	c->max_total = lim && lim->max_total ? lim->max_total : EXTRACT_DEFAULT_MAX_TOTAL;
	c->max_entries = lim && lim->max_entries ? lim->max_entries : EXTRACT_DEFAULT_MAX_ENTRIES;
	c->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0)
		return err_sys(c->e, "cannot open %s", dir);
	c->a = archive_read_new();
	if (!c->a) {
		close(c->dirfd);
		return err_set(c->e, ERR_FAIL, "out of memory");
	}
	archive_read_support_format_tar(c->a);
	archive_read_support_format_gnutar(c->a);
	archive_read_support_format_zip(c->a);
	archive_read_support_filter_gzip(c->a);
	archive_read_support_filter_bzip2(c->a);
	archive_read_support_filter_xz(c->a);
	archive_read_support_filter_zstd(c->a);
	return 0;
}

/* Every entry of the opened archive, then the links; frees the reader. */
static int extract_all(struct ctx *c, int opened)
{
	struct archive_entry *ent;
	unsigned count = 0;
	int r, rc = -1;

	if (opened != ARCHIVE_OK) {
		err_set(c->e, ERR_CORRUPT,
			"%s: not a box archive (tar, tar.gz, tar.xz, tar.zst, zip): %s", c->archive,
			archive_error_string(c->a));
		goto out;
	}
	while ((r = archive_read_next_header(c->a, &ent)) == ARCHIVE_OK) {
		if (++count > c->max_entries) {
			err_set(c->e, ERR_CORRUPT, "%s: more than %u entries", c->archive,
				c->max_entries);
			goto out;
		}
		if (extract_entry(c, ent) < 0)
			goto out;
	}
	if (r != ARCHIVE_EOF) {
		err_set(c->e, ERR_CORRUPT, "%s: %s", c->archive, archive_error_string(c->a));
		goto out;
	}
	if (count == 0) {
		err_set(c->e, ERR_CORRUPT, "%s: the archive is empty", c->archive);
		goto out;
	}
	rc = check_links(c);
out:
	for (size_t i = 0; i < c->nlinks; i++)
		free(c->links[i]);
	free(c->links);
	archive_read_free(c->a);
	close(c->dirfd);
	return rc;
}

int extract_archive(const char *archive, const char *dir, const struct extract_limits *lim,
		    const struct extract_hook *hook, const struct progress *p, struct err *e)
{
	struct ctx c = {.archive = archive, .p = p, .hook = hook, .e = e};
	struct stat st;

	if (stat(archive, &st) == 0)
		c.archive_size = (uint64_t)st.st_size;
	if (begin(&c, dir, lim) < 0)
		return -1;
	return extract_all(&c, archive_read_open_filename(c.a, archive, 1 << 20));
}

struct source_reader {
	const struct extract_source *src;
	char buf[1 << 20];
};

static la_ssize_t source_read(struct archive *a, void *ud, const void **out)
{
	struct source_reader *sr = ud;
	ssize_t n = sr->src->read(sr->src->ctx, sr->buf, sizeof(sr->buf));

	if (n < 0) {
		archive_set_error(a, EIO, "the archive broke off while it arrived");
		return -1;
	}
	*out = sr->buf;
	return n;
}

int extract_archive_from(const struct extract_source *src, const char *dir,
			 const struct extract_limits *lim, const struct extract_hook *hook,
			 struct err *e)
{
	struct ctx c = {.archive = src->name, .hook = hook, .e = e};
	struct source_reader *sr = malloc(sizeof(*sr));
	int rc;

	if (!sr)
		return err_set(e, ERR_FAIL, "out of memory");
	sr->src = src;
	if (begin(&c, dir, lim) < 0) {
		free(sr);
		return -1;
	}
	rc = extract_all(&c, archive_read_open(c.a, sr, NULL, source_read, NULL));
	free(sr);
	return rc;
}
