#include "boxes/publish.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "boxes/boxfile.h"
#include "boxes/catalog.h"
#include "boxes/publish_impl.h"
#include "boxes/registry.h"
#include "core/fsutil.h"
#include "core/version.h"

#define COPY_CHUNK (8u << 20)

struct publish_hash {
	pthread_t thread;
	const char *path;
	struct hash *h;
	struct err e;
	int rc;
};

/* The checksum is read from the page cache on its own thread while the bytes go out, so it
 * costs no time on the path of the upload (or the copy). */
static void *hash_thread(void *arg)
{
	struct publish_hash *p = arg;

	p->rc = hash_file(p->h, p->path, &p->e);
	return NULL;
}

int publish_hash_start(const char *path, struct publish_hash **out, struct err *e)
{
	struct publish_hash *p = calloc(1, sizeof(*p));

	if (!p)
		return err_set(e, ERR_FAIL, "out of memory");
	p->path = path;
	if (hash_new(HASH_SHA256, &p->h, e) < 0) {
		free(p);
		return -1;
	}
	if (pthread_create(&p->thread, NULL, hash_thread, p) != 0) {
		hash_free(p->h);
		free(p);
		return err_set(e, ERR_FAIL, "cannot start the checksum thread");
	}
	*out = p;
	return 0;
}

