#include "boxes/boxfile.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"

#define BOXFILE_COPY_BUF (1u << 20)

struct sink {
	int fd;
	uint64_t off;
	struct hash *h;
	struct err *e;
	bool failed;
};

static la_ssize_t sink_write(struct archive *a, void *ud, const void *buf, size_t len)
{
	struct sink *s = ud;

	(void)a;
	if (fs_pwrite_all(s->fd, buf, len, (off_t)s->off) < 0) {
		s->failed = true;
		err_sys(s->e, "cannot write the box");
		return -1;
	}
	if (hash_update(s->h, buf, len, s->e) < 0) {
		s->failed = true;
		return -1;
	}
	s->off += len;
	return (la_ssize_t)len;
}

static int add_member(struct archive *a, const struct boxfile_member *m, char *buf, struct err *e)
{
	struct archive_entry *ent = archive_entry_new();
	int fd = -1, rc = -1;
	uint64_t size;
	struct stat st;

	if (!ent)
		return err_set(e, ERR_FAIL, "out of memory");
	if (m->path) {
		fd = open(m->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			if (fd >= 0)
				errno = EINVAL;
			err_sys(e, "cannot read %s", m->path);
			goto out;
		}
		size = (uint64_t)st.st_size;
	} else {
		size = strlen(m->data);
	}
	archive_entry_set_pathname(ent, m->name);
	archive_entry_set_filetype(ent, AE_IFREG);
	archive_entry_set_perm(ent, 0644);
	archive_entry_set_size(ent, (la_int64_t)size);
	archive_entry_set_mtime(ent, time(NULL), 0);
	if (archive_write_header(a, ent) != ARCHIVE_OK) {
		err_set(e, ERR_IO, "%s: %s", m->name, archive_error_string(a));
		goto out;
	}
	if (!m->path) {
		if (archive_write_data(a, m->data, size) != (la_ssize_t)size)
			goto werr;
	} else {
		for (uint64_t done = 0; done < size;) {
			ssize_t n = pread(fd, buf, BOXFILE_COPY_BUF, (off_t)done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				err_sys(e, "cannot read %s", m->path);
				goto out;
			}
			if (archive_write_data(a, buf, (size_t)n) != n)
				goto werr;
			done += (uint64_t)n;
		}
	}
	rc = 0;
	goto out;
werr:
	if (!e->msg[0])
		err_set(e, ERR_IO, "%s: %s", m->name, archive_error_string(a));
out:
	if (fd >= 0)
		close(fd);
	archive_entry_free(ent);
	return rc;
}

int boxfile_write(const char *out, const struct boxfile_member *m, size_t n, char *hex,
		  uint64_t *size, struct err *e)
{
	struct sink s = {.e = e, .fd = -1};
	struct archive *a = NULL;
	struct fs_temp t = {.fd = -1};
	char *buf = malloc(BOXFILE_COPY_BUF);
	int rc = -1;

	err_clear(e);
	if (!buf)
		return err_set(e, ERR_FAIL, "out of memory");
	if (fs_temp_create(out, 0644, &t, e) < 0)
		goto out;
	s.fd = t.fd;
	if (hash_new(HASH_SHA256, &s.h, e) < 0)
		goto out;
	a = archive_write_new();
	if (!a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open(a, &s, NULL, sink_write, NULL) != ARCHIVE_OK) {
		err_set(e, ERR_FAIL, "cannot start the box archive: %s",
			a ? archive_error_string(a) : "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (add_member(a, &m[i], buf, e) < 0)
			goto out;
	if (archive_write_close(a) != ARCHIVE_OK || s.failed) {
		if (!s.failed)
			err_set(e, ERR_IO, "%s: %s", out, archive_error_string(a));
		goto out;
	}
	if (fsync(s.fd) < 0) {
		err_sys(e, "cannot write %s", out);
		goto out;
	}
	if (hash_final_hex(s.h, hex, e) < 0)
		goto out;
	if (fs_temp_commit(&t, true, e) < 0)
		goto out;
	*size = s.off;
	rc = 0;
out:
	if (a)
		archive_write_free(a);
	fs_temp_discard(&t);
	hash_free(s.h);
	free(buf);
	return rc;
}

int boxfile_read_member(const char *archive, const char *name, size_t max, char **out, size_t *len,
			struct err *e)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ent;
	int r, rc = -1;

	if (!a)
		return err_set(e, ERR_FAIL, "out of memory");
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	archive_read_support_format_zip(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_zstd(a);
	if (archive_read_open_filename(a, archive, 1 << 16) != ARCHIVE_OK) {
		err_set(e, ERR_CORRUPT, "%s: %s", archive, archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &ent)) == ARCHIVE_OK) {
		const char *p = archive_entry_pathname(ent);
		la_int64_t sz = archive_entry_size(ent);

		if (p && !strncmp(p, "./", 2))
			p += 2;
		if (!p || strcmp(p, name) || archive_entry_filetype(ent) != AE_IFREG)
			continue;
		if (sz < 0 || (uint64_t)sz > max) {
			err_set(e, ERR_CORRUPT, "%s: %s is larger than %zu bytes", archive, name,
				max);
			goto out;
		}
		*out = malloc((size_t)sz + 1);
		if (!*out) {
			err_set(e, ERR_FAIL, "out of memory");
			goto out;
		}
		if (archive_read_data(a, *out, (size_t)sz) != sz) {
			free(*out);
			err_set(e, ERR_CORRUPT, "%s: cannot read %s: %s", archive, name,
				archive_error_string(a));
			goto out;
		}
		(*out)[sz] = '\0';
		if (len)
			*len = (size_t)sz;
		rc = 0;
		goto out;
	}
	if (r == ARCHIVE_EOF)
		err_set(e, ERR_NOTFOUND, "%s: the box has no %s", archive, name);
	else
		err_set(e, ERR_CORRUPT, "%s: %s", archive, archive_error_string(a));
out:
	archive_read_free(a);
	return rc;
}
