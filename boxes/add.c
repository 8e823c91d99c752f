#include "boxes/add.h"

#include <dirent.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "boxes/boxmeta.h"
#include "boxes/catalog.h"
#include "boxes/extract.h"
#include "boxes/follow.h"
#include "boxes/image.h"
#include "boxes/registry.h"
#include "boxes/vmdk_stream.h"
#include "core/fsutil.h"
#include "core/hash.h"
#include "core/http.h"
#include "core/url.h"

/* What resolution decided to install. */
struct plan {
	char *name;
	char *version;	/* "0" for a box URL or file, as Vagrant does */
	char *provider; /* NULL for a box URL or file: read from its metadata.json */
	char *arch;
	char *url;	   /* the box file */
	char *catalog_url; /* NULL for a box URL or file */
	char *checksum, *checksum_type;
	const char *token; /* for url, when it is on the registry that gave the catalog */
	char *registry;
};

static void plan_free(struct plan *p)
{
	free(p->name);
	free(p->version);
	free(p->provider);
	free(p->arch);
	free(p->url);
	free(p->catalog_url);
	free(p->checksum);
	free(p->checksum_type);
	free(p->registry);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void step(const struct box_add_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void step(const struct box_add_opts *o, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!o->step)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	o->step(o->step_ctx, buf);
}

static int sdup(char **dst, const char *s, struct err *e)
{
	*dst = NULL;
	if (!s)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : err_set(e, ERR_FAIL, "out of memory");
}

/* A remote URL is a box when its path ends like an archive; anything else is a catalog. */
static bool url_is_box(const char *url)
{
	static const char *const ext[] = {".box", ".tar", ".tgz", ".gz", ".xz",
					  ".zst", ".zip", ".bz2", NULL};
	size_t n = strcspn(url, "?#");

	for (const char *const *x = ext; *x; x++) {
		size_t l = strlen(*x);

		if (n > l && !strncasecmp(url + n - l, *x, l))
			return true;
	}
	return false;
}

/* A local file is a catalog when it starts (after blanks) with '{'. Anything but a regular
 * file is neither (a FIFO is never read, so it cannot hang us): http_download refuses it. */
static bool file_is_catalog(const char *path)
{
	int fd = fs_open_input(!strncasecmp(path, "file://", 7) ? path + 7 : path, false, NULL);
	char buf[512];
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	for (ssize_t i = 0; i < n; i++)
		if (!strchr(" \n\r\t", buf[i]))
			return buf[i] == '{';
	return false;
}

/* A catalog's box URL may be relative to the catalog itself: a remote catalog's as a browser
 * resolves links (RFC 3986, so "/x.box" is on the catalog's host), a local one's against its
 * directory. NULL on failure (e says why). */
static char *resolve_url(const char *catalog_url, const char *url, struct err *e)
{
	char *base, *out;
	const char *slash;

	if (http_is_remote(catalog_url)) {
		if (!strncasecmp(url, "file:", 5))
			return strdup(url); /* refused by the caller: a remote catalog's local file */
		if (url_resolve(catalog_url, url, &out, e) < 0) {
			if (e)
				e->code = ERR_CORRUPT;
			return NULL;
		}
		return out;
	}
	if (http_is_remote(url) || url[0] == '/' || !strncasecmp(url, "file://", 7))
		return strdup(url);
	slash = strrchr(catalog_url, '/');
	base = slash ? strndup(catalog_url, (size_t)(slash - catalog_url)) : strdup(".");
	if (!base)
		return NULL;
	if (asprintf(&out, "%s/%s", base, url) < 0)
		out = NULL;
	free(base);
	if (!out)
		err_set(e, ERR_FAIL, "out of memory");
	return out;
}

static bool same_registry(const char *registry, const char *url)
{
	return registry && *registry && url_is_under(registry, url);
}

/* The configured registry (with a token) that url lies under, for catalog URLs given directly
 * (and by envbox update): NULL when none. */
static const struct userconf_registry *configured_registry(const struct userconf *uc,
							   const char *url)
{
	for (size_t i = 0; uc && i < uc->nregistries; i++) {
		const char *r = uc->registries[i].url;

		if (uc->registries[i].token && url_is_under(r, url))
			return &uc->registries[i];
	}
	return NULL;
}

static int plan_from_catalog(const struct catalog *c, const char *catalog_url, const char *token,
			     const char *registry, const struct box_add_opts *o, struct plan *p,
			     struct err *e)
{
	struct catalog_query q = {
		.constraint = o->constraint,
		.provider = o->provider ? o->provider : (o->uc ? o->uc->box_provider : NULL),
		.arch = o->arch ? o->arch : (o->uc ? o->uc->box_arch : NULL),
	};
	struct catalog_choice ch;
	/* the name asked for: --name, else the registry name looked up */
	const char *asked = o->name ? o->name
				    : (!http_is_remote(o->source) && registry_name_valid(o->source)
					       ? o->source
					       : NULL);
	const char *name = asked ? asked : c->name;

	/* One registry entry may not install (a newer version of) another box: a catalog that
	 * calls itself something else than what was asked for is refused, as Vagrant does. */
	if (asked && c->name && strcmp(asked, c->name))
		return err_set(e, ERR_CORRUPT,
			       "%s: the catalog is for box '%s', not '%s'; nothing was installed",
			       catalog_url, c->name, asked);
	if (!name)
		return err_set(e, ERR_CORRUPT, "%s: the catalog has no \"name\"; pass --name",
			       catalog_url);
	if (!box_store_name_valid(name))
		return err_set(e, asked == o->name && o->name ? ERR_USAGE : ERR_CORRUPT,
			       "'%s' is not a valid box name", name);
	if (catalog_select(c, &q, &ch, e) < 0)
		return -1;
	if (sdup(&p->name, name, e) < 0 || sdup(&p->version, ch.version->version, e) < 0 ||
	    sdup(&p->provider, ch.provider->name, e) < 0 ||
	    sdup(&p->arch, ch.provider->architecture, e) < 0 ||
	    sdup(&p->catalog_url, catalog_url, e) < 0 || sdup(&p->registry, registry, e) < 0 ||
	    sdup(&p->checksum, o->checksum ? o->checksum : ch.provider->checksum, e) < 0 ||
	    sdup(&p->checksum_type, o->checksum ? o->checksum_type : ch.provider->checksum_type,
		 e) < 0)
		return -1;
	p->url = resolve_url(catalog_url, ch.provider->url, e);
	if (!p->url)
		return err_wrap(e, "%s: box url", catalog_url);
	/* A catalog from the network may not make envup read files on this machine. */
	if (http_is_remote(catalog_url) && !http_is_remote(p->url))
		return err_set(e, ERR_CORRUPT, "%s: box url '%s' is a local file; a remote "
			       "catalog may only name http(s) URLs", catalog_url, ch.provider->url);
	/* the token goes only to box URLs under the registry (http.c checks it again per hop) */
	p->token = registry && url_is_under(registry, p->url) ? token : NULL;
	return 0;
}

static int resolve(const struct box_add_opts *o, const struct http_opts *ho, struct plan *p,
		   struct err *e)
{
	const char *src = o->source;
	struct catalog *c = NULL;
	bool remote = http_is_remote(src);
	const char *local = !strncasecmp(src, "file://", 7) ? src + 7 : src;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!remote && !fs_exists(local) && registry_name_valid(src)) {
		struct registry_list rl;
		char *curl = NULL;
		const char *token = NULL;

		if (registry_list_build(o->registries, o->nregistries, o->uc, &rl, e) < 0)
			return -1;
		rc = registry_find(&rl, src, ho, &c, &curl, &token, e);
		if (rc == 0) {
			const char *reg = NULL;

			for (size_t i = 0; i < rl.n; i++)
				if (same_registry(rl.items[i].url, curl))
					reg = rl.items[i].url;
			rc = plan_from_catalog(c, curl, token, reg, o, p, e);
		}
		free(curl);
		catalog_free(c);
		registry_list_free(&rl);
		return rc;
	}
	if (remote ? !url_is_box(src) : file_is_catalog(local)) {
		char *body;
		size_t len;

		struct http_opts co = *ho;
		const struct userconf_registry *reg = configured_registry(o->uc, src);
		char *regurl = NULL;

		co.accept = "application/json"; /* servers that negotiate, as Vagrant asks */
		co.bearer = reg ? reg->token : NULL;
		co.bearer_scope = reg ? reg->url : NULL;
		if (http_get(src, &co, CATALOG_MAX_BYTES, &body, &len, e) < 0)
			return -1;
		rc = catalog_parse(body, len, src, &c, e);
		free(body);
		if (rc == 0 && reg) {
			size_t n = strlen(reg->url);

			while (n && reg->url[n - 1] == '/')
				n--;
			if (!(regurl = strndup(reg->url, n)))
				rc = err_set(e, ERR_FAIL, "out of memory");
		}
		if (rc == 0)
			rc = plan_from_catalog(c, src, reg ? reg->token : NULL, regurl, o, p, e);
		free(regurl);
		catalog_free(c);
		return rc;
	}
	if (!remote && !fs_exists(local))
		return err_set(e, ERR_NOTFOUND,
			       "'%s' is not a box name (ORG/BOX), a URL or an existing file", src);
	if (!o->name)
		return err_set(e, ERR_USAGE, "adding a box file or URL needs --name NAME");
	if (!box_store_name_valid(o->name))
		return err_set(e, ERR_USAGE, "'%s' is not a valid box name", o->name);
	if (o->constraint && *o->constraint)
		return err_set(e, ERR_USAGE,
			       "--box-version applies to catalogs; a box file has no versions");
	if (sdup(&p->name, o->name, e) < 0 || sdup(&p->version, "0", e) < 0 ||
	    sdup(&p->url, src, e) < 0 || sdup(&p->checksum, o->checksum, e) < 0 ||
	    sdup(&p->checksum_type, o->checksum_type, e) < 0)
		return -1;
	return 0;
}

