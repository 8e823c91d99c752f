/* Provisioner pieces that need no server: shell quoting (checked by a real /bin/sh), the
 * remote command of a shell step (run locally), keys (checked by libssh), run policies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <json-c/json.h>
#include <libssh/libssh.h>

#include "tests/unit/unit.h"

/* The structures hold char * for what the loader allocates; tests fill them with literals. */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"

#include "core/fsutil.h"
#include "core/project.h"
#include "core/strutil.h"
#include "provisioners/communicator.h"
#include "provisioners/provision.h"
#include "provisioners/shell.h"
#include "provisioners/sshfiles.h"
#include "provisioners/sshkey.h"

/* Runs cmd with /bin/sh; returns its stdout (heap) and exit status. */
static char *sh_output(const char *cmd, int *status)
{
	FILE *f = popen(cmd, "r");
	char *out = calloc(1, 65536);
	size_t n;
	int st;

	assert_non_null(f);
	assert_non_null(out);
	n = fread(out, 1, 65535, f);
	out[n] = 0;
	st = pclose(f);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out;
}

static void test_quote_roundtrip(void **state)
{
	static const char *const words[] = {
		"",	     "plain", "it's",	"$HOME `id` $(id)", "back\\slash",
		"new\nline", "'''",   "a b\tc",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		char *q = str_shell_quote(words[i]), *cmd, *out;
		int st;

		assert_non_null(q);
		assert_true(asprintf(&cmd, "printf '%%s' %s", q) > 0);
		out = sh_output(cmd, &st);
		assert_int_equal(st, 0);
		assert_string_equal(out, words[i]);
		free(out);
		free(cmd);
		free(q);
	}
}

static void test_shell_command_runs(void **state)
{
	char *args[] = {"one", "two words", "it's"};
	struct kv env[] = {{"GREETING", "hello $USER"}, {"EMPTY", ""}};
	struct provision_step st = {
		.kind = PROVISION_SHELL,
		.args = args,
		.nargs = 3,
		.env = env,
		.nenv = 2,
		.privileged = false,
	};
	char *script = fs_join(unit_dir, "my script.sh"), *cmd, *out;
	int status;

	(void)state;
	/* No #! line: env's execvp falls back to /bin/sh, as it must under sudo too. */
	unit_write(
		unit_dir, "my script.sh",
		"printf '[%s]' \"$@\"; printf '%s|%s' \"$GREETING\" \"${EMPTY-unset}\"; exit 4\n");
	cmd = shell_command(&st, script);
	assert_non_null(cmd);
	assert_null(strstr(cmd, "sudo"));
	out = sh_output(cmd, &status);
	assert_string_equal(out, "[one][two words][it's]hello $USER|");
	assert_int_equal(status, 4);
	assert_false(fs_exists(script)); /* removed after running, whatever its status */
	free(out);
	free(cmd);
	st.privileged = true;
	cmd = shell_command(&st, script);
	assert_non_null(strstr(cmd, "sudo -n -H env 'GREETING=hello $USER' 'EMPTY='"));
	free(cmd);
	free(script);
}

