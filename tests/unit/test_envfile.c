/* The Envfile loader: every key, every error with its exact position, interpolation,
 * defaults merging. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/unit.h"

#include "core/envfile.h"
#include "core/fsutil.h"
#include "core/yamlwalk.h"


/* Loads text as unit_dir/Envfile; returns the env (NULL on failure) and the report. */
static struct env *load(const char *text, struct yaml_report *rep)
{
	struct env *env = NULL;
	struct err e = {0};
	char *path;

	unit_write(unit_dir, "Envfile", text);
	path = fs_join(unit_dir, "Envfile");
	envfile_load_report(path, "Envfile", &env, rep, &e);
	free(path);
	return env;
}

/* Asserts that text fails with exactly one problem, equal to want. */
static void expect_error(const char *text, const char *want)
{
	struct yaml_report rep;
	struct env *env = load(text, &rep);

	assert_null(env);
	if (rep.n != 1 || strcmp(rep.msgs[0], want)) {
		for (size_t i = 0; i < rep.n; i++)
			print_error("got: %s\n", rep.msgs[i]);
		print_error("want: %s\n", want);
		fail();
	}
	yaml_report_free(&rep);
}

static void test_full_example(void **state)
{
	struct yaml_report rep;
	struct env *env;
	const struct machine *web, *db;

	(void)state;
	unit_write(unit_dir, "setup.sh", "echo hi\n");
	unit_write(unit_dir, "payload.txt", "data\n");
	env = load("version: 1\n"
		   "registries: [https://r1.example, file:///srv/boxes]\n"
		   "defaults:\n"
		   "  box: org/base\n"
		   "  cpus: 2\n"
		   "  ssh: {user: admin}\n"
		   "  provision:\n"
		   "    - shell: echo common\n"
		   "machines:\n"
		   "  db:\n"
		   "    memory: 2G\n"
		   "    disk: 20G\n"
		   "    box_version: '>= 1.0, < 2'\n"
		   "    networks: [{type: private, ip: 192.168.56.10}]\n"
		   "  web:\n"
		   "    box: https://example.com/web.box\n"
		   "    box_url: https://example.com/web.box\n"
		   "    provider: static\n"
		   "    static: {host: 10.0.0.5, port: 2200}\n"
		   "    cpus: 4\n"
		   "    memory: 512\n"
		   "    hostname: web.local\n"
		   "    boot_timeout: 60\n"
		   "    primary: true\n"
		   "    autostart: no\n"
		   "    depends_on: [db]\n"
		   "    forwarded_ports:\n"
		   "      - {guest: 80, host: 8080}\n"
		   "      - {guest: 53, host: 5353, host_ip: '::1', protocol: udp}\n"
		   "    synced_folders: [{host: ., guest: /srv, exclude: [.git]}]\n"
		   "    ssh: {port: 2222}\n"
		   "    provision:\n"
		   "      - shell: {path: setup.sh, args: [a, b], env: {K: V}, privileged: false,\n"
		   "                run: always, name: setup}\n"
		   "      - file: {source: payload.txt, destination: /tmp/p.txt}\n"
		   "      - shell: echo last\n",
		   &rep);
	for (size_t i = 0; i < rep.n; i++)
		print_error("%s\n", rep.msgs[i]);
	assert_non_null(env);
	assert_int_equal(env->version, 1);
	assert_int_equal(env->nregistries, 2);
	assert_string_equal(env->registries[1], "file:///srv/boxes");
	assert_int_equal(env->nmachines, 2);
	db = env_machine(env, "db");
	web = env_machine(env, "web");
	assert_non_null(db);
	assert_non_null(web);
	/* db: defaults merged under its own keys. */
	assert_string_equal(db->box, "org/base");
	assert_int_equal(db->cpus, 2);
	assert_int_equal(db->memory_mib, 2048);
	assert_true(db->disk_bytes == 20ULL << 30);
	assert_string_equal(db->box_version, ">= 1.0, < 2");
	assert_string_equal(db->provider, "auto");
	assert_string_equal(db->ssh.user, "admin");
	assert_int_equal(db->ssh.port, 22);
	assert_int_equal(db->boot_timeout, 300);
	assert_true(db->autostart);
	assert_false(db->primary);
	assert_int_equal(db->nnetworks, 1);
	assert_string_equal(db->networks[0].ip, "192.168.56.10");
	assert_int_equal(db->nsteps, 1);
	assert_string_equal(db->steps[0].inline_script, "echo common");
	assert_string_equal(db->steps[0].name, "shell 1");
	/* web: its own keys win; ssh merges key by key; provision appends. */
	assert_string_equal(web->box, "https://example.com/web.box");
	assert_string_equal(web->provider, "static");
	assert_string_equal(web->static_host.host, "10.0.0.5");
	assert_int_equal(web->static_host.port, 2200);
	assert_int_equal(web->cpus, 4);
	assert_int_equal(web->memory_mib, 512);
	assert_string_equal(web->hostname, "web.local");
	assert_int_equal(web->boot_timeout, 60);
	assert_true(web->primary);
	assert_false(web->autostart);
	assert_int_equal(web->ndepends, 1);
	assert_string_equal(web->depends_on[0], "db");
	assert_int_equal(web->nports, 2);
	assert_int_equal(web->ports[0].guest, 80);
	assert_int_equal(web->ports[0].host, 8080);
	assert_string_equal(web->ports[0].host_ip, "127.0.0.1");
	assert_string_equal(web->ports[0].protocol, "tcp");
	assert_string_equal(web->ports[1].host_ip, "::1");
	assert_string_equal(web->ports[1].protocol, "udp");
	/* The default /vagrant entry first, then the machine's own. */
	assert_int_equal(web->nfolders, 2);
	assert_string_equal(web->folders[0].guest, "/vagrant");
	assert_string_equal(web->folders[1].host, unit_dir);
	assert_string_equal(web->folders[1].guest, "/srv");
	assert_int_equal(web->folders[1].type, FOLDER_AUTO);
	assert_string_equal(web->folders[1].exclude[0], ".git");
	assert_string_equal(web->ssh.user, "admin");
	assert_int_equal(web->ssh.port, 2222);
	assert_int_equal(web->nsteps, 4);
	assert_string_equal(web->steps[1].name, "setup");
	assert_int_equal(web->steps[1].run, RUN_ALWAYS);
	assert_false(web->steps[1].privileged);
	assert_int_equal(web->steps[1].nargs, 2);
	assert_string_equal(web->steps[1].env[0].key, "K");
	assert_string_equal(web->steps[1].env[0].value, "V");
	assert_true(strstr(web->steps[1].path, "/setup.sh") != NULL);
	assert_int_equal(web->steps[2].kind, PROVISION_FILE);
	assert_string_equal(web->steps[2].name, "file 1");
	assert_string_equal(web->steps[2].destination, "/tmp/p.txt");
	assert_string_equal(web->steps[3].name, "shell 3");
	assert_true(web->steps[3].privileged);
	assert_int_equal(web->steps[3].run, RUN_ONCE);
	yaml_report_free(&rep);
	envfile_free(env);
}

