/* Synced folders: the Envfile entries (the default /vagrant, checks, normalisation), how each
 * reaches the guest on a provider, and the host rsync's arguments (what --delete, excludes and
 * the SSH options may and may not be). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/unit.h"

/* The structures hold char * for what the loader allocates; tests fill them with literals. */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"

#include "core/envfile.h"
#include "core/fsutil.h"
#include "providers/provider.h"
#include "provisioners/rsync.h"

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

static struct env *load_ok(const char *text)
{
	struct yaml_report rep;
	struct env *env = load(text, &rep);

	for (size_t i = 0; i < rep.n; i++)
		print_error("%s\n", rep.msgs[i]);
	assert_non_null(env);
	yaml_report_free(&rep);
	return env;
}

static void expect_one_error(const char *text, const char *want)
{
	struct yaml_report rep;
	struct env *env = load(text, &rep);

	assert_null(env);
	if (rep.n != 1 || !strstr(rep.msgs[0], want)) {
		for (size_t i = 0; i < rep.n; i++)
			print_error("got: %s\n", rep.msgs[i]);
		print_error("want: %s\n", want);
		fail();
	}
	yaml_report_free(&rep);
}

#define HEAD "version: 1\nmachines:\n  web:\n    box: a/b\n"

static void test_default_vagrant(void **state)
{
	struct env *env;
	const struct synced_folder *f;

	(void)state;
	/* Nothing said: the project directory on /vagrant, type auto. */
	env = load_ok(HEAD);
	assert_int_equal(env->machines[0].nfolders, 1);
	f = &env->machines[0].folders[0];
	assert_true(f->implicit);
	assert_string_equal(f->host, env->dir);
	assert_string_equal(f->guest, "/vagrant");
	assert_int_equal(f->type, FOLDER_AUTO);
	assert_false(f->disabled);
	envfile_free(env);
	/* An entry on /vagrant replaces the default; disabled: true keeps it off. */
	env = load_ok(HEAD "    synced_folders: [{host: ., guest: /vagrant/, disabled: true}]\n");
	assert_int_equal(env->machines[0].nfolders, 1);
	f = &env->machines[0].folders[0];
	assert_false(f->implicit);
	assert_true(f->disabled);
	assert_string_equal(f->guest, "/vagrant");
	envfile_free(env);
	/* Other entries come after the default. */
	unit_sh("mkdir -p %s/src", unit_dir);
	env = load_ok(
		HEAD "    synced_folders:\n"
		     "      - {host: ./src/, guest: //srv//app/, type: rsync, exclude: ['*.o', "
		     "build/], owner: www-data, group: adm, rsync__install: yes,\n"
		     "         mount_options: [ro]}\n"
		     "      - {host: gen, guest: /srv/gen, create: true, type: 9p, fstab: true}\n");
	assert_int_equal(env->machines[0].nfolders, 3);
	assert_true(env->machines[0].folders[0].implicit);
	f = &env->machines[0].folders[1];
	assert_string_equal(f->guest, "/srv/app");
	assert_non_null(strstr(f->host, "/src"));
	assert_int_equal(f->host[strlen(f->host) - 1], 'c'); /* canonical: no trailing slash */
	assert_int_equal(f->type, FOLDER_RSYNC);
	assert_int_equal(f->nexclude, 2);
	assert_string_equal(f->exclude[1], "build/");
	assert_string_equal(f->owner, "www-data");
	assert_string_equal(f->group, "adm");
	assert_true(f->rsync_install);
	assert_int_equal(f->nmount_options, 1);
	f = &env->machines[0].folders[2];
	assert_true(f->create);
	assert_int_equal(f->type, FOLDER_9P);
	assert_true(f->fstab);
	assert_false(env->machines[0].folders[1].fstab);
	envfile_free(env);
}

