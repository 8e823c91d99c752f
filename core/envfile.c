/* Envfile loading: the top level of the schema, machines and the checks across them. The YAML
 * walk is core/yamlwalk.c; machine keys are in envfile_machine.c, steps in envfile_provision.c. */
#include "core/envfile.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
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
		if (!m->name) {
			ld_error(ld, NULL, NULL, "out of memory");
			return;
		}
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

/* A binary min-heap of machine indices: of the machines ready to go, the first in the
 * Envfile. */
static void heap_push(size_t *h, size_t *n, size_t v)
{
	size_t i = (*n)++;

	for (; i && h[(i - 1) / 2] > v; i = (i - 1) / 2)
		h[i] = h[(i - 1) / 2];
	h[i] = v;
}

static size_t heap_pop(size_t *h, size_t *n)
{
	size_t top = h[0], v = h[--*n], i = 0;

	for (size_t c; (c = 2 * i + 1) < *n; i = c) {
		if (c + 1 < *n && h[c + 1] < h[c])
			c++;
		if (v <= h[c])
			break;
		h[i] = h[c];
	}
	if (*n)
		h[i] = v;
	return top;
}

/* Kahn's algorithm over the depends_on edges (dep -> machine), taking the earliest ready
 * machine each time: env->order is Envfile order except that a machine comes after what it
 * depends on. Whatever cannot be placed is on a cycle or behind one. O((machines + edges) log
 * machines). */
static void order_machines(struct loader *ld, struct env *env)
{
	size_t n = env->nmachines, nedges = 0, nheap = 0, placed = 0;
	size_t *indeg = calloc(n + 1, sizeof(size_t)), *heap = calloc(n + 1, sizeof(size_t));
	size_t *rfirst = calloc(n + 1, sizeof(size_t)), *fill = calloc(n + 1, sizeof(size_t));
	size_t *rev = NULL;

	for (size_t i = 0; i < n; i++)
		nedges += env->machines[i].ndepends;
	rev = calloc(nedges + 1, sizeof(size_t));
	env->order = calloc(n + 1, sizeof(size_t));
	if (!indeg || !heap || !rfirst || !fill || !rev || !env->order) {
		ld_error(ld, NULL, NULL, "out of memory");
		goto out;
	}
	/* Dependents of each machine, grouped by counting. */
	for (size_t i = 0; i < n; i++)
		for (size_t d = 0; d < env->machines[i].ndepends; d++)
			if (env->machines[i].dep_index[d] != SIZE_MAX)
				rfirst[env->machines[i].dep_index[d] + 1]++;
	for (size_t j = 0; j < n; j++)
		rfirst[j + 1] += rfirst[j];
	for (size_t i = 0; i < n; i++) {
		for (size_t d = 0; d < env->machines[i].ndepends; d++) {
			size_t j = env->machines[i].dep_index[d];

			if (j == SIZE_MAX)
				continue;
			rev[rfirst[j] + fill[j]++] = i;
			indeg[i]++;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!indeg[i])
			heap_push(heap, &nheap, i);
	while (nheap) {
		size_t j = heap_pop(heap, &nheap);

		env->order[placed++] = j;
		for (size_t k = rfirst[j]; k < rfirst[j + 1]; k++)
			if (--indeg[rev[k]] == 0)
				heap_push(heap, &nheap, rev[k]);
	}
	for (size_t i = 0; i < n && placed < n; i++) {
		if (indeg[i]) {
			ld_error_at(ld, env->machines[i].pos, NULL, "machines.%s.depends_on: "
				    "dependency cycle", env->machines[i].name);
			break;
		}
	}
out:
	free(indeg);
	free(heap);
	free(rfirst);
	free(fill);
	free(rev);
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(const struct machine *const *)a)->name,
		      (*(const struct machine *const *)b)->name);
}

static int name_cmp(const void *key, const void *m)
{
	return strcmp(key, (*(const struct machine *const *)m)->name);
}

struct port_use {
	const struct machine *m;
	const struct forwarded_port *fp;
	size_t idx;
};

static int port_use_cmp(const void *pa, const void *pb)
{
	const struct port_use *a = pa, *b = pb;
	int c = a->fp->host - b->fp->host;

	if (!c)
		c = strcmp(a->fp->protocol, b->fp->protocol);
	if (!c)
		c = a->m < b->m ? -1 : a->m > b->m; /* Envfile order within one port */
	if (!c)
		c = a->idx < b->idx ? -1 : a->idx > b->idx;
	return c;
}

static bool ip_wildcard(const char *ip)
{
	return !strcmp(ip, "0.0.0.0") || !strcmp(ip, "::");
}

