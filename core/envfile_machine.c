/* The machine keys of the Envfile schema (used for machines.NAME and for defaults). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/envfile_internal.h"
#include "core/fsutil.h"
#include "core/strutil.h"
#include "core/version.h"

#define SET_STR(field)                                                                     \
	do {                                                                               \
		char *s_ = ld_string(ld, v, path);                                         \
		if (s_) {                                                                  \
			free(field);                                                       \
			field = s_;                                                        \
		}                                                                          \
	} while (0)

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static size_t seq_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* Checks that v is a list of at most ENVFILE_MAX_LIST items. */
static bool want_list(struct loader *ld, const yaml_node_t *v, const char *path)
{
	if (v->type != YAML_SEQUENCE_NODE) {
		ld_error(ld, v, path, "expected a list");
		return false;
	}
	if (seq_len(v) > ENVFILE_MAX_LIST) {
		ld_error(ld, v, path, "more than %d items", ENVFILE_MAX_LIST);
		return false;
	}
	return true;
}

/* A path from the Envfile, made absolute against the project directory. */
static char *project_path(struct loader *ld, const yaml_node_t *v, const char *path, bool must_exist)
{
	char *s = ld_string(ld, v, path), *abs;

	if (!s)
		return NULL;
	abs = fs_join(ld->dir, s);
	if (abs && must_exist) {
		/* Canonical, so "." is the project directory itself. */
		char *real = realpath(abs, NULL);

		if (!real)
			ld_error(ld, v, path, "no such file '%s'", s);
		free(abs);
		abs = real;
	}
	free(s);
	return abs;
}

static void k_box(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	SET_STR(((struct machine *)t)->box);
}

static void k_box_version(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct machine *m = t;
	char *s = ld_string(ld, v, path);
	struct constraint c;
	struct err e;

	if (!s)
		return;
	if (constraint_parse(s, &c, &e) < 0) {
		ld_error(ld, v, path, "%s", e.msg);
		free(s);
		return;
	}
	free(m->box_version);
	m->box_version = s;
}

static void k_box_url(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	SET_STR(((struct machine *)t)->box_url);
}

static void k_provider(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	static const char *const known[] = {"auto", "vmm", "qemu", "static"};
	struct machine *m = t;
	char *s = ld_string(ld, v, path);
	const char *hint;

	if (!s)
		return;
	for (size_t i = 0; i < 4; i++) {
		if (!strcmp(s, known[i])) {
			free(m->provider);
			m->provider = s;
			return;
		}
	}
	hint = str_suggest(s, known, 4);
	if (hint)
		ld_error(ld, v, path, "unknown provider '%s' (did you mean '%s'?)", s, hint);
	else
		ld_error(ld, v, path, "unknown provider '%s' (auto, vmm, qemu or static)", s);
	free(s);
}

static void k_cpus(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	long long n;

	if (ld_int(ld, v, path, 1, 255, &n))
		((struct machine *)t)->cpus = (int)n;
}

static void k_memory(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	char *s = ld_string(ld, v, path);
	uint64_t bytes;

	if (!s)
		return;
	if (!str_to_size(s, 1ULL << 20, &bytes))
		ld_error(ld, v, path, "'%s' is not a size (a number of MiB, or like \"512M\", "
			 "\"2G\")", s);
	else if (bytes < (32ULL << 20) || bytes > (4ULL << 40))
		ld_error(ld, v, path, "'%s' is out of range (32M to 4T)", s);
	else
		((struct machine *)t)->memory_mib = bytes >> 20;
	free(s);
}

static void k_disk(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	char *s = ld_string(ld, v, path);
	uint64_t bytes;

	if (!s)
		return;
	if (!str_to_size(s, 1ULL << 30, &bytes))
		ld_error(ld, v, path, "'%s' is not a size (like \"20G\"; a bare number is GiB)", s);
	else if (bytes < (1ULL << 20) || bytes > (64ULL << 40))
		ld_error(ld, v, path, "'%s' is out of range (1M to 64T)", s);
	else
		((struct machine *)t)->disk_bytes = bytes;
	free(s);
}