static void test_folder_errors(void **state)
{
	(void)state;
	expect_one_error(HEAD "    synced_folders: [{host: ., guest: /}]\n",
			 "guest: '/' must be an absolute path in the guest, other than '/'");
	expect_one_error(HEAD "    synced_folders: [{host: ., guest: /srv/../etc}]\n",
			 "without '.' or '..'");
	expect_one_error(HEAD "    synced_folders: [{host: ., guest: /srv/./x}]\n",
			 "without '.' or '..'");
	expect_one_error(HEAD "    synced_folders: [{host: missing, guest: /srv}]\n",
			 "Envfile:5:29: machines.web.synced_folders[0].host: no such directory");
	expect_one_error(HEAD "    synced_folders: [{host: Envfile, guest: /srv}]\n",
			 "is not a directory");
	expect_one_error(HEAD "    synced_folders: [{host: ., guest: /srv, type: nfs}]\n",
			 "'nfs' is not a synced folder type (rsync, 9p or auto)");
	expect_one_error(HEAD "    synced_folders: [{host: ., guest: /srv, owner: 'a;b'}]\n",
			 "is not a user or group name");
	expect_one_error(HEAD "    synced_folders: [{host: ., guest: /srv, exclude: ['']}]\n",
			 "exclude patterns must be non-empty");
	expect_one_error(HEAD "    synced_folders: [{host: ., guest: /srv}, {host: ., guest: "
			      "/srv/}]\n",
			 "two synced_folders have the guest path '/srv'");
	expect_one_error(HEAD "    synced_folders: [{host: ., guest: /srv, type: 9p, "
			      "mount_options: ['cache=loose', 'x;reboot']}]\n",
			 "'x;reboot' is not a mount option");
	expect_one_error(HEAD
			 "    synced_folders: [{host: ., guest: /srv, type: rsync, fstab: true}]\n",
			 "Envfile:5:22: machines.web.synced_folders[0].fstab: fstab: true is for "
			 "folders mounted over 9p");
	expect_one_error(HEAD "    synced_folders: [{host: ., guest: /srv, fstab: maybe}]\n",
			 "synced_folders[0].fstab");
	expect_one_error(HEAD "    synced_folders: [{host: ., guest: /srv, colour: red}]\n",
			 "unknown key 'colour'");
}

/* A provider without a live share: auto is rsync, 9p is refused naming everything. */
static void test_how(void **state)
{
	struct machine m = {.name = "web"};
	struct synced_folder f = {.guest = "/srv"};
	struct provider live = {.name = "sharing", .caps = PROVIDER_CAP_LIVE_SHARE};
	const struct provider *pv = provider_lookup("static");
	enum folder_how how;
	const char *why;
	struct err e;

	(void)state;
	assert_non_null(pv);
	assert_false(pv->caps & PROVIDER_CAP_LIVE_SHARE);
	f.type = FOLDER_AUTO;
	assert_int_equal(provider_folder_how(pv, &m, &f, &how, &why, &e), 0);
	assert_int_equal(how, FOLDER_BY_RSYNC);
	assert_int_equal(provider_folder_how(&live, &m, &f, &how, &why, &e), 0);
	assert_int_equal(how, FOLDER_BY_PROVIDER);
	f.type = FOLDER_RSYNC;
	assert_int_equal(provider_folder_how(&live, &m, &f, &how, &why, &e), 0);
	assert_int_equal(how, FOLDER_BY_RSYNC);
	f.type = FOLDER_9P;
	assert_int_equal(provider_folder_how(pv, &m, &f, &how, &why, &e), -1);
	assert_int_equal(e.code, ERR_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "machine 'web': synced folder /srv has type 9p, but "
				      "provider 'static' cannot share folders live"));
	assert_int_equal(provider_folder_how(&live, &m, &f, &how, &why, &e), 0);
	assert_int_equal(how, FOLDER_BY_PROVIDER);
	f.disabled = true;
	assert_int_equal(provider_folder_how(pv, &m, &f, &how, &why, &e), 0);
	assert_int_equal(how, FOLDER_SKIP);
}

static bool has_arg(char **argv, const char *want)
{
	for (size_t i = 0; argv[i]; i++)
		if (!strcmp(argv[i], want))
			return true;
	return false;
}

static const char *arg_after(char **argv, const char *opt)
{
	for (size_t i = 0; argv[i] && argv[i + 1]; i++)
		if (!strcmp(argv[i], opt))
			return argv[i + 1];
	return NULL;
}

static size_t nargs(char **argv)
{
	size_t n = 0;

	while (argv[n])
		n++;
	return n;
}