static void test_errors_with_positions(void **state)
{
	(void)state;
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n    memroy: 1024\n",
		     "Envfile:5:5: machines.web: unknown key 'memroy' (did you mean 'memory'?)");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n    cpus: 0\n",
		     "Envfile:5:11: machines.web.cpus: 0 is out of range (1 to 255)");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n    cpus: two\n",
		     "Envfile:5:11: machines.web.cpus: 'two' is not a whole number");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n"
		     "    forwarded_ports: [{guest: 80, host: 70000}]\n",
		     "Envfile:5:41: machines.web.forwarded_ports[0].host: 70000 is out of range "
		     "(1 to 65535)");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n"
		     "    forwarded_ports: [{guest: 80}]\n",
		     "Envfile:5:23: machines.web.forwarded_ports[0]: 'guest' and 'host' are both "
		     "required");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n    memory: 12X\n",
		     "Envfile:5:13: machines.web.memory: '12X' is not a size (a number of MiB, or "
		     "like \"512M\", \"2G\")");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n    memory: 1M\n",
		     "Envfile:5:13: machines.web.memory: '1M' is out of range (32M to 4T)");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n    box_version: '>> 1'\n",
		     "Envfile:5:18: machines.web.box_version: constraint '>> 1': '> 1' is not a "
		     "version (expected numbers separated by dots, like 1.2.3)");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n    provider: qemmu\n",
		     "Envfile:5:15: machines.web.provider: unknown provider 'qemmu' (did you mean "
		     "'qemu'?)");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n    hostname: -bad-\n",
		     "Envfile:5:15: machines.web.hostname: '-bad-' is not a valid host name");
	/* both end up in envssh-config's output: nothing that could start another line */
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n"
		     "    static: {host: \"h\\n  ProxyCommand id\"}\n",
		     "Envfile:5:20: machines.web.static.host: 'h\n  ProxyCommand id' is not a "
		     "host name or an IP address");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n"
		     "    ssh: {user: \"vagrant\\nMatch all\"}\n",
		     "Envfile:5:17: machines.web.ssh.user: 'vagrant\nMatch all' is not a user name "
		     "(letters, digits, '.', '_', '-', '@')");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n    primary: maybe\n",
		     "Envfile:5:14: machines.web.primary: 'maybe' is not true or false");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n"
		     "    networks: [{type: private, ip: 300.1.1.1}]\n",
		     "Envfile:5:36: machines.web.networks[0].ip: '300.1.1.1' is not an IP address");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n"
		     "    synced_folders: [{host: ., guest: srv}]\n",
		     "Envfile:5:39: machines.web.synced_folders[0].guest: 'srv' must be an absolute "
		     "path in the guest, other than '/' and without '.' or '..'");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n"
		     "    provision: [{shel: x}]\n",
		     "Envfile:5:18: machines.web.provision[0]: unknown provisioner 'shel' (did you "
		     "mean 'shell'?)");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n"
		     "    provision: [{shell: {inline: x, path: Envfile}}]\n",
		     "Envfile:5:25: machines.web.provision[0].shell: give exactly one of 'inline' "
		     "and 'path'");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n"
		     "    provision: [{shell: {path: y}}]\n",
		     "Envfile:5:32: machines.web.provision[0].shell.path: no such file 'y'");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n"
		     "    provision: [{shell: {run: twice, inline: x}}]\n",
		     "Envfile:5:31: machines.web.provision[0].shell.run: 'twice' is not once, always "
		     "or never");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n"
		     "    provision: [{file: {source: Envfile}}]\n",
		     "Envfile:5:24: machines.web.provision[0].file: 'source' and 'destination' are "
		     "both required");
	expect_error("version: 1\nmachines:\n  web:\n    box: a/b\n    ssh: {port: 0}\n",
		     "Envfile:5:17: machines.web.ssh.port: 0 is out of range (1 to 65535)");
	expect_error("version: 1\nmachines:\n  web:\n    cpus: 1\n",
		     "Envfile:3:3: machines.web: 'box' is required (here or in defaults)");
	expect_error("version: 1\nmachines:\n  web:\n    provider: static\n",
		     "Envfile:3:3: machines.web: provider static needs 'static: {host: ...}'");
	expect_error("version: 2\nmachines:\n  web: {box: a}\n",
		     "Envfile:1:10: version: version 2 is not supported (this envup reads version 1)");
	expect_error("machines:\n  web: {box: a}\n",
		     "Envfile:1:1: 'version' is missing (write 'version: 1')");
	expect_error("version: 1\n", "Envfile:1:1: 'machines' is missing: an Envfile needs at "
		     "least one machine");
	expect_error("version: 1\nmachines: {}\n",
		     "Envfile:2:11: machines: at least one machine is needed");
	expect_error("version: 1\nmachines:\n  Web: {box: a}\n",
		     "Envfile:3:3: machines: 'Web' is not a valid machine name (lower-case letters, "
		     "digits and '-', starting with a letter or digit, at most 63)");
	expect_error("version: 1\nmachines:\n  web: {box: a}\n  web: {box: b}\n",
		     "Envfile:4:3: machines: duplicate machine 'web'");
	expect_error("version: 1\nmachines:\n  web: {box: a, cpus: 1, cpus: 2}\n",
		     "Envfile:3:26: machines.web: duplicate key 'cpus' (first at line 3)");
	expect_error("version: 1\nversoin: 1\nmachines:\n  web: {box: a}\n",
		     "Envfile:2:1: unknown key 'versoin' (did you mean 'version'?)");
	expect_error("version: 1\nmachines:\n  web: {box: a, depends_on: [db]}\n",
		     "Envfile:3:3: machines.web.depends_on: no machine named 'db'");
	expect_error("version: 1\nmachines:\n  web: {box: a, depends_on: [web]}\n",
		     "Envfile:3:3: machines.web.depends_on: a machine cannot depend on itself");
	expect_error("version: 1\nmachines:\n  a: {box: x, primary: true}\n"
		     "  b: {box: x, primary: true}\n",
		     "Envfile: more than one machine is marked primary");
	expect_error("version: 1\nmachines:\n  web:\n    box: a\n    provision:\n"
		     "      - shell: {inline: x, name: s}\n      - shell: {inline: y, name: s}\n",
		     "Envfile:7:9: machines.web: two provision steps are named 's'");
	expect_error("version: 1\nmachines:\n  web: {box: a, cpus: [1]}\n",
		     "Envfile:3:23: machines.web.cpus: expected a value, got a list");
	expect_error("version: 1\nmachines:\n  web:\n    box:\n",
		     "Envfile:4:9: machines.web.box: value is missing");
}