int publish_hash_join(struct publish_hash *p, char *hex, struct err *e)
{
	int rc;

	pthread_join(p->thread, NULL);
	rc = p->rc;
	if (rc < 0)
		*e = p->e;
	else
		rc = hash_final_hex(p->h, hex, e);
	hash_free(p->h);
	free(p);
	return rc;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void step(const struct box_publish_opts *o, const char *what, const char *where)
{
	char buf[1200];

	if (!o->step)
		return;
	snprintf(buf, sizeof(buf), "%s %s", what, where);
	o->step(o->step_ctx, buf);
}

/* A provider or architecture becomes part of a file name: a plain word only. */
static bool word_ok(const char *s)
{
	if (!*s || *s == '.' || strlen(s) >= 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.'))
			return false;
	return true;
}

/* Provider and architecture: the options', else the box's metadata.json. */
static int box_identity(const struct box_publish_opts *o, struct box_publish_result *r,
			struct err *e)
{
	struct json_object *root = NULL, *v;
	char *meta = NULL;
	size_t len;

	r->provider = o->provider;
	r->arch = o->arch;
	if (!r->provider || !r->arch) {
		if (boxfile_read_member(o->file, "metadata.json", 1 << 20, &meta, &len, e) < 0)
			return err_wrap(e, "%s is not a box", o->file);
		root = json_tokener_parse(meta);
		free(meta);
		if (!root)
			return err_set(e, ERR_CORRUPT, "%s: metadata.json is not JSON", o->file);
		if (!r->provider && json_object_object_get_ex(root, "provider", &v) &&
		    json_object_is_type(v, json_type_string)) {
			snprintf(r->provider_buf, sizeof(r->provider_buf), "%s",
				 json_object_get_string(v));
			r->provider = r->provider_buf;
		}
		if (!r->arch) {
			bool has = json_object_object_get_ex(root, "architecture", &v) &&
				   json_object_is_type(v, json_type_string);

			snprintf(r->arch_buf, sizeof(r->arch_buf), "%s",
				 has ? json_object_get_string(v) : "unknown");
			r->arch = r->arch_buf;
		}
		json_object_put(root);
	}
	if (!r->provider)
		return err_set(e, ERR_CORRUPT, "%s: metadata.json has no provider; pass --provider",
			       o->file);
	if (!word_ok(r->provider) || !word_ok(r->arch))
		return err_set(e, ERR_USAGE,
			       "provider '%s' or architecture '%s' is not a plain word (letters, "
			       "digits, '_', '.')",
			       r->provider, r->arch);
	return 0;
}

/* Copies the box into the directory registry: a temporary name, then rename. */
static int dir_copy(const struct box_publish_opts *o, const char *dst, struct box_publish_result *r,
		    struct err *e)
{
	int in = open(o->file, O_RDONLY | O_CLOEXEC), rc = -1;
	struct fs_temp out = {.fd = -1};
	char *dir = fs_dirname(dst);
	struct publish_hash *h = NULL;
	struct err he = {0};
	uint64_t done = 0;

	if (in < 0)
		return err_sys(e, "cannot open %s", o->file);
	if (!dir || fs_mkdir_p(dir, 0755, e) < 0)
		goto out;
	if (fs_temp_create(dst, 0644, &out, e) < 0 || publish_hash_start(o->file, &h, e) < 0)
		goto out;
	while (done < r->size) {
		ssize_t n = copy_file_range(in, NULL, out.fd, NULL, COPY_CHUNK, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err_sys(e, "cannot copy %s to %s", o->file, dst);
			goto out;
		}
		done += (uint64_t)n;
	}
	if (fsync(out.fd) < 0) {
		err_sys(e, "cannot write %s", dst);
		goto out;
	}
	if (publish_hash_join(h, r->sha256, &he) < 0) {
		h = NULL;
		*e = he;
		goto out;
	}
	h = NULL;
	rc = fs_temp_commit(&out, true, e);
out:
	if (h)
		publish_hash_join(h, r->sha256, &he);
	fs_temp_discard(&out);
	close(in);
	free(dir);
	return rc;
}

/* The catalog of a directory registry, rewritten under its lock file. */
static int dir_catalog(const struct box_publish_opts *o, const struct catalog_release *rel,
		       char *catalog, bool precheck, struct err *e)
{
	char *lockp = NULL, *body = NULL, *out = NULL, *slash;
	size_t len = 0;
	int fd = -1, rc = -1;

	slash = strrchr(catalog, '/');
	if (asprintf(&lockp, "%.*s/.%s.lock", (int)(slash - catalog), catalog, slash + 1) < 0)
		return err_set(e, ERR_FAIL, "out of memory");
	*slash = '\0'; /* the org's directory, made on first use */
	rc = fs_mkdir_p(catalog, 0755, e);
	*slash = '/';
	if (rc < 0) {
		free(lockp);
		return -1;
	}
	rc = -1;
	fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		err_sys(e, "cannot lock %s", lockp);
		goto out;
	}
	if (fs_exists(catalog) && fs_read_file(catalog, CATALOG_MAX_BYTES, &body, &len, e) < 0)
		goto out;
	if (precheck) {
		if (catalog_has_release(body, len, rel) && !o->force)
			err_set(e, ERR_EXISTS,
				"%s already has '%s' version %s for %s (%s); pass --force to "
				"replace it",
				catalog, rel->name, rel->version, rel->provider, rel->arch);
		else
			rc = 0;
		goto out;
	}
	if (catalog_edit_add(body, len, catalog, rel, o->force, &out, e) < 0 ||
	    fs_write_atomic(catalog, out, strlen(out), 0644, e) < 0)
		goto out;
	rc = 0;
out:
	if (fd >= 0)
		close(fd); /* drops the lock */
	free(lockp);
	free(body);
	free(out);
	return rc;
}

static int check_args(const struct box_publish_opts *o, struct box_publish_result *r, struct err *e)
{
	struct version v;
	struct stat st;

	if (!registry_name_valid(o->name))
		return err_set(e, ERR_USAGE, "--name '%s' is not a box name (ORG/BOX)", o->name);
	if (version_parse(o->version, &v, e) < 0)
		return err_wrap(e, "--box-version");
	if (stat(o->file, &st) < 0)
		return err_sys(e, "cannot open %s", o->file);
	if (!S_ISREG(st.st_mode))
		return err_set(e, ERR_USAGE, "%s is not a box file", o->file);
	r->size = (uint64_t)st.st_size;
	return box_identity(o, r, e);
}

static int publish(const struct box_publish_opts *o, struct box_publish_result *r, struct err *e)
{
	bool remote = http_is_remote(o->registry);
	size_t n = strlen(o->registry);
	const char *base = strchr(o->name, '/') + 1;
	char rel_url[512];
	struct catalog_release rel;
	double t;

	memset(r, 0, sizeof(*r));
	if (check_args(o, r, e) < 0)
		return -1;
	while (n > 1 && o->registry[n - 1] == '/')
		n--;
	snprintf(rel_url, sizeof(rel_url), "%s/%s/%s-%s.box", base, o->version, r->provider,
		 r->arch);
	if (asprintf(&r->catalog_url, "%.*s/%s.json", (int)n, o->registry, o->name) < 0 ||
	    asprintf(&r->box_url, "%.*s/%.*s/%s", (int)n, o->registry, (int)(base - 1 - o->name),
		     o->name, rel_url) < 0)
		return err_set(e, ERR_FAIL, "out of memory");
	rel = (struct catalog_release){
		.name = o->name,
		.version = o->version,
		.provider = r->provider,
		.arch = r->arch,
		/* a directory registry's catalog names its boxes relative to itself, so that it
		 * works wherever the share is mounted; a server's, absolutely (Vagrant wants
		 * that) */
		.url = remote ? r->box_url : rel_url,
		.checksum_type = "sha256",
		.checksum = r->sha256,
		.description = o->description,
	};
	if (remote ? publish_http_precheck(o, &rel, r->catalog_url, e) < 0
		   : dir_catalog(o, &rel, r->catalog_url, true, e) < 0)
		return -1;
	step(o, remote ? "uploading to" : "copying to", r->box_url);
	t = now();
	if (remote ? publish_http_upload(o, r, e) < 0 : dir_copy(o, r->box_url, r, e) < 0)
		return -1;
	r->secs_upload = now() - t;
	rel.size = r->size;
	step(o, "adding the version to", r->catalog_url);
	t = now();
	if (remote ? publish_http_catalog(o, &rel, r, e) < 0
		   : dir_catalog(o, &rel, r->catalog_url, false, e) < 0)
		return -1;
	if (!remote)
		r->catalog_tries = 1;
	r->secs_catalog = now() - t;
	return 0;
}

int box_publish(const struct box_publish_opts *o, struct box_publish_result *r, struct err *e)
{
	if (publish(o, r, e) == 0)
		return 0;
	box_publish_result_free(r);
	return -1;
}

void box_publish_result_free(struct box_publish_result *r)
{
	free(r->box_url);
	free(r->catalog_url);
	r->box_url = r->catalog_url = NULL;
}
