/* Envfile loading: the top level of the schema, machines and the checks across them. The YAML
 * walk is core/yamlwalk.c; machine keys are in envfile_machine.c, steps in envfile_provision.c. */
#include "core/envfile.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/envfile_internal.h"
#include "core/fsutil.h"
#include "core/strutil.h"

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
		ld_error(ld, v, path, "expected a mapping of machine keys, got %s", ld_node_kind(v));
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
			 ld_node_kind(ms));
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
/* Kahn's algorithm over the depends_on edges (dep -> machine); whatever cannot be placed is on
 * a cycle or behind one. Linear in machines plus edges: names are resolved once. */
static void check_cycles(struct loader *ld, struct env *env, const size_t *dep_of,
			 const size_t *first, size_t nedges)
{
	size_t n = env->nmachines, head = 0, tail = 0;
	size_t *indeg = calloc(n, sizeof(size_t)), *queue = calloc(n, sizeof(size_t));
	size_t *rfirst = calloc(n + 1, sizeof(size_t)), *rev = calloc(nedges ? nedges : 1,
								 sizeof(size_t));
	size_t *fill = calloc(n + 1, sizeof(size_t));

	if (!indeg || !queue || !rfirst || !rev || !fill)
		goto out;
	/* Dependents of each machine, grouped by counting. */
	for (size_t k = 0; k < nedges; k++)
		if (dep_of[k] != SIZE_MAX)
			rfirst[dep_of[k] + 1]++;
	for (size_t j = 0; j < n; j++)
		rfirst[j + 1] += rfirst[j];
	for (size_t i = 0; i < n; i++) {
		for (size_t k = first[i]; k < first[i + 1]; k++) {
			size_t j = dep_of[k];

			if (j == SIZE_MAX)
				continue;
			rev[rfirst[j] + fill[j]++] = i;
			indeg[i]++;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!indeg[i])
			queue[tail++] = i;
	while (head < tail) {
		size_t j = queue[head++];

		for (size_t k = rfirst[j]; k < rfirst[j + 1]; k++)
			if (--indeg[rev[k]] == 0)
				queue[tail++] = rev[k];
	}
	for (size_t i = 0; i < n && tail < n; i++) {
		if (indeg[i]) {
			ld_error_at(ld, env->machines[i].pos, NULL, "machines.%s.depends_on: "
				    "dependency cycle", env->machines[i].name);
			break;
		}
	}
out:
	free(indeg);
	free(queue);
	free(rfirst);
	free(rev);
	free(fill);
}

/* depends_on names machines that exist and forms no cycle; at most one primary. */
static void check_relations(struct loader *ld, struct env *env)
{
	size_t n = env->nmachines, nedges = 0, primaries = 0;
	size_t *first = calloc(n + 1, sizeof(size_t)), *dep_of;

	if (!first)
		return;
	for (size_t i = 0; i < n; i++) {
		first[i] = nedges;
		nedges += env->machines[i].ndepends;
	}
	first[n] = nedges;
	dep_of = calloc(nedges ? nedges : 1, sizeof(size_t));
	if (!dep_of) {
		free(first);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct machine *m = &env->machines[i];

		primaries += m->primary;
		for (size_t d = 0; d < m->ndepends; d++) {
			const struct machine *dep = env_machine(env, m->depends_on[d]);

			/* SIZE_MAX: an edge already reported, left out of the cycle check. */
			dep_of[first[i] + d] = SIZE_MAX;
			if (!dep)
				ld_error_at(ld, m->pos, NULL, "machines.%s.depends_on: no machine "
					    "named '%s'", m->name, m->depends_on[d]);
			else if (dep == m)
				ld_error_at(ld, m->pos, NULL, "machines.%s.depends_on: a machine "
					    "cannot depend on itself", m->name);
			else
				dep_of[first[i] + d] = (size_t)(dep - env->machines);
		}
	}
	if (primaries > 1)
		ld_error(ld, NULL, NULL, "more than one machine is marked primary");
	check_cycles(ld, env, dep_of, first, nedges);
	free(dep_of);
	free(first);
}

const struct machine *env_machine(const struct env *env, const char *name)
{
	for (size_t i = 0; i < env->nmachines; i++)
		if (env->machines[i].name && !strcmp(env->machines[i].name, name))
			return &env->machines[i];
	return NULL;
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
			struct yaml_report *rep, struct err *e)
{
	struct loader ld;
	struct top top = {0};
	yaml_node_t *root;
	int rc;

	*out = NULL;
	top.env = calloc(1, sizeof(*top.env));
	if (!top.env)
		return err_set(e, ERR_FAIL, "out of memory");
	if (set_paths(top.env, path, e) < 0) {
		memset(rep, 0, sizeof(*rep));
		envfile_free(top.env);
		return -1;
	}
	rc = ld_open(&ld, path, display, ENVFILE_MAX_BYTES, rep, e);
	if (rc < 0) {
		envfile_free(top.env);
		return -1;
	}
	ld.dir = top.env->dir;
	ld.interpolate = true;
	root = rc > 0 ? yaml_document_get_root_node(&ld.doc) : NULL;
	if (rc > 0 && !root) {
		ld_error(&ld, NULL, NULL, "the file is empty (an Envfile needs 'version: 1' and "
			 "'machines:')");
	} else if (root) {
		ld_mapping(&ld, root, "", top_keys, &top);
		if (root->type == YAML_MAPPING_NODE && !top.have_version)
			ld_error(&ld, root, NULL, "'version' is missing (write 'version: 1')");
		if (root->type == YAML_MAPPING_NODE)
			load_machines(&ld, &top, root);
		check_relations(&ld, top.env);
	}
	rc = ld_close(&ld, e);
	if (rc == 0) {
		*out = top.env;
		top.env = NULL;
	}
	envfile_free(top.env);
	return rc;
}

int envfile_load(const char *path, struct env **out, struct err *e)
{
	struct yaml_report rep;
	int rc = envfile_load_report(path, NULL, out, &rep, e);

	yaml_report_free(&rep);
	return rc;
}

void envfile_free(struct env *env)
{
	if (!env)
		return;
	for (size_t i = 0; i < env->nmachines; i++)
		machine_free(&env->machines[i]);
	free(env->machines);
	ld_free_strv(env->registries, env->nregistries);
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
