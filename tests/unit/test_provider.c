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
#include "providers/qemu.h"
#include "providers/static.h"
#include "providers/vmm.h"

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
	assert_non_null(p->state);
	assert_non_null(p->ssh_info);
	assert_ptr_equal(provider_ops(p), &provider_static_ops);
	/* --provider wins over the Envfile. */
	assert_int_equal(provider_for_machine(&m, "qemu", &p, &notice, &e), 0);
	assert_string_equal(p->name, "qemu");
	assert_true(p->caps & PROVIDER_CAP_BOX);
	assert_non_null(provider_ops(p)->console_tail);
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

/* Every provider the Envfile may name has both halves: state and SSH endpoint in struct
 * provider, up/halt/destroy in its provider_ops (and the optional ones exactly when its
 * capabilities say so). */
static void test_ops(void **state)
{
	static const char *const names[] = {"static", "qemu", "vmm"};
	static const struct provider_ops *const want[] = {&provider_static_ops, &provider_qemu_ops,
							  &provider_vmm_ops};
	const struct provider other = {.name = "libvirt"};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct provider *p = provider_lookup(names[i]);
		const struct provider_ops *ops;

		assert_non_null(p);
		assert_non_null(p->state);
		assert_non_null(p->ssh_info);
		ops = provider_ops(p);
		assert_ptr_equal(ops, want[i]);
		assert_non_null(ops->up);
		assert_non_null(ops->halt);
		assert_non_null(ops->destroy);
		assert_true(!(p->caps & PROVIDER_CAP_SUSPEND) == !ops->suspend);
		assert_true(!(p->caps & PROVIDER_CAP_SUSPEND) == !ops->resume);
		assert_true(!(p->caps & PROVIDER_CAP_SNAPSHOT) == !ops->snapshot_save);
		assert_true(!(p->caps & PROVIDER_CAP_SNAPSHOT) == !ops->snapshot_list);
		/* a machine made from a box can say why it did not boot */
		assert_true(!(p->caps & PROVIDER_CAP_BOX) == !ops->console_tail);
	}
	/* a provider this build does not register has no operations */
	assert_null(provider_ops(&other));
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
	assert_int_equal(provider_ops(p)->halt(&c, false, &e), 0);
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
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_recorded_state),
	};
	return cmocka_run_group_tests_name("provider", tests, NULL, NULL);
}