static int write_record(const char *dir, const struct plan *p, const struct boxmeta *m,
			const char *source, struct err *e)
{
	struct json_object *r = json_object_new_object();
	char *path = fs_join(dir, BOX_RECORD_FILE);
	const char *s;
	int rc;

	if (!r || !path) {
		json_object_put(r);
		free(path);
		return err_set(e, ERR_FAIL, "out of memory");
	}
#define ADD_STR(k, v) json_object_object_add(r, k, (v) ? json_object_new_string(v) : NULL)
	ADD_STR("name", p->name);
	ADD_STR("version", p->version);
	ADD_STR("provider", p->provider);
	ADD_STR("architecture", p->arch);
	ADD_STR("source", source);
	ADD_STR("catalog_url", p->catalog_url);
	ADD_STR("registry", p->registry);
	ADD_STR("url", p->url);
	ADD_STR("checksum_type", p->checksum ? p->checksum_type : NULL);
	ADD_STR("checksum", p->checksum);
	ADD_STR("disk", "base.qcow2");
	ADD_STR("disk_source", m->disks[0].path);
	ADD_STR("kernel", m->kernel);
	ADD_STR("initrd", m->initrd);
	ADD_STR("cmdline", m->cmdline);
#undef ADD_STR
	json_object_object_add(r, "installed_at", json_object_new_int64((int64_t)time(NULL)));
	s = json_object_to_json_string_ext(r, JSON_C_TO_STRING_PRETTY |
						      JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = fs_write_atomic(path, s, strlen(s), 0644, e);
	json_object_put(r);
	free(path);
	return rc;
}

/* A header may claim any virtual size and conversion walks all of it: a tiny box must not keep
 * envbox add busy for days. The bound is the largest disk an Envfile may ask for. */
#define BOX_DISK_MAX (64ULL << 40)

/* Removes the regular files below dirfd (which it closes) that are one of ids: what the
 * converted disk read, whatever names it had. */
static void remove_files_by_id(int dirfd, const struct image_file_id *ids, size_t n,
			       unsigned depth)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *de;

	if (!d) {
		close(dirfd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < 8) {
			int sub = openat(dirfd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				remove_files_by_id(sub, ids, n, depth + 1);
			continue;
		}
		for (size_t i = 0; S_ISREG(st.st_mode) && i < n; i++)
			if (st.st_dev == ids[i].dev && st.st_ino == ids[i].ino)
				unlinkat(dirfd, de->d_name, 0);
	}
	closedir(d);
}

/* Stream VMDKs converted while the archive is read: the files they became (qcow2 now). */
struct streamed {
	struct image_file_id ids[8];
	size_t n;
	double secs;
};

static bool stream_claim(void *ctx, const char *name, const void *head, size_t len)
{
	struct streamed *st = ctx;

	(void)name;
	return st->n < sizeof(st->ids) / sizeof(st->ids[0]) && vmdk_stream_is(head, len);
}

static int stream_write(void *ctx, const char *name, int fd, struct extract_stream *s,
			struct err *e)
{
	struct streamed *st = ctx;
	struct stat sb;
	double t = now();

	if (vmdk_stream_to_qcow2(extract_stream_read, s, fd, name, BOX_DISK_MAX, e) < 0)
		return -1;
	if (fstat(fd, &sb) < 0)
		return err_sys(e, "cannot stat %s", name);
	st->ids[st->n].dev = sb.st_dev;
	st->ids[st->n++].ino = sb.st_ino;
	st->secs += now() - t;
	return 0;
}

static bool was_streamed(const struct streamed *st, const char *path)
{
	struct stat sb;

	if (!st || lstat(path, &sb) < 0)
		return false;
	for (size_t i = 0; i < st->n; i++)
		if (st->ids[i].dev == sb.st_dev && st->ids[i].ino == sb.st_ino)
			return true;
	return false;
}

/* A plain qcow2 that passes the image library's whole-file check becomes base.qcow2 by
 * rename: the same inode, nothing copied. Durable before the store commits it, as a converted
 * disk is. */
static int adopt_main_disk(const char *src, const char *final, struct err *e)
{
	int fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || fdatasync(fd) < 0) {
		err_sys(e, "cannot sync %s", src);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (rename(src, final) < 0)
		return err_sys(e, "cannot rename %s", src);
	return 0;
}

/* The main disk becomes base.qcow2: adopted when it is a plain qcow2 the whole-file check
 * accepts, else converted (never trusted as it is, so no backing file or data file of the
 * box's survives), and the original removed. */
static int convert_main_disk(const char *work, const struct boxmeta *m, const struct progress *prog,
			     const struct streamed *streamed, struct box_add_result *r,
			     struct err *e)
{
	char *src = fs_join(work, m->disks[0].path), *dst = fs_join(work, "base.qcow2.new");
	char *final = fs_join(work, "base.qcow2");
	enum image_format fmt = m->disks[0].fmt;
	struct image_file_id ids[2 * IMAGE_MAX_FILES];
	size_t nids = 0;
	int rc = -1;

	if (!src || !dst || !final) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	/* converted while extracted: a qcow2 of our own writer, checked again like any other */
	if (was_streamed(streamed, src)) {
		if (fmt != IMAGE_UNKNOWN && fmt != IMAGE_VMDK) {
			err_set(e, ERR_CORRUPT,
				"box disk %s: metadata says %s, but it is a stream VMDK",
				m->disks[0].path, image_format_name(fmt));
			goto out;
		}
		fmt = IMAGE_QCOW2;
		r->streamed = true;
	}
	if (fmt == IMAGE_UNKNOWN && image_detect(src, &fmt, e) < 0) {
		err_wrap(e, "box disk %s", m->disks[0].path);
		goto out;
	}
	if (fmt == IMAGE_QCOW2) {
		struct err why = {0};

		if (image_qcow2_adoptable(src, BOX_DISK_MAX, &why)) {
			rc = adopt_main_disk(src, final, e);
			r->adopted = rc == 0;
			goto out;
		}
		snprintf(r->not_adopted, sizeof(r->not_adopted), "%s", why.msg);
	}
	/* every file the disk reads (a split VMDK's extents too) goes once it is converted */
	{
		struct image_open_opts oo = {.follow_refs = true};
		struct image *img;

		if (image_open(src, fmt, &oo, &img, e) < 0) {
			err_wrap(e, "box disk %s", m->disks[0].path);
			goto out;
		}
		nids = image_file_ids(img, ids, sizeof(ids) / sizeof(ids[0]));
		image_close(img);
		/* the box's other disks stay, even one that is this disk's backing file */
		for (size_t k = 1; k < m->ndisks; k++) {
			char *other = fs_join(work, m->disks[k].path);
			struct stat st;

			for (size_t i = 0; other && stat(other, &st) == 0 && i < nids;)
				if (ids[i].dev == st.st_dev && ids[i].ino == st.st_ino)
					ids[i] = ids[--nids];
				else
					i++;
			free(other);
		}
	}
	if (image_convert(src, fmt, dst, IMAGE_QCOW2, BOX_DISK_MAX, prog, e) < 0) {
		err_wrap(e, "converting box disk %s (%s) to qcow2", m->disks[0].path,
			 image_format_name(fmt));
		goto out;
	}
	if (unlink(src) < 0) {
		err_sys(e, "cannot remove %s", src);
		goto out;
	}
	{
		int wfd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (wfd >= 0)
			remove_files_by_id(wfd, ids, nids, 0);
	}
	if (rename(dst, final) < 0) {
		err_sys(e, "cannot rename %s", dst);
		goto out;
	}
	rc = 0;
out:
	free(src);
	free(dst);
	free(final);
	return rc;
}

/* Download and verify: the checksum is computed while the bytes arrive. A remote box is also
 * unpacked into work while it arrives (boxes/follow.h): *unpacked says whether that gave the
 * whole archive. */
static int fetch(const struct box_store *s, const struct plan *p, const struct http_opts *ho,
		 const struct box_add_opts *o, const char *work, const struct extract_hook *hook,
		 struct http_download *d, bool *unpacked, struct box_add_result *r, struct err *e)
{
	struct http_opts bo = *ho;
	struct follow *f = NULL;
	struct err why = {0};
	int rc;
	struct hash *h = NULL;
	enum hash_algo algo;
	char actual[HASH_HEX_MAX];
	double t;

	if (p->checksum && !p->checksum_type)
		return err_set(e, ERR_USAGE, "--checksum needs --checksum-type");
	if (p->checksum && hash_algo_from_name(p->checksum_type, &algo, e) < 0) {
		/* the catalog's mistake is not a usage error (exit 2 is for the command line) */
		if (!o->checksum) {
			e->code = ERR_CORRUPT;
			err_wrap(e, "%s", p->catalog_url ? p->catalog_url : p->url);
		}
		return -1;
	}
	if (p->checksum && hash_new(algo, &h, e) < 0)
		return -1;
	bo.bearer = p->token;
	bo.bearer_scope = p->registry;
	bo.progress = o->download;
	/* a box larger than what extraction accepts could never be installed */
	bo.max_bytes = EXTRACT_DEFAULT_MAX_TOTAL;
	/* the archive is read at once and removed after install: writing it back to disk
	 * would only double the I/O of an add (a crash leaves a partial to resume, and the
	 * checksum still judges what was kept) */
	bo.defer_sync = true;
	*unpacked = false;
	if (http_is_remote(p->url) && follow_start(work, p->url, hook, &bo, &f, e) < 0) {
		hash_free(h);
		return -1;
	}
	if (f && o->download_unpack)
		bo.progress = o->download_unpack;
	step(o, "%s %s", http_is_remote(p->url) ? "downloading" : "reading", p->url);
	t = now();
	rc = http_download(p->url, s->cache, &bo, h, d, e);
	r->secs_download = now() - t;
	if (f) {
		t = now();
		*unpacked = follow_finish(f, rc == 0, &why) == 0 && rc == 0;
		r->secs_extract = now() - t;
		if (!*unpacked && rc == 0)
			step(o, "unpacking after the download (%s)", why.msg);
	}
	if (rc < 0) {
		hash_free(h);
		return -1;
	}
	r->archive_bytes = d->size;
	r->fetched = d->fetched;
	r->resumed_from = d->resumed_from;
	if (!h)
		return 0;
	t = now();
	if (hash_final_hex(h, actual, e) < 0) {
		hash_free(h);
		return -1;
	}
	hash_free(h);
	r->secs_verify = now() - t;
	if (!hash_hex_equal(actual, p->checksum)) {
		if (d->in_cache)
			http_download_forget(p->url, s->cache);
		return err_set(e, ERR_CORRUPT,
			       "%s: checksum mismatch: expected %s %s, got %s; nothing was "
			       "installed",
			       p->url, p->checksum_type, p->checksum, actual);
	}
	return 0;
}

/* Unpacks the downloaded box into work unless that was done while it arrived (unpacked),
 * checks it and commits it to the store. */
static int install(const struct box_store *s, struct plan *p, const struct box_add_opts *o,
		   const struct http_download *d, char **work, bool unpacked,
		   const struct extract_hook *hook, struct streamed *st, struct box_add_result *r,
		   struct err *e)
{
	struct boxmeta m;
	double t = now();
	int rc = -1;

	if (!unpacked) {
		/* a fresh directory where a broken follow may have left part of the archive */
		if (http_is_remote(p->url)) {
			st->n = 0;
			st->secs = 0;
			free(*work);
			*work = NULL;
			if (box_store_workdir(s, p->name, work, e) < 0)
				return -1;
		}
		step(o, "extracting %s", p->url);
		if (extract_archive(d->path, *work, NULL, hook, o->extract, e) < 0)
			goto out;
		r->secs_extract = 0;
	}
	/* "users" holds the store's records of the machines built on the box: a box that
	 * brought its own could claim users it does not have (and block its removal) */
	{
		char *users = fs_join(*work, "users");
		bool planted = !users || fs_exists(users);

		free(users);
		if (planted) {
			err_set(e, ERR_CORRUPT,
				"%s: the box holds 'users', a name the box store keeps for itself",
				p->url);
			goto out;
		}
	}
	if (boxmeta_read(*work, &m, e) < 0) {
		err_wrap(e, "%s", p->url);
		goto out;
	}
	/* a stream VMDK converted while unpacking after the download counts as converting;
	 * while the download ran, its time is the download's */
	r->secs_extract += now() - t - (unpacked ? 0 : st->secs);
	r->secs_convert = unpacked ? 0 : st->secs;
	if (p->provider && strcmp(p->provider, m.provider)) {
		err_set(e, ERR_CORRUPT,
			"%s: the catalog says provider '%s' but the box's "
			"metadata.json says '%s'",
			p->url, p->provider, m.provider);
		goto meta;
	}
	if (!p->provider) {
		if (o->provider && strcmp(o->provider, m.provider)) {
			err_set(e, ERR_USAGE, "%s is a '%s' box, not '%s'", p->url, m.provider,
				o->provider);
			goto meta;
		}
		if (sdup(&p->provider, m.provider, e) < 0 ||
		    sdup(&p->arch, m.architecture ? m.architecture : "unknown", e) < 0)
			goto meta;
	}
	if (!box_store_name_valid(p->arch) || strchr(p->arch, '/') || strchr(p->provider, '-')) {
		err_set(e, ERR_CORRUPT, "%s: unusable provider '%s' or architecture '%s'", p->url,
			p->provider, p->arch);
		goto meta;
	}
	step(o, "installing %s as base.qcow2", m.disks[0].path);
	t = now();
	if (convert_main_disk(*work, &m, o->convert, st, r, e) < 0)
		goto meta;
	r->secs_convert += now() - t;
	if (write_record(*work, p, &m, o->source, e) < 0 ||
	    box_store_commit(s, *work, p->name, p->version, p->provider, p->arch, o->force, e) < 0)
		goto meta;
	rc = 0;
meta:
	boxmeta_free(&m);
out:
	return rc;
}

int box_add(const struct box_store *s, const struct box_add_opts *o, struct box_add_result *r,
	    struct err *e)
{
	struct http_opts ho = {.cacert = o->cacert,
			       .insecure = o->insecure,
			       .retries = -1,
			       .trace = o->trace,
			       .trace_ctx = o->trace_ctx};
	struct http_download d = {0};
	struct plan p;
	struct streamed st = {.n = 0};
	/* streamOptimized VMDKs (virtualbox boxes) never reach the disk as VMDKs */
	struct extract_hook hook = {".vmdk", stream_claim, stream_write, &st};
	char *work = NULL;
	bool unpacked = false;
	double t = now();
	int lock, rc = -1;

	memset(r, 0, sizeof(*r));
	if (o->checksum && !o->checksum_type)
		return err_set(e, ERR_USAGE, "--checksum needs --checksum-type");
	if (resolve(o, &ho, &p, e) < 0) {
		plan_free(&p);
		return -1;
	}
	r->secs_resolve = now() - t;
	box_store_sweep(s); /* a killed add's work directory goes with the next add */
	/* One add of a name at a time: a second add waits here, then finds the box installed. */
	lock = box_store_lock(s, p.name, false, NULL);
	if (lock < 0) {
		step(o, "waiting for another envbox add or remove of '%s'", p.name);
		lock = box_store_lock(s, p.name, true, e);
	}
	if (lock < 0) {
		plan_free(&p);
		return -1;
	}
	if (!o->force &&
	    box_store_find(s, p.name, p.provider ? p.version : "0", p.provider,
			   p.provider ? p.arch : o->arch, &r->box, NULL) == 0 &&
	    !strcmp(r->box.version, p.version)) {
		r->already_installed = true;
		rc = 0;
		goto out;
	}
	box_entry_free(&r->box);
	if (box_store_workdir(s, p.name, &work, e) < 0 ||
	    fetch(s, &p, &ho, o, work, &hook, &d, &unpacked, r, e) < 0)
		goto out;
	r->unpacked_while_downloading = unpacked;
	rc = install(s, &p, o, &d, &work, unpacked, &hook, &st, r, e);
	/* The archive is no longer needed once installed; a bad archive is no use either.
	 * Network failures never get here, so their partial download stays for a resume. */
	if (d.in_cache)
		http_download_forget(p.url, s->cache);
	if (rc == 0)
		rc = box_store_find(s, p.name, p.version, p.provider, p.arch, &r->box, e);
out:
	if (work && rc < 0)
		fs_remove_tree(work, NULL);
	free(work);
	http_download_free(&d);
	box_store_unlock(lock);
	plan_free(&p);
	return rc;
}

int box_ensure(const struct box_store *s, const struct box_add_opts *o, struct box_entry *out,
	       bool *added, struct err *e)
{
	const char *name = o->name ? o->name : o->source;
	struct box_add_result r;

	*added = false;
	if (box_store_find(s, name, o->constraint, o->provider, o->arch, out, NULL) == 0)
		return 0;
	if (box_add(s, o, &r, e) < 0)
		return -1;
	*added = !r.already_installed;
	*out = r.box; /* ownership moves to the caller */
	return 0;
}

void box_add_result_free(struct box_add_result *r)
{
	box_entry_free(&r->box);
}
