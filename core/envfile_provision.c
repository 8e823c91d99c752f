/* The provision: steps of a machine (shell and file provisioners). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/envfile_internal.h"
#include "core/strutil.h"

static void sh_inline(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	SET_STR(((struct provision_step *)t)->inline_script);
}

static void sh_path(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct provision_step *st = t;
	char *p = ld_project_path(ld, v, path, true);

	if (p) {
		free(st->path);
		st->path = p;
	}
}

static void sh_args(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct provision_step *st = t;

	ld_string_list(ld, v, path, &st->args, &st->nargs);
}

static void sh_env(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct provision_step *st = t;
	size_t n;

	if (v->type != YAML_MAPPING_NODE) {
		ld_error(ld, v, path, "expected a mapping of NAME: value");
		return;
	}
	n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
	if (n > ENVFILE_MAX_LIST) {
		ld_error(ld, v, path, "more than %d variables", ENVFILE_MAX_LIST);
		return;
	}
	st->env = calloc(n ? n : 1, sizeof(*st->env));
	if (!st->env)
		return;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *k = ld_node(ld, v->data.mapping.pairs.start[i].key);
		yaml_node_t *val = ld_node(ld, v->data.mapping.pairs.start[i].value);
		char ipath[512];

		if (!k || !val || !ld_visit(ld, val))
			break;
		snprintf(ipath, sizeof(ipath), "%s.%s", path,
			 k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?");
		if (k->type != YAML_SCALAR_NODE || !*k->data.scalar.value) {
			ld_error(ld, k, path, "variable names must be plain words");
			continue;
		}
		for (const unsigned char *c = k->data.scalar.value; *c; c++) {
			if (!isalnum(*c) && *c != '_') {
				ld_error(ld, k, path, "'%s' is not a valid variable name",
					 (const char *)k->data.scalar.value);
				goto next;
			}
		}
		st->env[st->nenv].key = strdup((const char *)k->data.scalar.value);
		st->env[st->nenv].value = ld_string(ld, val, ipath);
		if (!st->env[st->nenv].value && val->type == YAML_SCALAR_NODE)
			st->env[st->nenv].value = strdup("");
		st->nenv++;
next:;
	}
}

static void st_privileged(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_bool(ld, v, path, &((struct provision_step *)t)->privileged);
}

static void st_run(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct provision_step *st = t;
	char *s = ld_string(ld, v, path);

	if (!s)
		return;
	if (!strcmp(s, "once"))
		st->run = RUN_ONCE;
	else if (!strcmp(s, "always"))
		st->run = RUN_ALWAYS;
	else if (!strcmp(s, "never"))
		st->run = RUN_NEVER;
	else
		ld_error(ld, v, path, "'%s' is not once, always or never", s);
	free(s);
}

static void st_name(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	SET_STR(((struct provision_step *)t)->name);
}

static void fl_source(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct provision_step *st = t;
	char *p = ld_project_path(ld, v, path, true);

	if (p) {
		free(st->source);
		st->source = p;
	}
}

static void fl_destination(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	SET_STR(((struct provision_step *)t)->destination);
}

static const struct ld_key shell_keys[] = {
	{"inline", sh_inline}, {"path", sh_path}, {"args", sh_args}, {"env", sh_env},
	{"privileged", st_privileged}, {"run", st_run}, {"name", st_name}, {NULL, NULL},
};

static const struct ld_key file_keys[] = {
	{"source", fl_source}, {"destination", fl_destination}, {"run", st_run},
	{"name", st_name}, {NULL, NULL},
};

void ld_step_free(struct provision_step *st)
{
	free(st->name);
	free(st->inline_script);
	free(st->path);
	ld_free_strv(st->args, st->nargs);
	for (size_t i = 0; i < st->nenv; i++) {
		free(st->env[i].key);
		free(st->env[i].value);
	}
	free(st->env);
	free(st->source);
	free(st->destination);
}

static void parse_step(struct loader *ld, struct provision_step *st, const yaml_node_t *item,
		       const char *path)
{
	static const char *const kinds[] = {"shell", "file"};
	yaml_node_t *key, *val;
	const char *kind, *hint;
	char kpath[512];

	st->privileged = true;
	st->pos.line = (int)item->start_mark.line + 1;
	st->pos.col = (int)item->start_mark.column + 1;
	if (item->type != YAML_MAPPING_NODE ||
	    item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1) {
		ld_error(ld, item, path, "each step is one of 'shell: ...' or 'file: {...}'");
		return;
	}
	key = ld_node(ld, item->data.mapping.pairs.start[0].key);
	val = ld_node(ld, item->data.mapping.pairs.start[0].value);
	if (!key || !val || key->type != YAML_SCALAR_NODE || !ld_visit(ld, val))
		return;
	kind = (const char *)key->data.scalar.value;
	snprintf(kpath, sizeof(kpath), "%s.%s", path, kind);
	if (!strcmp(kind, "shell")) {
		st->kind = PROVISION_SHELL;
		if (val->type == YAML_SCALAR_NODE)
			st->inline_script = ld_string(ld, val, kpath);
		else
			ld_mapping(ld, val, kpath, shell_keys, st);
		if (val->type == YAML_MAPPING_NODE &&
		    ld_has_key(ld, val, "inline") == ld_has_key(ld, val, "path"))
			ld_error(ld, val, kpath, "give exactly one of 'inline' and 'path'");
	} else if (!strcmp(kind, "file")) {
		st->kind = PROVISION_FILE;
		ld_mapping(ld, val, kpath, file_keys, st);
		if (val->type == YAML_MAPPING_NODE &&
		    (!ld_has_key(ld, val, "source") || !ld_has_key(ld, val, "destination")))
			ld_error(ld, val, kpath, "'source' and 'destination' are both required");
	} else if ((hint = str_suggest(kind, kinds, 2))) {
		ld_error(ld, key, path, "unknown provisioner '%s' (did you mean '%s'?)", kind, hint);
	} else {
		ld_error(ld, key, path, "unknown provisioner '%s' (shell or file)", kind);
	}
}

/* Steps from defaults run first, then the machine's own (as Vagrant's global provisioners). */
void ld_provision(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct machine *m = t;
	struct provision_step *steps;
	size_t n;

	if (!ld_want_list(ld, v, path))
		return;
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	steps = realloc(m->steps, (m->nsteps + n + 1) * sizeof(*steps));
	if (!steps)
		return;
	m->steps = steps;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = ld_node(ld, v->data.sequence.items.start[i]);
		char ipath[512];

		if (!item || !ld_visit(ld, item))
			break;
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		memset(&m->steps[m->nsteps], 0, sizeof(*steps));
		parse_step(ld, &m->steps[m->nsteps++], item, ipath);
	}
}

