#include "boxes/catalog.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "core/version.h"

#define CATALOG_MAX_STRING 8192

const char *const catalog_provider_preference[] = {
	"envup", "libvirt", "virtualbox", "vmware_desktop", NULL,
};

bool catalog_provider_supported(const char *name)
{
	for (const char *const *p = catalog_provider_preference; *p; p++)
		if (!strcmp(*p, name))
			return true;
	return false;
}

const char *catalog_host_arch(void)
{
	static const struct {
		const char *uname, *vagrant;
	} map[] = {
		{"x86_64", "amd64"}, {"aarch64", "arm64"},   {"i686", "i386"},	 {"i386", "i386"},
		{"armv7l", "arm"},   {"ppc64le", "ppc64le"}, {"s390x", "s390x"},
	};
	struct utsname u;

	if (uname(&u) == 0)
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (!strcmp(u.machine, map[i].uname))
				return map[i].vagrant;
	return "amd64";
}

void catalog_free(struct catalog *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nversions; i++) {
		struct catalog_version *v = &c->versions[i];

		for (size_t j = 0; j < v->nproviders; j++) {
			free(v->providers[j].name);
			free(v->providers[j].url);
			free(v->providers[j].checksum);
			free(v->providers[j].checksum_type);
			free(v->providers[j].architecture);
		}
		free(v->providers);
		free(v->version);
	}
	free(c->versions);
	free(c->name);
	free(c->description);
	free(c);
}