/* RFC 1123: dot-separated labels of letters, digits and inner hyphens. */
static bool valid_hostname(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 253)
		return false;
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, ".");

		if (n == 0 || n > 63 || p[0] == '-' || p[n - 1] == '-')
			return false;
		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)p[i]) && p[i] != '-')
				return false;
		p += n;
		if (*p == '.')
			p++;
	}
	return true;
}

static void k_hostname(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct machine *m = t;
	char *s = ld_string(ld, v, path);

	if (!s)
		return;
	if (!valid_hostname(s)) {
		ld_error(ld, v, path, "'%s' is not a valid host name", s);
		free(s);
		return;
	}
	free(m->hostname);
	m->hostname = s;
}

static void k_boot_timeout(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	long long n;

	if (ld_int(ld, v, path, 1, 86400, &n))
		((struct machine *)t)->boot_timeout = (int)n;
}

static void k_primary(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_bool(ld, v, path, &((struct machine *)t)->primary);
}

static void k_autostart(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_bool(ld, v, path, &((struct machine *)t)->autostart);
}

static void k_depends_on(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct machine *m = t;

	ld_string_list(ld, v, path, &m->depends_on, &m->ndepends);
}

static bool valid_ip(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* forwarded_ports[i] */
static void fp_guest(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	long long n;

	if (ld_int(ld, v, path, 1, 65535, &n))
		((struct forwarded_port *)t)->guest = (int)n;
}

static void fp_host(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	long long n;

	if (ld_int(ld, v, path, 1, 65535, &n))
		((struct forwarded_port *)t)->host = (int)n;
}

static void fp_host_ip(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct forwarded_port *fp = t;
	char *s = ld_string(ld, v, path);

	if (!s)
		return;
	if (!valid_ip(s)) {
		ld_error(ld, v, path, "'%s' is not an IP address", s);
		free(s);
		return;
	}
	free(fp->host_ip);
	fp->host_ip = s;
}

static void fp_protocol(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct forwarded_port *fp = t;
	char *s = ld_string(ld, v, path);

	if (!s)
		return;
	if (strcmp(s, "tcp") && strcmp(s, "udp")) {
		ld_error(ld, v, path, "'%s' is not tcp or udp", s);
		free(s);
		return;
	}
	free(fp->protocol);
	fp->protocol = s;
}

static const struct ld_key port_keys[] = {
	{"guest", fp_guest}, {"host", fp_host}, {"host_ip", fp_host_ip},
	{"protocol", fp_protocol}, {NULL, NULL},
};

static void free_ports(struct forwarded_port *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].host_ip);
		free(p[i].protocol);
	}
	free(p);
}

static void k_forwarded_ports(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct machine *m = t;
	struct forwarded_port *ports;
	size_t n;

	if (!want_list(ld, v, path))
		return;
	n = seq_len(v);
	ports = calloc(n ? n : 1, sizeof(*ports));
	if (!ports)
		return;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = ld_node(ld, v->data.sequence.items.start[i]);
		char ipath[512];

		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (!item || !ld_visit(ld, item))
			break;
		ld_mapping(ld, item, ipath, port_keys, &ports[i]);
		if (item->type == YAML_MAPPING_NODE &&
		    (!ld_has_key(ld, item, "guest") || !ld_has_key(ld, item, "host")))
			ld_error(ld, item, ipath, "'guest' and 'host' are both required");
		if (!ports[i].host_ip)
			ports[i].host_ip = strdup("127.0.0.1");
		if (!ports[i].protocol)
			ports[i].protocol = strdup("tcp");
	}
	free_ports(m->ports, m->nports);
	m->ports = ports;
	m->nports = n;
}

/* networks[i] */
static void net_type(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct network *nw = t;
	char *s = ld_string(ld, v, path);

	if (!s)
		return;
	if (strcmp(s, "private") && strcmp(s, "public")) {
		ld_error(ld, v, path, "'%s' is not private or public", s);
		free(s);
		return;
	}
	free(nw->type);
	nw->type = s;
}

static void net_ip(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct network *nw = t;
	char *s = ld_string(ld, v, path);

	if (!s)
		return;
	if (!valid_ip(s)) {
		ld_error(ld, v, path, "'%s' is not an IP address", s);
		free(s);
		return;
	}
	free(nw->ip);
	nw->ip = s;
}