/* One host port (per protocol and address, a wildcard address overlapping all) is forwarded
 * once in the whole project: a second forward could never bind. Sorted, so linear in the
 * forwards of one port. */
static void check_ports(struct loader *ld, const struct env *env)
{
	struct port_use *v;
	size_t n = 0;

	for (size_t i = 0; i < env->nmachines; i++)
		n += env->machines[i].nports;
	v = calloc(n + 1, sizeof(*v));
	if (!v) {
		ld_error(ld, NULL, NULL, "out of memory");
		return;
	}
	n = 0;
	for (size_t i = 0; i < env->nmachines; i++)
		for (size_t j = 0; j < env->machines[i].nports; j++)
			if (env->machines[i].ports[j].host && env->machines[i].ports[j].protocol &&
			    env->machines[i].ports[j].host_ip)
				v[n++] = (struct port_use){&env->machines[i],
							   &env->machines[i].ports[j], j};
	qsort(v, n, sizeof(*v), port_use_cmp);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = i; k-- > 0;) {
			const struct port_use *a = &v[k], *b = &v[i];

			if (a->fp->host != b->fp->host || strcmp(a->fp->protocol, b->fp->protocol))
				break;
			if (strcmp(a->fp->host_ip, b->fp->host_ip) && !ip_wildcard(a->fp->host_ip) &&
			    !ip_wildcard(b->fp->host_ip))
				continue;
			ld_error_at(ld, b->m->pos, NULL,
				    "machines.%s.forwarded_ports[%zu].host: port %d/%s is already "
				    "forwarded by machine '%s'",
				    b->m->name, b->idx, b->fp->host, b->fp->protocol, a->m->name);
			break;
		}
	}
	free(v);
}

/* depends_on names machines that exist and forms no cycle; at most one primary. Resolves
 * each machine's dep_index (by binary search: depends_on may hold 10^5 names in all) and
 * the env's order. */
static void check_relations(struct loader *ld, struct env *env)
{
	size_t n = env->nmachines, primaries = 0;
	const struct machine **sorted = calloc(n + 1, sizeof(*sorted));

	if (!sorted) {
		ld_error(ld, NULL, NULL, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		sorted[i] = &env->machines[i];
	qsort(sorted, n, sizeof(*sorted), by_name);
	for (size_t i = 0; i < n; i++) {
		struct machine *m = &env->machines[i];

		primaries += m->primary;
		m->dep_index = calloc(m->ndepends + 1, sizeof(size_t));
		if (!m->dep_index) {
			ld_error(ld, NULL, NULL, "out of memory");
			free(sorted);
			return;
		}
		for (size_t d = 0; d < m->ndepends; d++) {
			const struct machine *const *found =
				bsearch(m->depends_on[d], sorted, n, sizeof(*sorted), name_cmp);
			const struct machine *dep = found ? *found : NULL;

			/* SIZE_MAX: an edge already reported, left out of the cycle check. */
			m->dep_index[d] = SIZE_MAX;
			if (!dep)
				ld_error_at(ld, m->pos, NULL, "machines.%s.depends_on: no machine "
					    "named '%s'", m->name, m->depends_on[d]);
			else if (dep == m)
				ld_error_at(ld, m->pos, NULL, "machines.%s.depends_on: a machine "
					    "cannot depend on itself", m->name);
			else
				m->dep_index[d] = (size_t)(dep - env->machines);
		}
	}
	free(sorted);
	if (primaries > 1)
		ld_error(ld, NULL, NULL, "more than one machine is marked primary");
	check_ports(ld, env);
	order_machines(ld, env);
}

const struct machine *env_machine(const struct env *env, const char *name)
{
	for (size_t i = 0; i < env->nmachines; i++)
		if (env->machines[i].name && !strcmp(env->machines[i].name, name))
			return &env->machines[i];
	return NULL;
}

const struct machine *env_machine_named(const struct env *env, const char *name, struct err *e)
{
	const struct machine *m = env_machine(env, name);
	const char *cand[256], *s;
	size_t n = env->nmachines < 256 ? env->nmachines : 256;

	if (m)
		return m;
	for (size_t i = 0; i < n; i++)
		cand[i] = env->machines[i].name;
	s = str_suggest(name, cand, n);
	err_set(e, ERR_USAGE, "no machine named '%s' in %s%s%s%s", name, env->path,
		s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
	return NULL;
}

static int set_paths(struct env *env, const char *path, struct err *e)
{
	char *abs = realpath(path, NULL);
	struct stat st;

	if (!abs && errno == ENOENT && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		return err_set(e, ERR_NOTFOUND, "%s is a symbolic link to a missing file", path);
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
	free(env->order);
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
		/* lstat: a dangling link is the Envfile (loading says what is wrong with it) */
		if (fs_exists(candidate)) {
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
