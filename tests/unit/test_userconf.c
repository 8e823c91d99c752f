/* The user configuration (config.yaml): registries with tokens, defaults, and errors that
 * name the file, line and key as the Envfile's do. */
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registries_and_defaults),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests_name("userconf", tests, NULL, NULL);
}