static void test_cycle(void **state)
{
	struct yaml_report rep;
	struct env *env;

	(void)state;
	env = load("version: 1\nmachines:\n  a: {box: x, depends_on: [c]}\n"
		   "  b: {box: x, depends_on: [a]}\n  c: {box: x, depends_on: [b]}\n"
		   "  d: {box: x}\n",
		   &rep);
	assert_null(env);
	assert_int_equal(rep.n, 1);
	assert_string_equal(rep.msgs[0], "Envfile:3:3: machines.a.depends_on: dependency cycle");
	yaml_report_free(&rep);
}

/* env->order: Envfile order, except that each machine comes after what it depends on. */
static void test_dependency_order(void **state)
{
	static const char *const want[] = {"b", "d", "c", "a", "e"};
	struct yaml_report rep;
	struct env *env;
	size_t cap = 65536, n, pos[60];
	char *text = malloc(cap);

	(void)state;
	env = load("version: 1\nmachines:\n  a: {box: x, depends_on: [c]}\n  b: {box: x}\n"
		   "  c: {box: x, depends_on: [d]}\n  d: {box: x}\n  e: {box: x}\n",
		   &rep);
	assert_non_null(env);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(env->machines[env->order[i]].name, want[i]);
	assert_int_equal(env->machines[0].dep_index[0], 2);
	assert_int_equal(env->machines[2].dep_index[0], 3);
	yaml_report_free(&rep);
	envfile_free(env);

	/* Each machine depends on every later one, the nearest last. */
	assert_non_null(text);
	n = (size_t)snprintf(text, cap, "version: 1\nmachines:\n");
	for (int i = 0; i < 60; i++) {
		n += (size_t)snprintf(text + n, cap - n, "  m%d: {box: x, depends_on: [", i);
		for (int j = 59; j > i; j--)
			n += (size_t)snprintf(text + n, cap - n, "m%d%s", j, j > i + 1 ? ", " : "");
		n += (size_t)snprintf(text + n, cap - n, "]}\n");
	}
	assert_true(n < cap);
	env = load(text, &rep);
	assert_non_null(env);
	assert_int_equal(env->nmachines, 60);
	for (size_t i = 0; i < 60; i++)
		pos[env->order[i]] = i;
	for (size_t i = 0; i < 60; i++) {
		const struct machine *m = &env->machines[i];

		assert_int_equal(pos[i], 59 - i);
		for (size_t d = 0; d < m->ndepends; d++) {
			assert_string_equal(env->machines[m->dep_index[d]].name, m->depends_on[d]);
			assert_true(pos[m->dep_index[d]] < pos[i]);
		}
	}
	yaml_report_free(&rep);
	envfile_free(env);
	free(text);
}