static const struct ld_key net_keys[] = {{"type", net_type}, {"ip", net_ip}, {NULL, NULL}};

static void free_networks(struct network *nw, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(nw[i].type);
		free(nw[i].ip);
	}
	free(nw);
}

static void k_networks(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct machine *m = t;
	struct network *nws;
	size_t n;

	if (!want_list(ld, v, path))
		return;
	n = seq_len(v);
	nws = calloc(n ? n : 1, sizeof(*nws));
	if (!nws)
		return;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = ld_node(ld, v->data.sequence.items.start[i]);
		char ipath[512];

		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (!item || !ld_visit(ld, item))
			break;
		ld_mapping(ld, item, ipath, net_keys, &nws[i]);
		if (item->type == YAML_MAPPING_NODE && !ld_has_key(ld, item, "type"))
			ld_error(ld, item, ipath, "'type' is required (private or public)");
	}
	free_networks(m->networks, m->nnetworks);
	m->networks = nws;
	m->nnetworks = n;
}

/* synced_folders[i] */
static void sf_host(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct synced_folder *f = t;
	char *s = project_path(ld, v, path, true);

	if (s) {
		free(f->host);
		f->host = s;
	}
}

static void sf_guest(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct synced_folder *f = t;
	char *s = ld_string(ld, v, path);

	if (!s)
		return;
	if (s[0] != '/') {
		ld_error(ld, v, path, "'%s' must be an absolute path in the guest", s);
		free(s);
		return;
	}
	free(f->guest);
	f->guest = s;
}

static void sf_type(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct synced_folder *f = t;
	char *s = ld_string(ld, v, path);

	if (!s)
		return;
	if (strcmp(s, "rsync")) {
		ld_error(ld, v, path, "synced folder type '%s' is not supported (rsync)", s);
		free(s);
		return;
	}
	free(f->type);
	f->type = s;
}

static void sf_exclude(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct synced_folder *f = t;

	ld_string_list(ld, v, path, &f->exclude, &f->nexclude);
}

static const struct ld_key folder_keys[] = {
	{"host", sf_host}, {"guest", sf_guest}, {"type", sf_type}, {"exclude", sf_exclude},
	{NULL, NULL},
};

static void free_folders(struct synced_folder *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].host);
		free(f[i].guest);
		free(f[i].type);
		free_strv(f[i].exclude, f[i].nexclude);
	}
	free(f);
}

static void k_synced_folders(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct machine *m = t;
	struct synced_folder *fs;
	size_t n;

	if (!want_list(ld, v, path))
		return;
	n = seq_len(v);
	fs = calloc(n ? n : 1, sizeof(*fs));
	if (!fs)
		return;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = ld_node(ld, v->data.sequence.items.start[i]);
		char ipath[512];

		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (!item || !ld_visit(ld, item))
			break;
		ld_mapping(ld, item, ipath, folder_keys, &fs[i]);
		if (item->type == YAML_MAPPING_NODE &&
		    (!ld_has_key(ld, item, "host") || !ld_has_key(ld, item, "guest")))
			ld_error(ld, item, ipath, "'host' and 'guest' are both required");
		if (!fs[i].type)
			fs[i].type = strdup("rsync");
	}
	free_folders(m->folders, m->nfolders);
	m->folders = fs;
	m->nfolders = n;
}

/* ssh and static */
static void ssh_user(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	SET_STR(((struct ssh_settings *)t)->user);
}

static void ssh_port(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	long long n;

	if (ld_int(ld, v, path, 1, 65535, &n))
		((struct ssh_settings *)t)->port = (int)n;
}

static void ssh_key(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct ssh_settings *s = t;
	char *p = project_path(ld, v, path, true);

	if (p) {
		free(s->private_key);
		s->private_key = p;
	}
}

static const struct ld_key ssh_keys[] = {
	{"user", ssh_user}, {"port", ssh_port}, {"private_key", ssh_key}, {NULL, NULL},
};

static void k_ssh(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_mapping(ld, v, path, ssh_keys, &((struct machine *)t)->ssh);
}

static void static_host(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	SET_STR(((struct static_host *)t)->host);
}

