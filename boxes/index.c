#include "boxes/index.h"

#include <dirent.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "boxes/catalog.h"
#include "boxes/catalog_edit.h"
#include "boxes/registry.h"
#include "core/fsutil.h"
#include "core/hash.h"
#include "core/http.h"
#include "core/version.h"

#define INDEX_MAX_ENTRIES 100000

struct walk {
	const char *base_url;
	void (*seen)(void *ctx, const char *path, const char *why);
	void *ctx;
	struct box_index_result *r;
	struct err *e;
};

static void skip(struct walk *w, const char *path, const char *why)
{
	w->r->skipped++;
	if (w->seen)
		w->seen(w->ctx, path, why);
}

/* The names in dir, sorted, without dot files (NULL-terminated, heap). */
static char **list(const char *dir, struct err *e)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	char **out;
	size_t k = 0;

	if (n < 0) {
		err_sys(e, "cannot read %s", dir);
		return NULL;
	}
	out = calloc((size_t)n + 1, sizeof(*out));
	for (int i = 0; i < n; i++) {
		if (out && ents[i]->d_name[0] != '.' && k < INDEX_MAX_ENTRIES)
			out[k++] = strdup(ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	if (!out)
		err_set(e, ERR_FAIL, "out of memory");
	return out;
}

static void list_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static bool is_dir(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* One box file: PROVIDER-ARCH.box in VERSION/. */
static int add_box(struct walk *w, const char *org, const char *name, const char *version,
		   const char *file, const char *path, char **catalog)
{
	char full[512], url[2048], hex[HASH_HEX_MAX], prov[64];
	const char *dash = strchr(file, '-'), *arch;
	size_t flen = strlen(file);
	struct stat st;
	struct hash *h;
	char *out;
	int rc;

	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || flen < 5 ||
	    strcmp(file + flen - 4, ".box") || !dash || (size_t)(dash - file) >= sizeof(prov)) {
		skip(w, path, "not a PROVIDER-ARCH.box file");
		return 0;
	}
	snprintf(prov, sizeof(prov), "%.*s", (int)(dash - file), file);
	arch = dash + 1;
	snprintf(full, sizeof(full), "%s/%s", org, name);
	if (w->base_url)
		snprintf(url, sizeof(url), "%s/%s/%s/%s/%s", w->base_url, org, name, version, file);
	else
		snprintf(url, sizeof(url), "%s/%s/%s", name, version, file);
	if (hash_new(HASH_SHA256, &h, w->e) < 0)
		return -1;
	rc = hash_file(h, path, w->e);
	if (rc == 0)
		rc = hash_final_hex(h, hex, w->e);
	hash_free(h);
	if (rc < 0)
		return -1;
	{
		char archbuf[64];
		struct catalog_release rel = {.name = full,
					      .version = version,
					      .provider = prov,
					      .arch = archbuf,
					      .url = url,
					      .checksum_type = "sha256",
					      .checksum = hex,
					      .size = (uint64_t)st.st_size};

		snprintf(archbuf, sizeof(archbuf), "%.*s", (int)(strlen(arch) - 4), arch);
		rc = catalog_edit_add(*catalog, *catalog ? strlen(*catalog) : 0, full, &rel, false,
				      &out, w->e);
	}
	if (rc < 0)
		return -1;
	free(*catalog);
	*catalog = out;
	w->r->boxes++;
	if (w->seen)
		w->seen(w->ctx, path, NULL);
	return 0;
}

/* The description of the catalog being replaced survives; nothing else of it does. */
static char *fresh_catalog(const char *path, const char *full)
{
	struct json_object *old = NULL, *root = json_object_new_object(), *d;
	char *body = NULL, *s;

	if (fs_exists(path) && fs_read_file(path, CATALOG_MAX_BYTES, &body, NULL, NULL) == 0)
		old = json_tokener_parse(body);
	free(body);
	json_object_object_add(root, "name", json_object_new_string(full));
	if (old && json_object_object_get_ex(old, "description", &d) &&
	    json_object_is_type(d, json_type_string))
		json_object_object_add(root, "description",
				       json_object_new_string(json_object_get_string(d)));
	json_object_object_add(root, "versions", json_object_new_array());
	s = strdup(json_object_to_json_string(root));
	json_object_put(root);
	json_object_put(old);
	return s;
}

static int index_box(struct walk *w, const char *dir, const char *org, const char *name)
{
	char *path = NULL, *catalog = NULL, *cpath = NULL, full[512];
	char **versions;
	int rc = -1;

	snprintf(full, sizeof(full), "%s/%s", org, name);
	if (!registry_name_valid(full)) {
		skip(w, full, "not a box name");
		return 0;
	}
	if (asprintf(&path, "%s/%s/%s", dir, org, name) < 0 ||
	    asprintf(&cpath, "%s/%s/%s.json", dir, org, name) < 0)
		return err_set(w->e, ERR_FAIL, "out of memory");
	versions = list(path, w->e);
	if (!versions)
		goto out;
	catalog = fresh_catalog(cpath, full);
	for (size_t i = 0; catalog && versions[i]; i++) {
		struct version v;
		char *vdir;
		char **files;

		if (asprintf(&vdir, "%s/%s", path, versions[i]) < 0)
			goto out;
		if (!is_dir(vdir) || version_parse(versions[i], &v, NULL) < 0) {
			skip(w, vdir, "not a VERSION directory");
			free(vdir);
			continue;
		}
		files = list(vdir, w->e);
		for (size_t j = 0; files && files[j]; j++) {
			char *f;

			if (asprintf(&f, "%s/%s", vdir, files[j]) < 0 ||
			    add_box(w, org, name, versions[i], files[j], f, &catalog) < 0) {
				free(f);
				list_free(files);
				free(vdir);
				goto out;
			}
			free(f);
		}
		list_free(files);
		free(vdir);
		if (!files)
			goto out;
	}
	if (!catalog) {
		err_set(w->e, ERR_FAIL, "out of memory");
		goto out;
	}
	if (fs_write_atomic(cpath, catalog, strlen(catalog), 0644, w->e) < 0)
		goto out;
	w->r->catalogs++;
	rc = 0;
out:
	list_free(versions);
	free(catalog);
	free(path);
	free(cpath);
	return rc;
}

int box_index(const char *dir, const char *base_url,
	      void (*seen)(void *ctx, const char *path, const char *why), void *ctx,
	      struct box_index_result *r, struct err *e)
{
	struct walk w = {.base_url = base_url, .seen = seen, .ctx = ctx, .r = r, .e = e};
	char **orgs;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	if (!is_dir(dir))
		return err_set(e, ERR_USAGE, "%s is not a directory", dir);
	if (base_url && !http_is_remote(base_url))
		return err_set(e, ERR_USAGE, "--base-url '%s' is not an http(s) URL", base_url);
	orgs = list(dir, e);
	if (!orgs)
		return -1;
	for (size_t i = 0; rc == 0 && orgs[i]; i++) {
		char *od, **names;

		if (asprintf(&od, "%s/%s", dir, orgs[i]) < 0) {
			rc = err_set(e, ERR_FAIL, "out of memory");
			break;
		}
		if (!is_dir(od)) {
			free(od);
			continue; /* the catalogs themselves, and other files */
		}
		names = list(od, e);
		for (size_t j = 0; names && rc == 0 && names[j]; j++) {
			char *nd;

			if (asprintf(&nd, "%s/%s", od, names[j]) < 0) {
				rc = err_set(e, ERR_FAIL, "out of memory");
				break;
			}
			if (is_dir(nd))
				rc = index_box(&w, dir, orgs[i], names[j]);
			free(nd);
		}
		if (!names)
			rc = -1;
		list_free(names);
		free(od);
	}
	list_free(orgs);
	return rc;
}
