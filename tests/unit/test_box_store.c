/* The box store on a scratch XDG tree: atomic commit, lookups by constraint with provider
 * preference, machine usage records, remove and prune rules, leftovers of killed adds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/unit/unit.h"

#include "boxes/add.h"
#include "boxes/store.h"
#include "core/fsutil.h"

static char *tmp;

static int setup(void **state)
{
	char *d;

	(void)state;
	tmp = unit_tmpdir();
	d = fs_join(tmp, "data");
	setenv("XDG_DATA_HOME", d, 1);
	free(d);
	d = fs_join(tmp, "cache");
	setenv("XDG_CACHE_HOME", d, 1);
	free(d);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unit_rmdir(tmp);
	return 0;
}

static void install(struct box_store *s, const char *name, const char *ver, const char *prov,
		    const char *arch)
{
	struct err e = {0};
	char *w = NULL;
	int lock = box_store_lock(s, name, true, &e);

	assert_true(lock >= 0);
	assert_int_equal(box_store_workdir(s, name, &w, &e), 0);
	unit_write(w, "base.qcow2", "disk");
	unit_write(w, BOX_RECORD_FILE, "{}"); /* what makes a directory an installed box */
	assert_int_equal(box_store_commit(s, w, name, ver, prov, arch, false, &e), 0);
	assert_false(fs_exists(w));
	box_store_unlock(lock);
	free(w);
}

static const char *found(struct box_store *s, const char *name, const char *con, const char *prov)
{
	static char buf[256];
	struct box_entry b;
	struct err e = {0};

	if (box_store_find(s, name, con, prov, NULL, &b, &e) < 0)
		return "none";
	snprintf(buf, sizeof(buf), "%s %s %s", b.version, b.provider, b.arch);
	box_entry_free(&b);
	return buf;
}

