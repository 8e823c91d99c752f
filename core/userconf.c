#include "core/userconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/fsutil.h"
#include "core/paths.h"

#define USERCONF_MAX_BYTES (1u << 20)
#define USERCONF_MAX_REGISTRIES 64

static const char *scalar(yaml_document_t *d, yaml_node_t *n)
{
	(void)d;
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int dup_to(char **dst, const char *s, struct err *e)
{
	free(*dst);
	*dst = strdup(s);
	return *dst ? 0 : err_set(e, ERR_FAIL, "out of memory");
}

static int bad(const char *path, yaml_node_t *n, const char *what, struct err *e)
{
	return err_set(e, ERR_USAGE, "%s:%zu:%zu: %s", path, n->start_mark.line + 1,
		       n->start_mark.column + 1, what);
}

static int load_registry(yaml_document_t *d, yaml_node_t *n, const char *path,
			 struct userconf_registry *r, struct err *e)
{
	const char *s = scalar(d, n);

	if (s)
		return dup_to(&r->url, s, e);
	if (n->type != YAML_MAPPING_NODE)
		return bad(path, n, "registries: each entry is a URL or {url, token}", e);
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = yaml_document_get_node(d, p->key);
		yaml_node_t *vn = yaml_document_get_node(d, p->value);
		const char *k = scalar(d, kn), *v = scalar(d, vn);

		if (!k || !v)
			return bad(path, vn ? vn : n, "registries: keys and values must be strings",
				   e);
		if (!strcmp(k, "url")) {
			if (dup_to(&r->url, v, e) < 0)
				return -1;
		} else if (!strcmp(k, "token")) {
			if (dup_to(&r->token, v, e) < 0)
				return -1;
		} else {
			return bad(path, kn, "registries: unknown key (url, token)", e);
		}
	}
	if (!r->url)
		return bad(path, n, "registries: entry without url", e);
	return 0;
}

static int load_root(yaml_document_t *d, const char *path, struct userconf *uc, struct err *e)
{
	yaml_node_t *root = yaml_document_get_root_node(d);

	if (!root)
		return 0;
	if (root->type != YAML_MAPPING_NODE)
		return bad(path, root, "the configuration must be a mapping", e);
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = yaml_document_get_node(d, p->key);
		yaml_node_t *vn = yaml_document_get_node(d, p->value);
		const char *k = scalar(d, kn);

		if (!k || !vn)
			return bad(path, kn ? kn : root, "keys must be strings", e);
		if (!strcmp(k, "registries")) {
			size_t n;

			if (vn->type != YAML_SEQUENCE_NODE)
				return bad(path, vn, "registries must be a list", e);
			n = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
			if (n > USERCONF_MAX_REGISTRIES)
				return bad(path, vn, "more than 64 registries", e);
			uc->registries = calloc(n ? n : 1, sizeof(*uc->registries));
			if (!uc->registries)
				return err_set(e, ERR_FAIL, "out of memory");
			for (size_t i = 0; i < n; i++) {
				uc->nregistries = i + 1;
				if (load_registry(d,
						  yaml_document_get_node(
							  d, vn->data.sequence.items.start[i]),
						  path, &uc->registries[i], e) < 0)
					return -1;
			}
		} else if (!strcmp(k, "defaults")) {
			if (vn->type != YAML_MAPPING_NODE)
				return bad(path, vn, "defaults must be a mapping", e);
			for (yaml_node_pair_t *q = vn->data.mapping.pairs.start;
			     q < vn->data.mapping.pairs.top; q++) {
				yaml_node_t *dk = yaml_document_get_node(d, q->key);
				const char *dks = scalar(d, dk);
				const char *dv = scalar(d, yaml_document_get_node(d, q->value));

				if (!dks || !dv)
					return bad(path, dk ? dk : vn,
						   "defaults: values must be strings", e);
				if (!strcmp(dks, "box_provider")) {
					if (dup_to(&uc->box_provider, dv, e) < 0)
						return -1;
				} else if (!strcmp(dks, "box_arch")) {
					if (dup_to(&uc->box_arch, dv, e) < 0)
						return -1;
				}
				/* Other defaults belong to other parts of envup. */
			}
		}
	}
	return 0;
}

int userconf_load(const char *path, struct userconf *uc, struct err *e)
{
	char *own = NULL, *dir = NULL, *buf = NULL;
	size_t len;
	yaml_parser_t parser;
	yaml_document_t doc;
	int rc = -1;

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
	if (fs_read_file(path, USERCONF_MAX_BYTES, &buf, &len, e) < 0)
		goto out;
	if (!yaml_parser_initialize(&parser)) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		err_set(e, ERR_USAGE, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
			parser.problem_mark.column + 1,
			parser.problem ? parser.problem : "bad YAML");
		yaml_parser_delete(&parser);
		goto out;
	}
	rc = load_root(&doc, path, uc, e);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
out:
	if (rc < 0)
		userconf_free(uc);
	free(buf);
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