/* Copies the string member key of o into *out; missing is fine unless required. */
static int get_str(struct json_object *o, const char *key, bool required, char **out,
		   const char *where, struct err *e)
{
	struct json_object *v;
	const char *s;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return err_set(e, ERR_CORRUPT, "%s: missing \"%s\"", where, key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return err_set(e, ERR_CORRUPT, "%s: \"%s\" must be a string", where, key);
	if ((size_t)json_object_get_string_len(v) > CATALOG_MAX_STRING)
		return err_set(e, ERR_CORRUPT, "%s: \"%s\" is longer than %d bytes", where, key,
			       CATALOG_MAX_STRING);
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return err_set(e, ERR_CORRUPT, "%s: \"%s\" contains a NUL byte", where, key);
	*out = strdup(s);
	if (!*out)
		return err_set(e, ERR_FAIL, "out of memory");
	return 0;
}

static int parse_provider(struct json_object *o, struct catalog_provider *p, const char *where,
			  struct err *e)
{
	struct json_object *d;

	if (!json_object_is_type(o, json_type_object))
		return err_set(e, ERR_CORRUPT, "%s: must be an object", where);
	if (get_str(o, "name", true, &p->name, where, e) < 0 ||
	    get_str(o, "url", true, &p->url, where, e) < 0 ||
	    get_str(o, "checksum", false, &p->checksum, where, e) < 0 ||
	    get_str(o, "checksum_type", false, &p->checksum_type, where, e) < 0 ||
	    get_str(o, "architecture", false, &p->architecture, where, e) < 0)
		return -1;
	if (p->checksum && !*p->checksum) {
		free(p->checksum);
		p->checksum = NULL;
	}
	if (p->checksum && !p->checksum_type)
		return err_set(e, ERR_CORRUPT, "%s: \"checksum\" without \"checksum_type\"", where);
	if (!p->architecture && !(p->architecture = strdup("unknown")))
		return err_set(e, ERR_FAIL, "out of memory");
	if (json_object_object_get_ex(o, "default_architecture", &d)) {
		if (!json_object_is_type(d, json_type_boolean))
			return err_set(e, ERR_CORRUPT,
				       "%s: \"default_architecture\" must be true or false", where);
		p->default_architecture = json_object_get_boolean(d);
	}
	return 0;
}

static int parse_version(struct json_object *o, struct catalog_version *v, const char *source,
			 size_t idx, struct err *e)
{
	struct json_object *provs;
	char where[256];
	size_t n;

	snprintf(where, sizeof(where), "%s: versions[%zu]", source, idx);
	if (!json_object_is_type(o, json_type_object))
		return err_set(e, ERR_CORRUPT, "%s: must be an object", where);
	if (get_str(o, "version", true, &v->version, where, e) < 0)
		return -1;
	/* A version envup cannot parse ("1.0-beta") is kept but never chosen. */
	if (!json_object_object_get_ex(o, "providers", &provs))
		return 0; /* a version with no providers is legal and never chosen */
	if (!json_object_is_type(provs, json_type_array))
		return err_set(e, ERR_CORRUPT, "%s: \"providers\" must be an array", where);
	n = json_object_array_length(provs);
	if (n > CATALOG_MAX_PROVIDERS)
		return err_set(e, ERR_CORRUPT, "%s: more than %d providers", where,
			       CATALOG_MAX_PROVIDERS);
	v->providers = calloc(n ? n : 1, sizeof(*v->providers));
	if (!v->providers)
		return err_set(e, ERR_FAIL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		char pw[300];

		snprintf(pw, sizeof(pw), "%s.providers[%zu]", where, i);
		v->nproviders = i + 1;
		if (parse_provider(json_object_array_get_idx(provs, i), &v->providers[i], pw, e) <
		    0)
			return -1;
	}
	return 0;
}

int catalog_parse(const char *json, size_t len, const char *source, struct catalog **out,
		  struct err *e)
{
	struct json_tokener *tok;
	struct json_object *root, *versions;
	struct catalog *c;
	size_t n;
	int rc = -1;

	if (len > CATALOG_MAX_BYTES)
		return err_set(e, ERR_CORRUPT, "%s: catalog is larger than %u bytes", source,
			       CATALOG_MAX_BYTES);
	tok = json_tokener_new_ex(64);
	if (!tok)
		return err_set(e, ERR_FAIL, "out of memory");
	root = json_tokener_parse_ex(tok, json, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		enum json_tokener_error je = json_tokener_get_error(tok);

		json_tokener_free(tok);
		json_object_put(root);
		return err_set(e, ERR_CORRUPT, "%s: not a JSON catalog: %s", source,
			       je == json_tokener_continue ? "unexpected end"
							   : json_tokener_error_desc(je));
	}
	json_tokener_free(tok);
	c = calloc(1, sizeof(*c));
	if (!c) {
		json_object_put(root);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	if (!json_object_is_type(root, json_type_object)) {
		err_set(e, ERR_CORRUPT, "%s: a catalog must be a JSON object", source);
		goto out;
	}
	if (get_str(root, "name", false, &c->name, source, e) < 0 ||
	    get_str(root, "description", false, &c->description, source, e) < 0)
		goto out;
	if (!json_object_object_get_ex(root, "versions", &versions) ||
	    !json_object_is_type(versions, json_type_array)) {
		err_set(e, ERR_CORRUPT, "%s: \"versions\" must be an array", source);
		goto out;
	}
	n = json_object_array_length(versions);
	if (n > CATALOG_MAX_VERSIONS) {
		err_set(e, ERR_CORRUPT, "%s: more than %d versions", source, CATALOG_MAX_VERSIONS);
		goto out;
	}
	c->versions = calloc(n ? n : 1, sizeof(*c->versions));
	if (!c->versions) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		c->nversions = i + 1;
		if (parse_version(json_object_array_get_idx(versions, i), &c->versions[i], source,
				  i, e) < 0)
			goto out;
	}
	rc = 0;
out:
	json_object_put(root);
	if (rc < 0)
		catalog_free(c);
	else
		*out = c;
	return rc;
}

/* Vagrant's order within one provider name: an exact architecture match (the requested one, or
 * the host's), then the entry marked default_architecture, then "unknown". With an explicit
 * architecture only an exact match counts. */
static const struct catalog_provider *match_arch(const struct catalog_version *v, const char *name,
						 const char *arch)
{
	const char *want = arch ? arch : catalog_host_arch();

	for (size_t i = 0; i < v->nproviders; i++)
		if (!strcmp(v->providers[i].name, name) &&
		    !strcmp(v->providers[i].architecture, want))
			return &v->providers[i];
	if (arch)
		return NULL;
	for (size_t i = 0; i < v->nproviders; i++)
		if (!strcmp(v->providers[i].name, name) && v->providers[i].default_architecture)
			return &v->providers[i];
	for (size_t i = 0; i < v->nproviders; i++)
		if (!strcmp(v->providers[i].name, name) &&
		    !strcmp(v->providers[i].architecture, "unknown"))
			return &v->providers[i];
	return NULL;
}

static const struct catalog_provider *pick_provider(const struct catalog_version *v,
						    const struct catalog_query *q)
{
	if (q->provider)
		return catalog_provider_supported(q->provider) ? match_arch(v, q->provider, q->arch)
							       : NULL;
	for (const char *const *p = catalog_provider_preference; *p; p++) {
		const struct catalog_provider *cp = match_arch(v, *p, q->arch);

		if (cp)
			return cp;
	}
	return NULL;
}

int catalog_version_cmp(const char *a, const char *b)
{
	struct version va, vb;
	bool oa = version_parse(a, &va, NULL) == 0, ob = version_parse(b, &vb, NULL) == 0;

	if (oa && ob)
		return version_compare(&va, &vb);
	if (!oa && !ob)
		return strcmp(a, b);
	return oa ? 1 : -1;
}

bool catalog_version_matches(const char *s, const struct constraint *c)
{
	struct version v;

	return version_parse(s, &v, NULL) == 0 && constraint_match(c, &v);
}

static void list_offers(const struct catalog *c, const struct constraint *vc, char *buf,
			size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < c->nversions && used + 1 < size; i++) {
		const struct catalog_version *v = &c->versions[i];

		if (vc && !catalog_version_matches(v->version, vc))
			continue;
		used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "; " : "",
					 v->version);
		if (!vc)
			continue;
		for (size_t j = 0; j < v->nproviders && used + 1 < size; j++)
			used += (size_t)snprintf(buf + used, size - used, "%s%s/%s",
						 j ? ", " : " (", v->providers[j].name,
						 v->providers[j].architecture);
		if (v->nproviders && used + 1 < size)
			used += (size_t)snprintf(buf + used, size - used, ")");
	}
	if (used >= size && size > 4)
		strcpy(buf + size - 4, "...");
}