static void test_yaml_syntax(void **state)
{
	(void)state;
	expect_error("version: 1\nmachines:\n  a: [\n",
		     "Envfile:4:1: YAML syntax error: did not find expected node content while "
		     "parsing a flow node");
	expect_error("version: 1\n\tmachines:\n",
		     "Envfile:2:1: YAML syntax error: found a tab character that violates "
		     "indentation while scanning a plain scalar");
}

static void test_every_problem_reported(void **state)
{
	struct yaml_report rep;
	struct env *env;

	(void)state;
	env = load("version: 1\nmachines:\n  web:\n    box: a\n    cpus: 0\n    memroy: 1\n"
		   "  db:\n    disk: huge\n",
		   &rep);
	assert_null(env);
	assert_int_equal(rep.n, 4);
	assert_string_equal(rep.msgs[0], "Envfile:5:11: machines.web.cpus: 0 is out of range "
			    "(1 to 255)");
	assert_true(strstr(rep.msgs[1], "Envfile:6:5: machines.web: unknown key 'memroy'"));
	assert_true(strstr(rep.msgs[2], "Envfile:8:11: machines.db.disk: 'huge' is not a size"));
	assert_string_equal(rep.msgs[3], "Envfile:7:3: machines.db: 'box' is required (here or "
			    "in defaults)");
	yaml_report_free(&rep);
}

