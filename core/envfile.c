/* Envfile loading: YAML through libyaml's document API, then a schema walk that records every
 * problem with its line and column. Machine keys are in envfile_machine.c. */
#include "core/envfile.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/envfile_internal.h"
#include "core/fsutil.h"
#include "core/strutil.h"

static void add_problem(struct envfile_report *rep, char *msg)
{
	char **grown;

	if (!msg)
		return;
	/* Problems in defaults are met once per machine: say them once. */
	for (size_t i = 0; i < rep->n; i++) {
		if (!strcmp(rep->msgs[i], msg)) {
			free(msg);
			return;
		}
	}
	grown = realloc(rep->msgs, (rep->n + 1) * sizeof(*rep->msgs));
	if (!grown) {
		free(msg);
		return;
	}
	rep->msgs = grown;
	rep->msgs[rep->n++] = msg;
}

static void vreport(struct loader *ld, int line, int col, const char *path, const char *fmt,
		    va_list ap)
{
	char msg[768], *full = NULL;
	int n;

	if (ld->rep->n >= ENVFILE_MAX_PROBLEMS)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line <= 0)
		n = asprintf(&full, "%s: %s", ld->display, msg);
	else if (path && *path)
		n = asprintf(&full, "%s:%d:%d: %s: %s", ld->display, line, col, path, msg);
	else
		n = asprintf(&full, "%s:%d:%d: %s", ld->display, line, col, msg);
	add_problem(ld->rep, n < 0 ? NULL : full);
}

void ld_error(struct loader *ld, const yaml_node_t *node, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (node)
		vreport(ld, (int)node->start_mark.line + 1, (int)node->start_mark.column + 1, path,
			fmt, ap);
	else
		vreport(ld, 0, 0, path, fmt, ap);
	va_end(ap);
}

void ld_error_at(struct loader *ld, struct src_pos pos, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, pos.line, pos.col, path, fmt, ap);
	va_end(ap);
}

bool ld_visit(struct loader *ld, const yaml_node_t *node)
{
	if (++ld->visits <= ENVFILE_MAX_VISITS)
		return true;
	if (!ld->too_many)
		ld_error(ld, node, NULL, "document too large to walk (more than %d values; "
			 "are aliases expanding without bound?)", ENVFILE_MAX_VISITS);
	ld->too_many = true;
	return false;
}

yaml_node_t *ld_node(struct loader *ld, int index)
{
	return yaml_document_get_node(&ld->doc, index);
}

bool ld_has_key(struct loader *ld, const yaml_node_t *map, const char *name)
{
	if (map->type != YAML_MAPPING_NODE)
		return false;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *key = ld_node(ld, p->key);

		if (key && key->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)key->data.scalar.value, name))
			return true;
	}
	return false;
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	default: return "a value";
	}
}

/* Expands ${VAR} and ${VAR:-default}; "$$" is a literal "$". */
static char *interpolate(struct loader *ld, const yaml_node_t *node, const char *path,
			 const char *in)
{
	size_t cap = strlen(in) + 64, len = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	for (const char *p = in; *p;) {
		const char *add = p;
		size_t addlen = 1;
		char name[128];

		if (p[0] == '$' && p[1] == '$') {
			p += 2;
		} else if (p[0] == '$' && p[1] == '{') {
			const char *end = strchr(p + 2, '}');
			const char *dflt = NULL;
			size_t nlen;

			if (!end) {
				ld_error(ld, node, path, "unterminated '${' in '%s'", in);
				free(out);
				return NULL;
			}
			nlen = strcspn(p + 2, ":}");
			if (p[2 + nlen] == ':') {
				if (p[3 + nlen] != '-') {
					ld_error(ld, node, path, "bad interpolation in '%s' (use "
						 "${NAME} or ${NAME:-default})", in);
					free(out);
					return NULL;
				}
				dflt = p + 4 + nlen;
			}
			if (nlen == 0 || nlen >= sizeof(name)) {
				ld_error(ld, node, path, "bad variable name in '%s'", in);
				free(out);
				return NULL;
			}
			memcpy(name, p + 2, nlen);
			name[nlen] = '\0';
			for (size_t i = 0; i < nlen; i++) {
				if (!isalnum((unsigned char)name[i]) && name[i] != '_') {
					ld_error(ld, node, path, "bad variable name '%s'", name);
					free(out);
					return NULL;
				}
			}
			add = getenv(name);
			if (add && *add) {
				addlen = strlen(add);
			} else if (dflt) {
				add = dflt;
				addlen = (size_t)(end - dflt);
			} else if (add) {
				addlen = 0;
			} else {
				ld_error(ld, node, path, "environment variable '%s' is not set "
					 "(write ${%s:-default} to give a default)", name, name);
				free(out);
				return NULL;
			}
			p = end + 1;
		} else {
			p++;
		}
		if (len + addlen + 1 > cap) {
			char *grown;

			if (len + addlen + 1 > ENVFILE_MAX_BYTES) {
				ld_error(ld, node, path, "value too long after interpolation");
				free(out);
				return NULL;
			}
			cap = (len + addlen + 1) * 2;
			grown = realloc(out, cap);
			if (!grown) {
				free(out);
				return NULL;
			}
			out = grown;
		}
		memcpy(out + len, add, addlen);
		len += addlen;
	}
	out[len] = '\0';
	return out;
}

