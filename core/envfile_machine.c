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

static size_t seq_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

void *ld_mapping_list(struct loader *ld, const yaml_node_t *v, const char *path, size_t elem,
		      const struct ld_key *keys, const char *const *required,
		      const char *missing_msg, size_t *n)
{
	char *items;

	if (!ld_want_list(ld, v, path))
		return NULL;
	*n = seq_len(v);
	items = calloc(*n ? *n : 1, elem);
	if (!items)
		return NULL;
	for (size_t i = 0; i < *n; i++) {
		yaml_node_t *item = ld_node(ld, v->data.sequence.items.start[i]);
		char ipath[512];

		if (!item || !ld_visit(ld, item))
			break;
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		ld_mapping(ld, item, ipath, keys, items + i * elem);
		for (const char *const *r = required; *r && item->type == YAML_MAPPING_NODE; r++) {
			if (!ld_has_key(ld, item, *r)) {
				ld_error(ld, item, ipath, "%s", missing_msg);
				break;
			}
		}
	}
	return items;
}

char *ld_project_path(struct loader *ld, const yaml_node_t *v, const char *path, bool must_exist)
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

bool envfile_box_valid(const char *box)
{
	size_t n = strlen(box);

	if (!n || n > ENVFILE_BOX_MAX)
		return false;
	for (const char *p = box; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static void k_box(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_checked_string(ld, v, path, envfile_box_valid,
			  "is not a box name, URL or path (no control characters, at most 4096 "
			  "bytes)",
			  &((struct machine *)t)->box);
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
		ld_error(ld, v, path,
			 "'%s' is not a size (a number of MiB, or like \"512M\", "
			 "\"2G\")",
			 s);
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
	ld_checked_string(ld, v, path, valid_hostname, "is not a valid host name",
			  &((struct machine *)t)->hostname);
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
	ld_checked_string(ld, v, path, valid_ip, "is not an IP address",
			  &((struct forwarded_port *)t)->host_ip);
}

static bool tcp_or_udp(const char *s)
{
	return !strcmp(s, "tcp") || !strcmp(s, "udp");
}

static void fp_protocol(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_checked_string(ld, v, path, tcp_or_udp, "is not tcp or udp",
			  &((struct forwarded_port *)t)->protocol);
}

static void fp_auto_correct(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_bool(ld, v, path, &((struct forwarded_port *)t)->auto_correct);
}

static const struct ld_key port_keys[] = {
	{"guest", fp_guest},
	{"host", fp_host},
	{"host_ip", fp_host_ip},
	{"protocol", fp_protocol},
	{"auto_correct", fp_auto_correct},
	{NULL, NULL},
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
	static const char *const required[] = {"guest", "host", NULL};
	struct machine *m = t;
	struct forwarded_port *ports;
	size_t n;

	ports = ld_mapping_list(ld, v, path, sizeof(*ports), port_keys, required,
				"'guest' and 'host' are both required", &n);
	if (!ports)
		return;
	for (size_t i = 0; i < n; i++) {
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
static bool private_or_public(const char *s)
{
	return !strcmp(s, "private") || !strcmp(s, "public");
}

static void net_type(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_checked_string(ld, v, path, private_or_public, "is not private or public",
			  &((struct network *)t)->type);
}

static void net_ip(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_checked_string(ld, v, path, valid_ip, "is not an IP address",
			  &((struct network *)t)->ip);
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
	static const char *const required[] = {"type", NULL};
	struct machine *m = t;
	struct network *nws;
	size_t n;

	nws = ld_mapping_list(ld, v, path, sizeof(*nws), net_keys, required,
			      "'type' is required (private or public)", &n);
	if (!nws)
		return;
	free_networks(m->networks, m->nnetworks);
	m->networks = nws;
	m->nnetworks = n;
}

/* ssh and static */

/* A login name: letters, digits, '.', '_', '-' and '@' (not first), at most 64 bytes. It is
 * written into ssh_config by envssh-config, so nothing that could end or extend a line. */
bool ld_valid_user(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '-' || s[0] == '@')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-@", s[i]))
			return false;
	return true;
}

static void ssh_user(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_checked_string(ld, v, path, ld_valid_user,
			  "is not a user name (letters, digits, '.', '_', '-', '@')",
			  &((struct ssh_settings *)t)->user);
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
	char *p = ld_project_path(ld, v, path, true);

	if (p) {
		free(s->private_key);
		s->private_key = p;
	}
}

static const struct ld_key ssh_keys[] = {
	{"user", ssh_user},
	{"port", ssh_port},
	{"private_key", ssh_key},
	{NULL, NULL},
};

static void k_ssh(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_mapping(ld, v, path, ssh_keys, &((struct machine *)t)->ssh);
}

static bool valid_host(const char *s)
{
	return valid_hostname(s) || valid_ip(s);
}

static void static_host(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_checked_string(ld, v, path, valid_host, "is not a host name or an IP address",
			  &((struct static_host *)t)->host);
}

static void static_port(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	long long n;

	if (ld_int(ld, v, path, 1, 65535, &n))
		((struct static_host *)t)->port = (int)n;
}

static const struct ld_key static_keys[] = {
	{"host", static_host},
	{"port", static_port},
	{NULL, NULL},
};

static void k_static(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_mapping(ld, v, path, static_keys, &((struct machine *)t)->static_host);
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
	{"synced_folders", ld_synced_folders},
	{"ssh", k_ssh},
	{"static", k_static},
	{"provision", ld_provision},
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
	ld_folders_finish(ld, m, path);
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
	ld_free_strv(m->depends_on, m->ndepends);
	free(m->dep_index);
	free_ports(m->ports, m->nports);
	free_networks(m->networks, m->nnetworks);
	ld_folders_free(m->folders, m->nfolders);
	free(m->ssh.user);
	free(m->ssh.private_key);
	free(m->static_host.host);
	for (size_t i = 0; i < m->nsteps; i++)
		ld_step_free(&m->steps[i]);
	free(m->steps);
}