static void test_interpolation(void **state)
{
	struct yaml_report rep;
	struct env *env;

	(void)state;
	setenv("ENVUP_T_BOX", "org/from-env", 1);
	setenv("ENVUP_T_EMPTY", "", 1);
	unsetenv("ENVUP_T_UNSET");
	env = load("version: 1\nmachines:\n  web:\n    box: ${ENVUP_T_BOX}\n"
		   "    cpus: ${ENVUP_T_UNSET:-3}\n    hostname: h${ENVUP_T_EMPTY:-x}y\n"
		   "    provision: [{shell: 'echo $$HOME ${ENVUP_T_BOX}'}]\n",
		   &rep);
	assert_non_null(env);
	assert_string_equal(env->machines[0].box, "org/from-env");
	assert_int_equal(env->machines[0].cpus, 3);
	assert_string_equal(env->machines[0].hostname, "hxy");
	assert_string_equal(env->machines[0].steps[0].inline_script, "echo $HOME org/from-env");
	yaml_report_free(&rep);
	envfile_free(env);
	expect_error("version: 1\nmachines:\n  web:\n    box: ${ENVUP_T_UNSET}\n",
		     "Envfile:4:10: machines.web.box: environment variable 'ENVUP_T_UNSET' is not "
		     "set (write ${ENVUP_T_UNSET:-default} to give a default)");
	expect_error("version: 1\nmachines:\n  web:\n    box: ${ENVUP_T_BOX\n",
		     "Envfile:4:10: machines.web.box: unterminated '${' in '${ENVUP_T_BOX'");
}

static void test_defaults_errors_once(void **state)
{
	struct yaml_report rep;
	struct env *env;

	(void)state;
	env = load("version: 1\ndefaults:\n  box: a\n  cpus: -1\nmachines:\n  a: {}\n  b: {}\n"
		   "  c:\n",
		   &rep);
	assert_null(env);
	assert_int_equal(rep.n, 1);
	assert_string_equal(rep.msgs[0], "Envfile:4:9: defaults.cpus: -1 is out of range (1 to 255)");
	yaml_report_free(&rep);
}

/* Many machines alias one machine whose synced folder excludes 1000 paths: small to read,
 * but the schema walk meets every exclude once per machine, over YAML_MAX_VISITS. */