static void test_store(void **state)
{
	struct box_store s;
	struct box_entry *v, b;
	size_t n;
	struct err e = {0};
	char **users, *machine, *w;
	int lock;

	(void)state;
	assert_int_equal(box_store_open(&s, &e), 0);
	install(&s, "org/b", "1.2.0", "virtualbox", "amd64");
	install(&s, "org/b", "1.10.0", "virtualbox", "amd64");
	install(&s, "org/b", "1.10.0", "envup", "amd64");
	install(&s, "org/b", "1.9", "envup", "amd64");
	install(&s, "plain", "0", "libvirt", "unknown");
	assert_int_equal(box_store_list(&s, &v, &n, &e), 0);
	assert_int_equal(n, 5);
	assert_string_equal(v[0].name, "org/b");
	assert_string_equal(v[0].version, "1.2.0");
	assert_string_equal(v[3].version, "1.10.0"); /* sorted as versions */
	assert_string_equal(v[4].name, "plain");
	assert_true(box_entry_size(&v[0]) > 0);
	box_entries_free(v, n);

	assert_string_equal(found(&s, "org/b", NULL, NULL), "1.10.0 envup amd64");
	assert_string_equal(found(&s, "org/b", NULL, "virtualbox"), "1.10.0 virtualbox amd64");
	assert_string_equal(found(&s, "org/b", "< 1.10", NULL), "1.9 envup amd64");
	assert_string_equal(found(&s, "org/b", "> 2", NULL), "none");
	assert_string_equal(found(&s, "org/x", NULL, NULL), "none");

	/* A second commit of an installed version is refused unless replacing. */
	lock = box_store_lock(&s, "org/b", false, &e);
	assert_int_equal(box_store_workdir(&s, "org/b", &w, &e), 0);
	assert_int_equal(box_store_commit(&s, w, "org/b", "1.9", "envup", "amd64", false, &e), -1);
	assert_int_equal(e.code, ERR_EXISTS);
	fs_remove_tree(w, &e);
	free(w);
	box_store_unlock(lock);

	/* 1.2.0 is used by a machine: remove refuses, prune keeps it and the newest. */
	assert_int_equal(box_store_find(&s, "org/b", "1.2.0", NULL, NULL, &b, &e), 0);
	machine = fs_join(tmp, "project/.envup/machines/web");
	assert_int_equal(fs_mkdir_p(machine, 0755, &e), 0);
	assert_int_equal(box_store_use(&b, machine, &e), 0);
	assert_int_equal(box_store_users(&b, &users, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(users[0], machine);
	box_store_users_free(users, n);
	assert_int_equal(box_store_remove(&s, &b, false, &e), -1);
	assert_int_equal(e.code, ERR_BUSY);
	assert_non_null(strstr(e.msg, machine));

	/* A killed add's work directory for another name is swept by prune. */
	assert_int_equal(box_store_workdir(&s, "org/killed", &w, &e), 0);
	assert_int_equal(box_store_prune(&s, false, NULL, NULL, &e), 0);
	assert_false(fs_exists(w));
	free(w);
	assert_int_equal(box_store_list(&s, &v, &n, &e), 0);
	assert_int_equal(n, 4); /* 1.9 envup went: 1.10.0 envup is newer */
	box_entries_free(v, n);
	assert_string_equal(found(&s, "org/b", "1.2.0", NULL), "1.2.0 virtualbox amd64");

	/* The machine is destroyed without telling the store: its record is stale. */
	fs_remove_tree(machine, &e);
	assert_int_equal(box_store_prune(&s, false, NULL, NULL, &e), 0);
	assert_string_equal(found(&s, "org/b", "1.2.0", NULL), "none");
	assert_string_equal(found(&s, "org/b", NULL, "virtualbox"), "1.10.0 virtualbox amd64");

	/* use/unuse round trip, then remove. */
	assert_int_equal(fs_mkdir_p(machine, 0755, &e), 0);
	box_entry_free(&b);
	assert_int_equal(box_store_find(&s, "plain", NULL, NULL, NULL, &b, &e), 0);
	assert_int_equal(box_store_use(&b, machine, &e), 0);
	assert_int_equal(box_store_unuse(&b, machine, &e), 0);
	assert_int_equal(box_store_remove(&s, &b, false, &e), 0);
	assert_false(fs_exists(b.dir));
	{
		/* Empty NAME/VERSION directories go with the last box in them. */
		char *name_dir = fs_join(s.root, "plain");

		assert_false(fs_exists(name_dir));
		free(name_dir);
	}
	box_entry_free(&b);
	free(machine);
	box_store_close(&s);
}

/* box_ensure from a local-directory registry: the first call adds (catalog, checksum-less
 * tar.gz, raw disk converted to qcow2), the second finds it installed. */
static void test_ensure(void **state)
{
	struct box_store s;
	struct box_entry b;
	struct err e = {0};
	bool added;
	char *reg = fs_join(tmp, "registry"), *boxdir = fs_join(tmp, "registry/org"), *cmd;
	char *base;

	(void)state;
	assert_int_equal(fs_mkdir_p(boxdir, 0755, &e), 0);
	cmd = fs_join(tmp, "src");
	assert_int_equal(fs_mkdir_p(cmd, 0755, &e), 0);
	free(cmd);
	unit_write(tmp, "src/metadata.json",
		   "{\"provider\":\"envup\",\"architecture\":\"amd64\","
		   "\"disk\":{\"path\":\"d.raw\",\"format\":\"raw\"},\"cmdline\":\"quiet\"}");
	unit_write(tmp, "src/d.raw", "not much of a disk, but a disk");
	assert_true(asprintf(&cmd, "tar -C '%s/src' -czf '%s/b.box' metadata.json d.raw", tmp,
			     boxdir) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	unit_write(boxdir, "b.json",
		   "{\"name\":\"org/b\",\"versions\":[{\"version\":\"2.0\",\"providers\":"
		   "[{\"name\":\"envup\",\"url\":\"b.box\"}]}]}");
	setenv("ENVUP_REGISTRY", reg, 1);
	assert_int_equal(box_store_open(&s, &e), 0);
	assert_int_equal(box_ensure(&s, &(struct box_add_opts){.source = "org/b"}, &b, &added, &e),
			 0);
	assert_true(added);
	assert_string_equal(b.version, "2.0");
	assert_string_equal(b.arch, "unknown"); /* the catalog entry has no architecture */
	base = fs_join(b.dir, "base.qcow2");
	assert_true(fs_exists(base));
	free(base);
	box_entry_free(&b);
	assert_int_equal(
		box_ensure(&s, &(struct box_add_opts){.source = "org/b", .constraint = "~> 2.0"},
			   &b, &added, &e),
		0);
	assert_false(added);
	assert_string_equal(b.version, "2.0");
	box_entry_free(&b);
	assert_int_equal(box_ensure(&s,
				    &(struct box_add_opts){.source = "org/b", .constraint = "> 2"},
				    &b, &added, &e),
			 -1);
	assert_non_null(strstr(e.msg, "no version matching '> 2'"));
	unsetenv("ENVUP_REGISTRY");
	box_store_close(&s);
	free(reg);
	free(boxdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ensure, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
