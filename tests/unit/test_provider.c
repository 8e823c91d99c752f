/* The provider registry, the choice of a provider for a machine, and recorded states. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"

/* The structures hold char * for what the loader allocates; tests fill them with literals. */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"

#include "core/fsutil.h"
#include "core/project.h"
#include "providers/provider.h"

static void test_choice(void **state)
{
	struct machine m = {.name = "web", .provider = "static"};
	const struct provider *p;
	const char *notice;
	struct err e;

	(void)state;
	assert_int_equal(provider_for_machine(&m, NULL, &p, &notice, &e), 0);
	assert_string_equal(p->name, "static");
	assert_ptr_equal(p, provider_lookup("static"));
	assert_non_null(p->up);
	assert_non_null(p->halt);
	assert_non_null(p->destroy);
	assert_non_null(p->state);
	assert_non_null(p->ssh_info);
	/* Optional operations are set exactly when the capability says so. */
	assert_true(!(p->caps & PROVIDER_CAP_SUSPEND) == !p->suspend);
	assert_true(!(p->caps & PROVIDER_CAP_SNAPSHOT) == !p->snapshot_save);
	/* --provider wins over the Envfile. */
	assert_int_equal(provider_for_machine(&m, "qemu", &p, &notice, &e), 0);
	assert_string_equal(p->name, "qemu");
	assert_true(p->caps & PROVIDER_CAP_BOX);
	assert_non_null(p->console_tail);
	/* auto: vmm with hardware virtualization, else qemu with a notice that it is slow */
	m.provider = "auto";
	assert_int_equal(provider_for_machine(&m, NULL, &p, &notice, &e), 0);
	assert_string_equal(p->name, provider_hardware_virt() ? "vmm" : "qemu");
	assert_true(!notice == provider_hardware_virt());
	assert_int_equal(provider_for_machine(&m, "statik", &p, &notice, &e), -1);
	assert_int_equal(e.code, ERR_USAGE);
	assert_non_null(strstr(e.msg, "did you mean 'static'"));
	assert_null(provider_lookup("nope"));
}

static void test_recorded_state(void **state)
{
	char *dir = unit_tmpdir(), *mdir;
	struct env env = {.dir = dir};
	struct machine m = {.name = "web",
			    .provider = "static",
			    .static_host = {.host = "127.0.0.1", .port = 2222}};
	struct project proj;
	struct provider_ctx c;
	struct provider_ssh_info si;
	const struct provider *p;
	enum machine_status s;
	struct err e;

	(void)state;
	assert_int_equal(project_open(&env, &proj, &e), 0);
	assert_int_equal(provider_ctx_init(&c, &env, &m, &proj, &e), 0);
	assert_int_equal(provider_machine_status(&c, &s, &e), 0);
	assert_int_equal(s, MACHINE_NOT_CREATED);
	assert_int_equal(provider_record_state(&c, "static", MACHINE_RUNNING, &e), 0);
	assert_int_equal(provider_machine_status(&c, &s, &e), 0);
	assert_int_equal(s, MACHINE_RUNNING);
	assert_int_equal(provider_of_existing(&c, &p, &e), 0);
	assert_string_equal(p->name, "static");
	assert_int_equal(p->halt(&c, false, &e), 0);
	assert_int_equal(p->state(&c, &s, &e), 0);
	assert_string_equal(machine_status_name(s), "halted");
	assert_int_equal(p->ssh_info(&c, &si, &e), 0);
	assert_string_equal(si.host, "127.0.0.1");
	assert_int_equal(si.port, 2222);
	/* A state written by something else is refused by name, not guessed. */
	mdir = project_machine_dir(&proj, "web");
	unit_write(mdir, "state.json", "{\"state\":\"exploded\",\"provider\":\"static\"}");
	assert_int_equal(provider_machine_status(&c, &s, &e), -1);
	assert_non_null(strstr(e.msg, "unknown state 'exploded'"));
	unit_write(mdir, "state.json", "{\"state\":\"running\",\"provider\":\"hyperv\"}");
	assert_int_equal(provider_of_existing(&c, &p, &e), -1);
	assert_non_null(strstr(e.msg, "created by provider 'hyperv'"));
	free(mdir);
	provider_ctx_free(&c);
	project_close(&proj);
	unit_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choice),
		cmocka_unit_test(test_recorded_state),
	};
	return cmocka_run_group_tests_name("provider", tests, NULL, NULL);
}