int catalog_select(const struct catalog *c, const struct catalog_query *q,
		   struct catalog_choice *out, struct err *e)
{
	struct constraint vc;
	struct version best_v;
	const struct catalog_version *best = NULL;
	const struct catalog_provider *best_p = NULL;
	bool any_version = false;
	char offers[600];
	const char *name = c->name ? c->name : "box";

	if (constraint_parse(q->constraint ? q->constraint : "", &vc, e) < 0)
		return -1;
	if (q->provider && !catalog_provider_supported(q->provider))
		return err_set(e, ERR_USAGE,
			       "provider '%s' is not one envup can import (envup, libvirt, "
			       "virtualbox, vmware_desktop)",
			       q->provider);
	for (size_t i = 0; i < c->nversions; i++) {
		const struct catalog_version *v = &c->versions[i];
		const struct catalog_provider *p;
		struct version bv;

		if (version_parse(v->version, &bv, NULL) < 0 || !constraint_match(&vc, &bv))
			continue;
		any_version = true;
		if (best && version_compare(&bv, &best_v) <= 0)
			continue;
		p = pick_provider(v, q);
		if (!p)
			continue;
		best = v;
		best_v = bv;
		best_p = p;
	}
	if (best) {
		out->version = best;
		out->provider = best_p;
		return 0;
	}
	if (!any_version) {
		list_offers(c, NULL, offers, sizeof(offers));
		if (!q->constraint || !*q->constraint)
			return err_set(e, ERR_NOTFOUND,
				       "'%s' has no version envup can read (versions: %s)", name,
				       offers[0] ? offers : "none");
		return err_set(e, ERR_NOTFOUND, "'%s' has no version matching '%s' (versions: %s)",
			       name, q->constraint, offers[0] ? offers : "none");
	}
	list_offers(c, &vc, offers, sizeof(offers));
	return err_set(e, ERR_NOTFOUND,
		       "'%s' has no version%s%s with provider %s for architecture %s (offered: %s)",
		       name, q->constraint && *q->constraint ? " matching " : "",
		       q->constraint ? q->constraint : "",
		       q->provider ? q->provider : "envup, libvirt, virtualbox or vmware_desktop",
		       q->arch ? q->arch : catalog_host_arch(), offers);
}