static void test_keys(void **state)
{
	char *path = fs_join(unit_dir, "id_ed25519"), *pubpath, *line, *file;
	const char *src = getenv("ENVUP_SRC");
	char *blob, *want, *pubfile;
	ssh_key key = NULL;
	struct stat sb;
	struct err e;
	size_t len;

	(void)state;
	assert_int_equal(sshkey_generate(path, "envup-web", &e), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_true(asprintf(&pubpath, "%s.pub", path) > 0);
	assert_int_equal(fs_read_file(pubpath, 4096, &file, &len, &e), 0);
	assert_int_equal(sshkey_public_line(path, "envup-web", &line, &e), 0);
	assert_true(!strncmp(line, "ssh-ed25519 ", 12));
	assert_int_equal(strncmp(file, line, strlen(line)), 0);
	assert_string_equal(file + strlen(line), "\n");
	free(line);
	free(file);
	/* The compiled-in keypair is data/keys/ exactly, and the private half matches. */
	assert_true(asprintf(&pubfile, "%s/data/keys/vagrant.pub", src ? src : ".") > 0);
	assert_int_equal(fs_read_file(pubfile, 4096, &file, &len, &e), 0);
	assert_int_equal(strncmp(file, sshkey_insecure_public(), strlen(file) - 1), 0);
	assert_string_equal(file + strlen(sshkey_insecure_public()), "\n");
	blob = sshkey_blob(sshkey_insecure_public());
	assert_non_null(blob);
	assert_non_null(strstr(file, blob));
	assert_int_equal(
		ssh_pki_import_privkey_base64(sshkey_insecure_private(), NULL, NULL, NULL, &key),
		SSH_OK);
	assert_int_equal(ssh_pki_export_pubkey_base64(key, &want), SSH_OK);
	assert_string_equal(want, blob);
	ssh_string_free_char(want);
	free(blob);
	ssh_key_free(key);
	assert_int_equal(sshkey_public_line(pubfile, NULL, &line, &e), -1);
	free(file);
	free(pubfile);
	free(pubpath);
	free(path);
}

static void test_run_policy(void **state)
{
	struct provision_step steps[] = {
		{.kind = PROVISION_SHELL, .name = "once-ok", .run = RUN_ONCE},
		{.kind = PROVISION_SHELL, .name = "once-failed", .run = RUN_ONCE},
		{.kind = PROVISION_SHELL, .name = "once-new", .run = RUN_ONCE},
		{.kind = PROVISION_SHELL, .name = "always", .run = RUN_ALWAYS},
		{.kind = PROVISION_SHELL, .name = "never", .run = RUN_NEVER},
	};
	struct machine m = {.name = "web", .steps = steps, .nsteps = 5};
	struct provision_opts plain = {0}, again = {.again = true};
	char *only_names[] = {"never", "once-ok"};
	struct provision_opts only = {.only = only_names, .nonly = 2};
	char *bad[] = {"alway"};
	struct err e;

	(void)state;
	unit_write(unit_dir, "state.json",
		   "{\"provisioners\":{\"once-ok\":{\"exit_status\":0},"
		   "\"once-failed\":{\"exit_status\":2},\"always\":{\"exit_status\":0}}}");
	assert_false(provision_wanted(&m, unit_dir, &steps[0], &plain));
	assert_true(provision_wanted(&m, unit_dir, &steps[1], &plain));
	assert_true(provision_wanted(&m, unit_dir, &steps[2], &plain));
	assert_true(provision_wanted(&m, unit_dir, &steps[3], &plain));
	assert_false(provision_wanted(&m, unit_dir, &steps[4], &plain));
	assert_true(provision_wanted(&m, unit_dir, &steps[0], &again));
	assert_false(provision_wanted(&m, unit_dir, &steps[4], &again));
	assert_true(provision_wanted(&m, unit_dir, &steps[0], &only));
	assert_false(provision_wanted(&m, unit_dir, &steps[1], &only));
	assert_true(provision_wanted(&m, unit_dir, &steps[4], &only));
	assert_int_equal(provision_check_names(&m, only_names, 2, &e), 0);
	assert_int_equal(provision_check_names(&m, bad, 1, &e), -1);
	assert_int_equal(e.code, ERR_USAGE);
	assert_non_null(strstr(e.msg, "machine 'web' has no provision step named 'alway' "
				      "(did you mean 'always'?)"));
}

/* state.json is outside input: a "provisioners" member or step entry that is no object is
 * refused (json-c aborts when asked to add to it), a good one counts runs. */
static void test_record_state(void **state)
{
	struct provision_step st = {.kind = PROVISION_SHELL, .name = "setup", .run = RUN_ONCE};
	const char *bad[] = {
		"{\"provisioners\":[]}",
		"{\"provisioners\":\"x\"}",
		"{\"provisioners\":{\"setup\":7}}",
	};
	struct json_object *js, *all, *one, *v;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unit_write(unit_dir, "state.json", bad[i]);
		assert_int_equal(provision_record(unit_dir, &st, 0, &e), -1);
		assert_int_equal(e.code, ERR_CORRUPT);
		assert_non_null(strstr(e.msg, "/state.json: \"provisioners\""));
		assert_non_null(strstr(e.msg, i < 2 ? "\" is not a JSON object"
						    : "\"provisioners\".\"setup\" is not"));
	}
	unit_write(unit_dir, "state.json", "{\"provisioners\":{\"setup\":{\"runs\":2}}}");
	assert_int_equal(provision_record(unit_dir, &st, 3, &e), 0);
	assert_int_equal(machine_state_load(unit_dir, &js, &e), 0);
	assert_true(json_object_object_get_ex(js, "provisioners", &all));
	assert_true(json_object_object_get_ex(all, "setup", &one));
	assert_true(json_object_object_get_ex(one, "runs", &v));
	assert_int_equal(json_object_get_int(v), 3);
	assert_true(json_object_object_get_ex(one, "exit_status", &v));
	assert_int_equal(json_object_get_int(v), 3);
	json_object_put(js);
}

/* The one reader of the pinned host key file (envssh, envup and envssh-config use it). */
static void test_pinned_read(void **state)
{
	char *path = fs_join(unit_dir, "known_host"), type[64], *b64 = NULL;
	struct err e;
	bool found = true;

	(void)state;
	assert_int_equal(sshfiles_pinned_read(path, type, sizeof(type), &b64, &found, &e), 0);
	assert_false(found);
	assert_null(b64);
	unit_write(unit_dir, "known_host", "# pinned by envup\n\n  \nweb ssh-ed25519 AAAAC3Nz\r\n");
	assert_int_equal(sshfiles_pinned_read(path, type, sizeof(type), &b64, &found, &e), 0);
	assert_true(found);
	assert_string_equal(type, "ssh-ed25519");
	assert_string_equal(b64, "AAAAC3Nz");
	free(b64);
	unit_write(unit_dir, "known_host", "# only a comment ssh-rsa AAAA\n");
	assert_int_equal(sshfiles_pinned_read(path, type, sizeof(type), &b64, &found, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_non_null(strstr(e.msg, "no host key line"));
	assert_string_equal(sshfiles_hostkey_algorithms("ssh-rsa"),
			    "rsa-sha2-512,rsa-sha2-256,ssh-rsa");
	assert_string_equal(sshfiles_hostkey_algorithms("ssh-ed25519"), "ssh-ed25519");
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_roundtrip),
		cmocka_unit_test_setup_teardown(test_shell_command_runs, unit_setup_dir,
						unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_keys, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_run_policy, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_record_state, unit_setup_dir,
						unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_pinned_read, unit_setup_dir,
						unit_teardown_dir),
	};
	return cmocka_run_group_tests_name("provisioners", tests, NULL, NULL);
}