char *ld_string(struct loader *ld, const yaml_node_t *node, const char *path)
{
	char *s;

	if (node->type != YAML_SCALAR_NODE) {
		ld_error(ld, node, path, "expected a value, got %s", node_kind(node));
		return NULL;
	}
	s = interpolate(ld, node, path, (const char *)node->data.scalar.value);
	if (s && !*s && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		ld_error(ld, node, path, "value is missing");
		free(s);
		return NULL;
	}
	return s;
}

bool ld_int(struct loader *ld, const yaml_node_t *node, const char *path, long long min,
	    long long max, long long *out)
{
	char *s = ld_string(ld, node, path);
	bool ok;

	if (!s)
		return false;
	ok = str_to_int(s, LLONG_MIN, LLONG_MAX, out);
	if (!ok)
		ld_error(ld, node, path, "'%s' is not a whole number", s);
	else if (*out < min || *out > max) {
		ld_error(ld, node, path, "%lld is out of range (%lld to %lld)", *out, min, max);
		ok = false;
	}
	free(s);
	return ok;
}

bool ld_bool(struct loader *ld, const yaml_node_t *node, const char *path, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
	char *s = ld_string(ld, node, path);

	if (!s)
		return false;
	for (int i = 0; i < 3; i++) {
		if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
			*out = !strcasecmp(s, yes[i]);
			free(s);
			return true;
		}
	}
	ld_error(ld, node, path, "'%s' is not true or false", s);
	free(s);
	return false;
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

bool ld_string_list(struct loader *ld, const yaml_node_t *node, const char *path, char ***out,
		    size_t *n)
{
	size_t count;
	char **list;
	bool ok = true;

	if (node->type == YAML_SCALAR_NODE) {
		char *s = ld_string(ld, node, path);

		if (!s)
			return false;
		list = malloc(sizeof(*list));
		if (!list) {
			free(s);
			return false;
		}
		list[0] = s;
		free_list(*out, *n);
		*out = list;
		*n = 1;
		return true;
	}
	if (node->type != YAML_SEQUENCE_NODE) {
		ld_error(ld, node, path, "expected a list, got %s", node_kind(node));
		return false;
	}
	count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	if (count > ENVFILE_MAX_LIST) {
		ld_error(ld, node, path, "more than %d items", ENVFILE_MAX_LIST);
		return false;
	}
	list = calloc(count ? count : 1, sizeof(*list));
	if (!list)
		return false;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = ld_node(ld, node->data.sequence.items.start[i]);
		char ipath[512];

		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (!item || !ld_visit(ld, item) || !(list[i] = ld_string(ld, item, ipath)))
			ok = false;
	}
	if (!ok) {
		free_list(list, count);
		return false;
	}
	free_list(*out, *n);
	*out = list;
	*n = count;
	return true;
}