static void static_port(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	long long n;

	if (ld_int(ld, v, path, 1, 65535, &n))
		((struct static_host *)t)->port = (int)n;
}

static const struct ld_key static_keys[] = {
	{"host", static_host}, {"port", static_port}, {NULL, NULL},
};

static void k_static(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_mapping(ld, v, path, static_keys, &((struct machine *)t)->static_host);
}

/* provision[i] */
static void sh_inline(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	SET_STR(((struct provision_step *)t)->inline_script);
}

static void sh_path(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct provision_step *st = t;
	char *p = project_path(ld, v, path, true);

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
	char *p = project_path(ld, v, path, true);

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

static void step_free(struct provision_step *st)
{
	free(st->name);
	free(st->inline_script);
	free(st->path);
	free_strv(st->args, st->nargs);
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
static void k_provision(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct machine *m = t;
	struct provision_step *steps;
	size_t n;

	if (!want_list(ld, v, path))
		return;
	n = seq_len(v);
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

static const struct ld_key machine_keys[] = {
	{"box", k_box},
	{"box_version", k_box_version},
	{"box_url", k_box_url},
	{"provider", k_provider},
	{"cpus", k_cpus},
	{"memory", k_memory},
	{"disk", k_disk},
	{"hostname", k_hostname},
	{"boot_timeout", k_boot_timeout},
	{"primary", k_primary},
	{"autostart", k_autostart},
	{"depends_on", k_depends_on},
	{"forwarded_ports", k_forwarded_ports},
	{"networks", k_networks},
	{"synced_folders", k_synced_folders},
	{"ssh", k_ssh},
	{"static", k_static},
	{"provision", k_provision},
	{NULL, NULL},
};

void ld_machine(struct loader *ld, struct machine *m, const yaml_node_t *map, const char *path)
{
	ld_mapping(ld, map, path, machine_keys, m);
}

int ld_machine_finish(struct loader *ld, struct machine *m, bool box_given, const char *path)
{
	int shell_n = 0, file_n = 0;

	/* box_given: a bad box value was already reported; don't add "required" to it. */
	if (!m->box && !box_given && (!m->provider || strcmp(m->provider, "static")))
		ld_error_at(ld, m->pos, path, "'box' is required (here or in defaults)");
	if (m->provider && !strcmp(m->provider, "static") && !m->static_host.host)
		ld_error_at(ld, m->pos, path, "provider static needs 'static: {host: ...}'");
	if (!m->provider)
		m->provider = strdup("auto");
	if (!m->cpus)
		m->cpus = 1;
	if (!m->memory_mib)
		m->memory_mib = 1024;
	if (!m->boot_timeout)
		m->boot_timeout = 300;
	if (!m->ssh.user)
		m->ssh.user = strdup("vagrant");
	if (!m->ssh.port)
		m->ssh.port = 22;
	if (!m->static_host.port)
		m->static_host.port = 22;
	for (size_t i = 0; i < m->nsteps; i++) {
		struct provision_step *st = &m->steps[i];
		int nth = st->kind == PROVISION_SHELL ? ++shell_n : ++file_n;

		if (!st->name && asprintf(&st->name, "%s %d",
					  st->kind == PROVISION_SHELL ? "shell" : "file", nth) < 0)
			st->name = NULL;
		for (size_t j = 0; j < i && st->name; j++) {
			if (m->steps[j].name && !strcmp(m->steps[j].name, st->name)) {
				ld_error_at(ld, st->pos, path, "two provision steps are named '%s'",
					    st->name);
				break;
			}
		}
	}
	return 0;
}

void machine_free(struct machine *m)
{
	free(m->name);
	free(m->box);
	free(m->box_version);
	free(m->box_url);
	free(m->provider);
	free(m->hostname);
	free_strv(m->depends_on, m->ndepends);
	free_ports(m->ports, m->nports);
	free_networks(m->networks, m->nnetworks);
	free_folders(m->folders, m->nfolders);
	free(m->ssh.user);
	free(m->ssh.private_key);
	free(m->static_host.host);
	for (size_t i = 0; i < m->nsteps; i++)
		step_free(&m->steps[i]);
	free(m->steps);
}