static void test_alias_bomb(void **state)
{
	struct yaml_report rep;
	struct env *env;
	size_t cap = 16384, n;
	char *text = malloc(cap);

	(void)state;
	assert_non_null(text);
	n = (size_t)snprintf(text, cap, "version: 1\nmachines:\n  m0: &m\n    box: a\n"
				       "    synced_folders:\n      - host: .\n        guest: /src\n"
				       "        exclude: [a");
	for (int i = 1; i < 1000; i++)
		n += (size_t)snprintf(text + n, cap - n, ", a");
	n += (size_t)snprintf(text + n, cap - n, "]\n");
	for (int i = 1; i < 250; i++)
		n += (size_t)snprintf(text + n, cap - n, "  m%d: *m\n", i);
	assert_true(n < cap);
	assert_true(250 * 1000 > YAML_MAX_VISITS);
	env = load(text, &rep);
	assert_null(env);
	for (size_t i = 0; rep.n != 1 && i < rep.n; i++)
		print_error("got: %s\n", rep.msgs[i]);
	assert_int_equal(rep.n, 1);
	assert_true(!strncmp(rep.msgs[0], "Envfile:", 8));
	assert_non_null(strstr(rep.msgs[0], ": document too large to walk (more than 200000 "
					    "values; are aliases expanding without bound?)"));
	yaml_report_free(&rep);
	free(text);
}

/* Bounds that keep a hostile Envfile from costing quadratic time or more. */
static void test_large_inputs(void **state)
{
	struct yaml_report rep;
	struct env *env;
	size_t cap = 1 << 20, n = 0;
	char *text = malloc(cap);

	(void)state;
	assert_non_null(text);
	/* A mapping with more keys than any schema allows. */
	n = (size_t)snprintf(text, cap, "version: 1\nmachines:\n  a:\n    box: x\n    ssh:\n");
	for (int i = 0; i < 2000; i++)
		n += (size_t)snprintf(text + n, cap - n, "      k%d: 1\n", i);
	env = load(text, &rep);
	assert_null(env);
	assert_int_equal(rep.n, 1);
	assert_string_equal(rep.msgs[0], "Envfile:6:7: machines.a.ssh: more than 1024 keys");
	yaml_report_free(&rep);
	/* 1000 machines in one depends_on chain: valid; closing it into a ring: one cycle. */
	for (int ring = 0; ring < 2; ring++) {
		n = (size_t)snprintf(text, cap, "version: 1\nmachines:\n");
		for (int i = 0; i < 1000; i++)
			n += (size_t)snprintf(text + n, cap - n,
					      "  m%d: {box: x, depends_on: [m%d]}\n", i,
					      i + 1 < 1000 ? i + 1 : 0);
		if (!ring) /* the last machine depends on nothing */
			n = (size_t)(strrchr(text, '{') - text) +
			    (size_t)snprintf(strrchr(text, '{'), 64, "{box: x}\n");
		env = load(text, &rep);
		if (!ring) {
			assert_non_null(env);
			assert_int_equal(env->nmachines, 1000);
		} else {
			assert_null(env);
			assert_int_equal(rep.n, 1);
			assert_string_equal(rep.msgs[0],
					    "Envfile:3:3: machines.m0.depends_on: dependency cycle");
		}
		envfile_free(env);
		yaml_report_free(&rep);
	}
	free(text);
}

static void test_find_upward(void **state)
{
	char *sub = fs_join(unit_dir, "a/b/c"), *path = NULL, *want = fs_join(unit_dir, "Envfile");
	struct err e;

	(void)state;
	unit_write(unit_dir, "Envfile", "version: 1\nmachines: {a: {box: x}}\n");
	assert_int_equal(fs_mkdir_p(sub, 0755, &e), 0);
	unsetenv("ENVUP_ENVFILE");
	assert_int_equal(envfile_find(sub, &path, &e), 0);
	assert_string_equal(path, want);
	free(path);
	setenv("ENVUP_ENVFILE", "/nonexistent/Envfile", 1);
	assert_int_equal(envfile_find(sub, &path, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	unsetenv("ENVUP_ENVFILE");
	assert_int_equal(envfile_find("/", &path, &e), -1);
	assert_true(strstr(e.msg, "no Envfile in /"));
	free(sub);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_example, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_errors_with_positions, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_dependency_order, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_cycle, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_yaml_syntax, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_every_problem_reported, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_interpolation, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_defaults_errors_once, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_alias_bomb, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_large_inputs, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_find_upward, unit_setup_dir, unit_teardown_dir),
	};
	return cmocka_run_group_tests_name("envfile", tests, NULL, NULL);
}