void ld_mapping(struct loader *ld, const yaml_node_t *map, const char *path,
		const struct ld_key *keys, void *target)
{
	const char *names[64];
	size_t nnames = 0;

	if (map->type != YAML_MAPPING_NODE) {
		ld_error(ld, map, path, "expected a mapping (key: value), got %s", node_kind(map));
		return;
	}
	for (const struct ld_key *k = keys; k->name && nnames < 64; k++)
		names[nnames++] = k->name;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *key = ld_node(ld, p->key), *val = ld_node(ld, p->value);
		const struct ld_key *found = NULL;
		const char *name;
		char kpath[512];

		if (!key || !val || !ld_visit(ld, val))
			return;
		if (key->type != YAML_SCALAR_NODE) {
			ld_error(ld, key, path, "keys must be plain words");
			continue;
		}
		name = (const char *)key->data.scalar.value;
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *prev = ld_node(ld, q->key);

			if (prev && prev->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)prev->data.scalar.value, name)) {
				ld_error(ld, key, path, "duplicate key '%s' (first at line %zu)",
					 name, prev->start_mark.line + 1);
				name = NULL;
				break;
			}
		}
		if (!name)
			continue;
		for (const struct ld_key *k = keys; k->name; k++)
			if (!strcmp(k->name, name))
				found = k;
		if (!found) {
			const char *s = str_suggest(name, names, nnames);

			if (s)
				ld_error(ld, key, path, "unknown key '%s' (did you mean '%s'?)",
					 name, s);
			else
				ld_error(ld, key, path, "unknown key '%s'", name);
			continue;
		}
		snprintf(kpath, sizeof(kpath), "%s%s%s", path, *path ? "." : "", name);
		found->fn(ld, target, val, kpath);
	}
}

/* The top level. */

struct top {
	struct env *env;
	const yaml_node_t *defaults;
	const yaml_node_t *machines;
	bool have_version;
};

static void top_version(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct top *top = t;
	long long n;

	top->have_version = true;
	if (ld_int(ld, v, path, 1, 1000, &n)) {
		if (n != 1)
			ld_error(ld, v, path, "version %lld is not supported (this envup reads "
				 "version 1)", n);
		top->env->version = (int)n;
	}
}

static void top_registries(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct top *top = t;

	ld_string_list(ld, v, path, &top->env->registries, &top->env->nregistries);
}

static void top_defaults(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	if (v->type != YAML_MAPPING_NODE)
		ld_error(ld, v, path, "expected a mapping of machine keys, got %s", node_kind(v));
	else
		((struct top *)t)->defaults = v;
}

static void top_machines(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	((struct top *)t)->machines = v;
}

static const struct ld_key top_keys[] = {
	{"version", top_version},
	{"registries", top_registries},
	{"defaults", top_defaults},
	{"machines", top_machines},
	{NULL, NULL},
};

static bool valid_machine_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

static void load_machines(struct loader *ld, struct top *top, const yaml_node_t *root)
{
	const yaml_node_t *ms = top->machines;
	struct env *env = top->env;
	size_t count;

	if (!ms) {
		ld_error(ld, root, NULL, "'machines' is missing: an Envfile needs at least one "
			 "machine");
		return;
	}
	if (ms->type != YAML_MAPPING_NODE) {
		ld_error(ld, ms, "machines", "expected a mapping of machine names, got %s",
			 node_kind(ms));
		return;
	}
	count = (size_t)(ms->data.mapping.pairs.top - ms->data.mapping.pairs.start);
	if (count == 0) {
		ld_error(ld, ms, "machines", "at least one machine is needed");
		return;
	}
	if (count > ENVFILE_MAX_LIST) {
		ld_error(ld, ms, "machines", "more than %d machines", ENVFILE_MAX_LIST);
		return;
	}
	env->machines = calloc(count, sizeof(*env->machines));
	if (!env->machines)
		return;
	for (size_t i = 0; i < count; i++) {
		yaml_node_pair_t *p = &ms->data.mapping.pairs.start[i];
		yaml_node_t *key = ld_node(ld, p->key), *val = ld_node(ld, p->value);
		struct machine *m = &env->machines[env->nmachines];
		const char *name;
		char path[512];

		if (!key || !val || !ld_visit(ld, val))
			return;
		if (key->type != YAML_SCALAR_NODE) {
			ld_error(ld, key, "machines", "machine names must be plain words");
			continue;
		}
		name = (const char *)key->data.scalar.value;
		if (!valid_machine_name(name)) {
			ld_error(ld, key, "machines", "'%s' is not a valid machine name (lower-case "
				 "letters, digits and '-', starting with a letter or digit, at most "
				 "63)", name);
			continue;
		}
		if (env_machine(env, name)) {
			ld_error(ld, key, "machines", "duplicate machine '%s'", name);
			continue;
		}
		m->name = strdup(name);
		m->pos.line = (int)key->start_mark.line + 1;
		m->pos.col = (int)key->start_mark.column + 1;
		m->autostart = true;
		env->nmachines++;
		snprintf(path, sizeof(path), "machines.%s", name);
		if (top->defaults)
			ld_machine(ld, m, top->defaults, "defaults");
		if (val->type == YAML_SCALAR_NODE && !*val->data.scalar.value)
			; /* "web:" with nothing: defaults only */
		else
			ld_machine(ld, m, val, path);
		ld_machine_finish(ld, m, ld_has_key(ld, val, "box") ||
				  (top->defaults && ld_has_key(ld, top->defaults, "box")), path);
	}
}

