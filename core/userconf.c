#include "core/userconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/paths.h"
#include "core/yamlwalk.h"

#define USERCONF_MAX_BYTES (1u << 20)
#define USERCONF_MAX_REGISTRIES 64

/* registries[i]: a URL, or {url, token}. */
static void reg_url(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	SET_STR(((struct userconf_registry *)t)->url);
}

static void reg_token(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	SET_STR(((struct userconf_registry *)t)->token);
}

static const struct ld_key registry_keys[] = {
	{"url", reg_url}, {"token", reg_token}, {NULL, NULL},
};

static void k_registries(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct userconf *uc = t;
	size_t n;

	if (!ld_want_list(ld, v, path))
		return;
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n > USERCONF_MAX_REGISTRIES) {
		ld_error(ld, v, path, "more than %d registries", USERCONF_MAX_REGISTRIES);
		return;
	}
	uc->registries = calloc(n ? n : 1, sizeof(*uc->registries));
	if (!uc->registries)
		return;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = ld_node(ld, v->data.sequence.items.start[i]);
		struct userconf_registry *r = &uc->registries[uc->nregistries++];
		char ipath[256];

		if (!item || !ld_visit(ld, item))
			break;
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (item->type == YAML_SCALAR_NODE) {
			r->url = ld_string(ld, item, ipath);
			continue;
		}
		ld_mapping(ld, item, ipath, registry_keys, r);
		if (item->type == YAML_MAPPING_NODE && !ld_has_key(ld, item, "url"))
			ld_error(ld, item, ipath, "'url' is required");
	}
}

static void def_box_provider(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	SET_STR(((struct userconf *)t)->box_provider);
}

static void def_box_arch(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	SET_STR(((struct userconf *)t)->box_arch);
}

static const struct ld_key defaults_keys[] = {
	{"box_provider", def_box_provider}, {"box_arch", def_box_arch}, {NULL, NULL},
};

static void k_defaults(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_mapping(ld, v, path, defaults_keys, t);
}

static const struct ld_key top_keys[] = {
	{"registries", k_registries}, {"defaults", k_defaults}, {NULL, NULL},
};

int userconf_load(const char *path, struct userconf *uc, struct err *e)
{
	struct yaml_report rep;
	struct loader ld;
	char *own = NULL, *dir = NULL;
	yaml_node_t *root;
	int rc;

	memset(uc, 0, sizeof(*uc));
	if (!path) {
		if (paths_config_dir(&dir, e) < 0)
			return -1;
		own = fs_join(dir, "config.yaml");
		free(dir);
		if (!own)
			return err_set(e, ERR_FAIL, "out of memory");
		path = own;
	}
	if (!fs_exists(path)) {
		free(own);
		return 0;
	}
	rc = ld_open(&ld, path, path, USERCONF_MAX_BYTES, &rep, e);
	root = rc > 0 ? yaml_document_get_root_node(&ld.doc) : NULL;
	if (root)
		ld_mapping(&ld, root, "", top_keys, uc);
	if (rc >= 0)
		rc = ld_close(&ld, e);
	yaml_report_free(&rep);
	if (rc < 0)
		userconf_free(uc);
	free(own);
	return rc;
}

void userconf_free(struct userconf *uc)
{
	for (size_t i = 0; i < uc->nregistries; i++) {
		free(uc->registries[i].url);
		free(uc->registries[i].token);
	}
	free(uc->registries);
	free(uc->box_provider);
	free(uc->box_arch);
	memset(uc, 0, sizeof(*uc));
}

static size_t trimmed_len(const char *s)
{
	size_t n = strlen(s);

	while (n && s[n - 1] == '/')
		n--;
	return n;
}

const char *userconf_token_for(const struct userconf *uc, const char *url)
{
	size_t n = trimmed_len(url);

	for (size_t i = 0; uc && i < uc->nregistries; i++) {
		const char *r = uc->registries[i].url;

		if (uc->registries[i].token && trimmed_len(r) == n && !strncmp(r, url, n))
			return uc->registries[i].token;
	}
	return NULL;
}