static void test_argv(void **state)
{
	static char *excl[] = {"*.log", "build/"};
	char *known = fs_join(unit_dir, "known_host"), *key = fs_join(unit_dir, "id_ed25519");
	struct machine m = {.name = "web", .ssh = {.user = "vagrant"}};
	struct synced_folder f = {
		.host = "/p r/app", .guest = "/srv/app", .exclude = excl, .nexclude = 2};
	const char *nested[] = {"/srv/app/data", "/srv/other", "/srv/application"};
	struct rsync_job j = {&m, &f, "/p r/app", NULL, nested, 3};
	struct openssh_opts o;
	struct err e;
	char **argv;
	const char *ssh, *path;
	size_t n;

	(void)state;
	unit_sh("echo 'web ssh-ed25519 "
		"AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake' >%s",
		known);
	unit_sh("touch %s", key);
	m.ssh.private_key = key;
	assert_int_equal(openssh_opts_init(&o, &m, unit_dir, "::1", 2222, &e), 0);
	j.ssh = &o;
	assert_int_equal(rsync_argv(&j, &argv, &e), 0);
	n = nargs(argv);
	assert_string_equal(argv[0], "rsync");
	assert_true(has_arg(argv, "--archive"));
	assert_true(has_arg(argv, "--delete"));
	assert_true(has_arg(argv, "--no-inc-recursive")); /* --delete without a second listing */
	assert_false(has_arg(argv, "--delete-excluded"));
	/* The trailing slashes make the guest folder, and nothing above it, rsync's target. */
	assert_string_equal(argv[n - 2], "/p r/app/");
	assert_string_equal(argv[n - 1], "web:/srv/app/");
	/* .envup of the project (the folder itself here), anchored; a nested folder is kept,
	 * prefixes that are not whole components are not. */
	assert_true(has_arg(argv, "--exclude=/.envup/"));
	assert_true(has_arg(argv, "--exclude=/data/"));
	assert_false(has_arg(argv, "--exclude=/ication/"));
	assert_true(has_arg(argv, "--exclude=*.log"));
	assert_true(has_arg(argv, "--exclude=build/"));
	/* Default owner: the SSH user, no sudo; the guest side is told nothing to chown. */
	assert_true(has_arg(argv, "--no-group"));
	path = arg_after(argv, "--rsync-path");
	assert_non_null(path);
	assert_non_null(strstr(path, "envup-rsync '/srv/app' '' ''"));
	ssh = arg_after(argv, "-e");
	assert_non_null(ssh);
	assert_non_null(strstr(ssh, "ssh -F /dev/null -o BatchMode=yes"));
	assert_non_null(strstr(ssh, "\"-oStrictHostKeyChecking=yes\""));
	assert_null(strstr(ssh, "StrictHostKeyChecking=no"));
	assert_non_null(strstr(ssh, "\"-oHostKeyAlias=web\""));
	assert_non_null(strstr(ssh, "\"-oHostName=::1\""));
	assert_non_null(strstr(ssh, "\"-oPort=2222\""));
	assert_non_null(strstr(ssh, "\"-oHostKeyAlgorithms=ssh-ed25519\""));
	assert_non_null(strstr(ssh, "\"-oIdentitiesOnly=yes\""));
	rsync_argv_free(argv);

	/* An owner: rsync runs as root in the guest and --chown gives the files away; the group
	 * defaults to the owner's name. A project elsewhere: no .envup exclude. */
	f.owner = "www-data";
	j.project_dir = "/elsewhere";
	j.nnested = 0;
	assert_int_equal(rsync_argv(&j, &argv, &e), 0);
	assert_true(has_arg(argv, "--chown=www-data:www-data"));
	assert_false(has_arg(argv, "--no-group"));
	assert_false(has_arg(argv, "--exclude=/.envup/"));
	assert_non_null(strstr(arg_after(argv, "--rsync-path"), "'www-data:www-data' sudo"));
	rsync_argv_free(argv);
	/* The project inside the folder: its .envup is anchored where it is. */
	f.host = "/p r";
	j.project_dir = "/p r/app";
	assert_int_equal(rsync_argv(&j, &argv, &e), 0);
	assert_true(has_arg(argv, "--exclude=/app/.envup/"));
	rsync_argv_free(argv);
	openssh_opts_free(&o);

	/* No pinned host key yet: refused, pointing at envup. */
	unlink(known);
	assert_int_equal(openssh_opts_init(&o, &m, unit_dir, "::1", 2222, &e), -1);
	assert_non_null(strstr(e.msg, "'envup web' first"));
	free(known);
	free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_vagrant, unit_setup_dir,
						unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_folder_errors, unit_setup_dir,
						unit_teardown_dir),
		cmocka_unit_test(test_how),
		cmocka_unit_test_setup_teardown(test_argv, unit_setup_dir, unit_teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