/* depends_on names machines that exist and forms no cycle; at most one primary. */
static void check_relations(struct loader *ld, struct env *env)
{
	size_t n = env->nmachines, done = 0, primaries = 0;
	bool *placed = calloc(n ? n : 1, sizeof(bool));

	if (!placed)
		return;
	for (size_t i = 0; i < n; i++) {
		struct machine *m = &env->machines[i];

		primaries += m->primary;
		for (size_t d = 0; d < m->ndepends; d++) {
			if (!env_machine(env, m->depends_on[d]))
				ld_error_at(ld, m->pos, NULL, "machines.%s.depends_on: no machine "
					    "named '%s'", m->name, m->depends_on[d]);
			else if (!strcmp(m->depends_on[d], m->name))
				ld_error_at(ld, m->pos, NULL, "machines.%s.depends_on: a machine "
					    "cannot depend on itself", m->name);
		}
	}
	if (primaries > 1)
		ld_error(ld, NULL, NULL, "more than one machine is marked primary");
	/* Kahn's algorithm: whatever cannot be placed is on a cycle. */
	for (bool progress = true; progress && done < n;) {
		progress = false;
		for (size_t i = 0; i < n; i++) {
			struct machine *m = &env->machines[i];
			bool ready = !placed[i];

			for (size_t d = 0; ready && d < m->ndepends; d++) {
				const struct machine *dep = env_machine(env, m->depends_on[d]);

				if (dep && dep != m && !placed[dep - env->machines])
					ready = false;
			}
			if (ready) {
				placed[i] = true;
				done++;
				progress = true;
			}
		}
	}
	for (size_t i = 0; i < n && done < n; i++) {
		if (!placed[i]) {
			ld_error_at(ld, env->machines[i].pos, NULL, "machines.%s.depends_on: "
				    "dependency cycle", env->machines[i].name);
			break;
		}
	}
	free(placed);
}

const struct machine *env_machine(const struct env *env, const char *name)
{
	for (size_t i = 0; i < env->nmachines; i++)
		if (env->machines[i].name && !strcmp(env->machines[i].name, name))
			return &env->machines[i];
	return NULL;
}

static void report_yaml_error(struct loader *ld, const yaml_parser_t *parser)
{
	const yaml_mark_t *mark = parser->problem_mark.line || parser->problem_mark.column
					  ? &parser->problem_mark
					  : &parser->context_mark;
	char *msg = NULL;

	if (asprintf(&msg, "%s:%zu:%zu: YAML syntax error: %s%s%s", ld->display, mark->line + 1,
		     mark->column + 1, parser->problem ? parser->problem : "malformed document",
		     parser->context ? " " : "", parser->context ? parser->context : "") < 0)
		return;
	ld->rep->msgs = calloc(1, sizeof(char *));
	if (!ld->rep->msgs) {
		free(msg);
		return;
	}
	ld->rep->msgs[0] = msg;
	ld->rep->n = 1;
}

