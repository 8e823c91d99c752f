/* The user configuration (config.yaml): registries with tokens, defaults, and errors that
 * name the file, line and key as the Envfile's do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/unit/unit.h"

#include "core/fsutil.h"
#include "core/userconf.h"

static int load(const char *text, struct userconf *uc, struct err *e, char **dir)
{
	char *path;
	int rc;

	*dir = unit_tmpdir();
	unit_write(*dir, "config.yaml", text);
	path = fs_join(*dir, "config.yaml");
	rc = userconf_load(path, uc, e);
	free(path);
	return rc;
}

static void test_registries_and_defaults(void **state)
{
	struct userconf uc;
	struct err e;
	char *dir;

	(void)state;
	assert_int_equal(load("registries:\n  - https://a.example/\n"
			      "  - {url: https://b.example, token: s3cret}\n"
			      "defaults: {box_provider: libvirt, box_arch: arm64}\n",
			      &uc, &e, &dir),
			 0);
	assert_int_equal(uc.nregistries, 2);
	assert_string_equal(uc.registries[0].url, "https://a.example/");
	assert_null(uc.registries[0].token);
	assert_string_equal(userconf_token_for(&uc, "https://b.example/"), "s3cret");
	assert_null(userconf_token_for(&uc, "https://a.example"));
	assert_string_equal(uc.box_provider, "libvirt");
	assert_string_equal(uc.box_arch, "arm64");
	userconf_free(&uc);
	unit_rmdir(dir);
}

static void test_errors(void **state)
{
	struct userconf uc;
	struct err e;
	char *dir;

	(void)state;
	assert_int_equal(load("registries:\n  - {url: https://b.example, tokn: x}\n", &uc, &e,
			      &dir),
			 -1);
	assert_non_null(strstr(e.msg, "config.yaml:2:30: registries[0]: unknown key 'tokn' "
				      "(did you mean 'token'?)"));
	unit_rmdir(dir);
	assert_int_equal(load("registries:\n  - {token: x}\n", &uc, &e, &dir), -1);
	assert_non_null(strstr(e.msg, "config.yaml:2:5: registries[0]: 'url' is required"));
	unit_rmdir(dir);
	assert_int_equal(load("defaults: [1]\n", &uc, &e, &dir), -1);
	assert_non_null(strstr(e.msg, "config.yaml:1:11: defaults: expected a mapping"));
	unit_rmdir(dir);
	assert_int_equal(load("registries: [\n", &uc, &e, &dir), -1);
	assert_non_null(strstr(e.msg, "YAML syntax error"));
	unit_rmdir(dir);
	/* A missing file is an empty configuration. */
	assert_int_equal(userconf_load("/nonexistent/config.yaml", &uc, &e), 0);
	assert_int_equal(uc.nregistries, 0);
}

/* Tokens from the environment and from files; a file others may read is refused as ssh
 * refuses such a key, naming the line and the fix. */
static void test_token_sources(void **state)
{
	struct userconf uc;
	struct err e;
	char *dir, *tok, text[512];

	(void)state;
	setenv("UNIT_REG_TOKEN", "from-env", 1);
	unsetenv("UNIT_REG_UNSET");
	assert_int_equal(load("registries:\n  - {url: https://a.example, token_env: UNIT_REG_TOKEN}\n"
			      "  - {url: https://b.example, token_env: UNIT_REG_UNSET}\n",
			      &uc, &e, &dir),
			 0);
	assert_string_equal(userconf_token_for(&uc, "https://a.example/"), "from-env");
	assert_string_equal(uc.registries[0].token_from, "token_env UNIT_REG_TOKEN");
	assert_null(userconf_token_for(&uc, "https://b.example"));
	assert_string_equal(uc.registries[1].token_from, "token_env UNIT_REG_UNSET (not set)");
	userconf_free(&uc);
	unit_rmdir(dir);

	dir = unit_tmpdir();
	unit_write(dir, "tok", "file-token\n");
	tok = fs_join(dir, "tok");
	chmod(tok, 0600);
	/* relative to config.yaml's directory */
	snprintf(text, sizeof(text), "registries:\n  - url: https://c.example\n    token_file: tok\n");
	unit_write(dir, "config.yaml", text);
	{
		char *path = fs_join(dir, "config.yaml");

		assert_int_equal(userconf_load(path, &uc, &e), 0);
		assert_string_equal(userconf_token_for(&uc, "https://c.example"), "file-token");
		userconf_free(&uc);
		chmod(tok, 0644);
		assert_int_equal(userconf_load(path, &uc, &e), -1);
		assert_non_null(strstr(e.msg, "config.yaml:3:17: registries[0].token_file: token "
					      "file"));
		assert_non_null(strstr(e.msg, "is accessible by others (mode 0644); run chmod 600"));
		chmod(tok, 0640);
		assert_int_equal(userconf_load(path, &uc, &e), -1);
		assert_non_null(strstr(e.msg, "(mode 0640)"));
		free(path);
	}
	free(tok);
	unit_rmdir(dir);

	assert_int_equal(load("registries:\n  - {url: https://a.example, token: x, token_env: Y}\n",
			      &uc, &e, &dir),
			 -1);
	assert_non_null(strstr(e.msg, "the token is already given by 'token'"));
	unit_rmdir(dir);
	unsetenv("UNIT_REG_TOKEN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registries_and_defaults),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_token_sources),
	};
	return cmocka_run_group_tests_name("userconf", tests, NULL, NULL);
}
