#include "boxes/catalog_edit.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "boxes/catalog.h"

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* The versions[] entry for version (compared as versions: "1.0" is "1.0.0"), or NULL. */
static struct json_object *find_version(struct json_object *versions, const char *version)
{
	size_t n = json_object_array_length(versions);

	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(versions, i);
		const char *s = jstr(v, "version");

		if (s && (!strcmp(s, version) || catalog_version_cmp(s, version) == 0))
			return v;
	}
	return NULL;
}

/* The index of provider/arch in a version's providers[] (a missing architecture is
 * "unknown", as catalog_parse reads it), or -1. */
static int find_provider(struct json_object *providers, const char *provider, const char *arch)
{
	size_t n = json_object_array_length(providers);

	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(providers, i);
		const char *name = jstr(p, "name"), *a = jstr(p, "architecture");

		if (name && !strcmp(name, provider) && !strcmp(a ? a : "unknown", arch))
			return (int)i;
	}
	return -1;
}

static struct json_object *release_json(const struct catalog_release *r)
{
	struct json_object *p = json_object_new_object();

	if (!p)
		return NULL;
	json_object_object_add(p, "name", json_object_new_string(r->provider));
	json_object_object_add(p, "url", json_object_new_string(r->url));
	json_object_object_add(p, "checksum_type", json_object_new_string(r->checksum_type));
	json_object_object_add(p, "checksum", json_object_new_string(r->checksum));
	json_object_object_add(p, "architecture", json_object_new_string(r->arch));
	json_object_object_add(p, "size", json_object_new_int64((int64_t)r->size));
	return p;
}

/* Parses json as a catalog (bounded and checked as envbox add would) into a tree to edit. */
static int load(const char *json, size_t len, const char *source, const char *name,
		struct json_object **root, struct err *e)
{
	struct catalog *c;
	struct json_object *versions;

	if (!json || !len) {
		*root = json_object_new_object();
		if (!*root)
			return err_set(e, ERR_FAIL, "out of memory");
		json_object_object_add(*root, "name", json_object_new_string(name));
		json_object_object_add(*root, "versions", json_object_new_array());
		return 0;
	}
	if (catalog_parse(json, len, source, &c, e) < 0)
		return err_wrap(e, "the catalog there cannot be updated");
	if (c->name && strcmp(c->name, name)) {
		err_set(e, ERR_CORRUPT, "%s is the catalog of '%s', not of '%s'", source, c->name,
			name);
		catalog_free(c);
		return -1;
	}
	catalog_free(c);
	*root = json_tokener_parse(json);
	if (!*root || !json_object_object_get_ex(*root, "versions", &versions)) {
		json_object_put(*root);
		return err_set(e, ERR_CORRUPT, "%s: not a catalog", source);
	}
	if (!jstr(*root, "name"))
		json_object_object_add(*root, "name", json_object_new_string(name));
	return 0;
}

bool catalog_has_release(const char *json, size_t len, const struct catalog_release *r)
{
	struct json_object *root, *versions, *v, *providers;
	bool has = false;

	if (!json || !len || !(root = json_tokener_parse(json)))
		return false;
	if (json_object_object_get_ex(root, "versions", &versions) &&
	    json_object_is_type(versions, json_type_array) &&
	    (v = find_version(versions, r->version)) &&
	    json_object_object_get_ex(v, "providers", &providers) &&
	    json_object_is_type(providers, json_type_array))
		has = find_provider(providers, r->provider, r->arch) >= 0;
	json_object_put(root);
	return has;
}

int catalog_edit_add(const char *json, size_t len, const char *source,
		     const struct catalog_release *r, bool replace, char **out, struct err *e)
{
	struct json_object *root = NULL, *versions = NULL, *v, *providers, *p;
	int idx;
	const char *s;

	if (load(json, len, source, r->name, &root, e) < 0)
		return -1;
	json_object_object_get_ex(root, "versions", &versions);
	if (r->description)
		json_object_object_add(root, "description", json_object_new_string(r->description));
	v = find_version(versions, r->version);
	if (!v) {
		v = json_object_new_object();
		json_object_object_add(v, "version", json_object_new_string(r->version));
		json_object_object_add(v, "providers", json_object_new_array());
		json_object_array_add(versions, v);
	}
	if (!json_object_object_get_ex(v, "providers", &providers)) {
		providers = json_object_new_array();
		json_object_object_add(v, "providers", providers);
	}
	idx = find_provider(providers, r->provider, r->arch);
	if (idx >= 0 && !replace) {
		json_object_put(root);
		return err_set(e, ERR_EXISTS,
			       "%s already has '%s' version %s for %s (%s); pass --force to "
			       "replace it",
			       source, r->name, r->version, r->provider, r->arch);
	}
	if (!(p = release_json(r))) {
		json_object_put(root);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	if (idx >= 0)
		json_object_array_put_idx(providers, (size_t)idx, p);
	else
		json_object_array_add(providers, p);
	s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	*out = s ? malloc(strlen(s) + 2) : NULL;
	if (*out) {
		strcpy(*out, s);
		strcat(*out, "\n");
	}
	json_object_put(root);
	return *out ? 0 : err_set(e, ERR_FAIL, "out of memory");
}