static int set_paths(struct env *env, const char *path, struct err *e)
{
	char *abs = realpath(path, NULL);

	if (!abs)
		return err_sys(e, "cannot resolve %s", path);
	env->path = abs;
	env->dir = fs_dirname(abs);
	return env->dir ? 0 : err_set(e, ERR_FAIL, "out of memory");
}

int envfile_load_report(const char *path, const char *display, struct env **out,
			struct envfile_report *rep, struct err *e)
{
	struct loader ld = {.display = display ? display : path, .rep = rep};
	yaml_parser_t parser;
	struct top top = {0};
	yaml_node_t *root;
	char *text;
	size_t len;
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	*out = NULL;
	if (fs_read_file(path, ENVFILE_MAX_BYTES, &text, &len, e) < 0)
		return -1;
	top.env = calloc(1, sizeof(*top.env));
	if (!top.env || !yaml_parser_initialize(&parser)) {
		free(text);
		free(top.env);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	if (set_paths(top.env, path, e) < 0)
		goto out_parser;
	ld.dir = top.env->dir;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &ld.doc)) {
		report_yaml_error(&ld, &parser);
		goto out_fail;
	}
	root = yaml_document_get_root_node(&ld.doc);
	if (!root) {
		ld_error(&ld, NULL, NULL, "the file is empty (an Envfile needs 'version: 1' and "
			 "'machines:')");
	} else {
		ld_mapping(&ld, root, "", top_keys, &top);
		if (root->type == YAML_MAPPING_NODE && !top.have_version)
			ld_error(&ld, root, NULL, "'version' is missing (write 'version: 1')");
		if (root->type == YAML_MAPPING_NODE)
			load_machines(&ld, &top, root);
		check_relations(&ld, top.env);
	}
	yaml_document_delete(&ld.doc);
out_fail:
	if (rep->n == 0) {
		*out = top.env;
		top.env = NULL;
		rc = 0;
	} else if (rep->n == 1) {
		err_set(e, ERR_USAGE, "%s", rep->msgs[0]);
	} else {
		err_set(e, ERR_USAGE, "%s (and %zu more problem%s; envvalidate lists them)",
			rep->msgs[0], rep->n - 1, rep->n > 2 ? "s" : "");
	}
out_parser:
	yaml_parser_delete(&parser);
	envfile_free(top.env);
	free(text);
	return rc;
}

void envfile_report_free(struct envfile_report *rep)
{
	free_list(rep->msgs, rep->n);
	rep->msgs = NULL;
	rep->n = 0;
}

int envfile_load(const char *path, struct env **out, struct err *e)
{
	struct envfile_report rep;
	int rc = envfile_load_report(path, NULL, out, &rep, e);

	envfile_report_free(&rep);
	return rc;
}

void envfile_free(struct env *env)
{
	if (!env)
		return;
	for (size_t i = 0; i < env->nmachines; i++)
		machine_free(&env->machines[i]);
	free(env->machines);
	free_list(env->registries, env->nregistries);
	free(env->path);
	free(env->dir);
	free(env);
}

int envfile_find(const char *cwd, char **path, struct err *e)
{
	const char *forced = getenv("ENVUP_ENVFILE");
	char *dir;

	if (forced && *forced) {
		if (!fs_exists(forced))
			return err_set(e, ERR_NOTFOUND, "ENVUP_ENVFILE=%s: no such file", forced);
		*path = strdup(forced);
		return *path ? 0 : err_set(e, ERR_FAIL, "out of memory");
	}
	dir = strdup(cwd);
	if (!dir)
		return err_set(e, ERR_FAIL, "out of memory");
	for (;;) {
		char *candidate = fs_join(dir, "Envfile"), *parent;

		if (!candidate) {
			free(dir);
			return err_set(e, ERR_FAIL, "out of memory");
		}
		if (access(candidate, F_OK) == 0) {
			free(dir);
			*path = candidate;
			return 0;
		}
		free(candidate);
		if (!strcmp(dir, "/"))
			break;
		parent = fs_dirname(dir);
		free(dir);
		if (!parent)
			return err_set(e, ERR_FAIL, "out of memory");
		dir = parent;
	}
	free(dir);
	return err_set(e, ERR_NOTFOUND, "no Envfile in %s or any parent directory (run "
		       "'envinit' to write one, or set ENVUP_ENVFILE)", cwd);
}
