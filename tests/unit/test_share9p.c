/* Synced folders shared live over 9p: the qemu and vmm providers' share arguments, the tags,
 * read-only folders, and the guest's mount command (its quoting read back by a real sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/unit/unit.h"

/* The structures hold char * for what the loader allocates; tests fill them with literals. */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"

#include "core/fsutil.h"
#include "providers/qemu.h"
#include "providers/share9p.h"
#include "providers/vmm.h"

static void test_tags_and_readonly(void **state)
{
	char tag[SHARE9P_TAG_LEN], *d;
	char *ro[] = {"noatime,ro"}, *ro_alone[] = {"cache=loose", "ro"},
	     *not_ro[] = {"rootcontext=x", "cache=loose,rw", "roro"};
	struct synced_folder f = {0};

	(void)state;
	share9p_tag(0, tag);
	assert_string_equal(tag, "envup0");
	share9p_tag(12, tag);
	assert_string_equal(tag, "envup12");
	assert_false(share9p_readonly(&f));
	f.mount_options = ro, f.nmount_options = 1;
	assert_true(share9p_readonly(&f));
	f.mount_options = ro_alone, f.nmount_options = 2;
	assert_true(share9p_readonly(&f));
	f.mount_options = not_ro, f.nmount_options = 3;
	assert_false(share9p_readonly(&f));
	d = share9p_commas_doubled("/p,q/,,r");
	assert_string_equal(d, "/p,,q/,,,,r");
	free(d);
}

/* The machine of the argument tests: an rsync folder, a disabled one, two 9p folders (one
 * read-only, with a comma in its host path) and an auto one, under dir. */
struct fixture {
	char *sub, *made, *comma;
	struct synced_folder f[5];
	struct machine m;
};

static void fixture_init(struct fixture *x, const char *dir)
{
	static char *ro[] = {"ro"};

	x->sub = fs_join(dir, "src");
	x->comma = fs_join(dir, "sha,red");
	x->made = fs_join(dir, "made/here");
	assert_int_equal(mkdir(x->sub, 0755), 0);
	assert_int_equal(mkdir(x->comma, 0755), 0);
	x->f[0] = (struct synced_folder){
		.host = (char *)dir, .guest = "/vagrant", .type = FOLDER_RSYNC};
	x->f[1] = (struct synced_folder){.host = x->sub, .guest = "/off", .disabled = true};
	x->f[2] = (struct synced_folder){.host = x->comma,
					 .guest = "/srv/ro",
					 .type = FOLDER_9P,
					 .mount_options = ro,
					 .nmount_options = 1};
	x->f[3] = (struct synced_folder){.host = x->sub, .guest = "/srv/src", .type = FOLDER_AUTO};
	x->f[4] = (struct synced_folder){
		.host = x->made, .guest = "/srv/made", .type = FOLDER_9P, .create = true};
	x->m = (struct machine){.name = "web", .folders = x->f, .nfolders = 5};
}

static void fixture_free(struct fixture *x)
{
	free(x->sub);
	free(x->made);
	free(x->comma);
}

static void test_qemu_virtfs(void **state)
{
	struct fixture x;
	struct local_args a = {0};
	struct err e = {0};
	char want[4096];

	(void)state;
	fixture_init(&x, unit_dir);
	assert_true(provider_qemu.caps & PROVIDER_CAP_LIVE_SHARE);
	assert_int_equal(share9p_args(&provider_qemu, &x.m, &a, qemu_add_virtfs, &e), 0);
	assert_false(a.oom);
	/* rsync and disabled folders get nothing; tags keep the folder's index */
	assert_int_equal(a.n, 6);
	assert_string_equal(a.v[0], "-virtfs");
	snprintf(want, sizeof(want),
		 "local,path=%s/sha,,red,mount_tag=envup2,security_model=mapped-xattr,readonly=on",
		 unit_dir);
	assert_string_equal(a.v[1], want);
	snprintf(want, sizeof(want), "local,path=%s,mount_tag=envup3,security_model=mapped-xattr",
		 x.sub);
	assert_string_equal(a.v[3], want);
	snprintf(want, sizeof(want), "local,path=%s,mount_tag=envup4,security_model=mapped-xattr",
		 x.made);
	assert_string_equal(a.v[5], want);
	/* create: true made the missing host folder */
	assert_true(fs_exists(x.made));
	local_args_free(&a);

	/* a missing host folder without create: named, nothing started */
	x.f[4].create = false;
	x.f[4].host = fs_join(unit_dir, "gone");
	assert_int_equal(share9p_args(&provider_qemu, &x.m, &a, qemu_add_virtfs, &e), -1);
	assert_non_null(strstr(e.msg, "machine 'web': synced folder /srv/made: host folder"));
	assert_non_null(strstr(e.msg, "gone is missing"));
	local_args_free(&a);
	free(x.f[4].host);
	fixture_free(&x);
}

static void test_vmm_share(void **state)
{
	struct fixture x;
	struct local_args a = {0};
	struct err e = {0};
	char want[4096];

	(void)state;
	fixture_init(&x, unit_dir);
	assert_true(provider_vmm.caps & PROVIDER_CAP_LIVE_SHARE);
	assert_int_equal(share9p_args(&provider_vmm, &x.m, &a, vmm_add_share, &e), 0);
	assert_int_equal(a.n, 6);
	assert_string_equal(a.v[0], "--share");
	snprintf(want, sizeof(want), "%s/sha,,red,tag=envup2,readonly", unit_dir);
	assert_string_equal(a.v[1], want);
	assert_string_equal(a.v[2], "--share");
	snprintf(want, sizeof(want), "%s,tag=envup3", x.sub);
	assert_string_equal(a.v[3], want);
	local_args_free(&a);

	/* type 9p on a provider without a live share is refused before anything starts */
	assert_int_equal(share9p_args(provider_lookup("static"), &x.m, &a, vmm_add_share, &e), -1);
	assert_non_null(strstr(e.msg, "synced folder /srv/ro has type 9p"));
	assert_int_equal(a.n, 0);
	fixture_free(&x);
}

/* The command's variable part, read back by sh: what the mount script works with. */
static void test_mount_command(void **state)
{
	char *owner_opts[] = {"cache=loose", "noatime"};
	struct synced_folder f = {.host = "/h",
				  .guest = "/srv/it's a \\dir",
				  .type = FOLDER_9P,
				  .owner = "www-data",
				  .mount_options = owner_opts,
				  .nmount_options = 2};
	char *cmd = NULL, *script, *out = fs_join(unit_dir, "vars");
	struct err e = {0};
	FILE *fp;
	char line[4096];
	const char *want[] = {"/srv/it's a \\dir",
			      "/srv/it's\\040a\\040\\134dir",
			      "envup7",
			      SHARE9P_MOUNT_OPTIONS ",cache=loose,noatime",
			      "www-data",
			      "",
			      "",
			      ""};
	size_t n = 0;

	(void)state;
	assert_int_equal(share9p_mount_command(&f, "envup7", true, &cmd, &e), 0);
	/* the whole command is valid sh */
	script = fs_join(unit_dir, "mount.sh");
	fp = fopen(script, "w");
	assert_non_null(fp);
	fputs(cmd, fp);
	fclose(fp);
	assert_int_equal(unit_sh("sh -n '%s'", script), 0);
	/* its assignments, then the values printed instead of the mount */
	*strstr(cmd, "; if M=") = 0;
	fp = fopen(script, "w");
	assert_non_null(fp);
	fprintf(fp,
		"%s; printf '%%s\\n' \"$g\" \"$m\" \"$t\" \"$o\" \"$u\" \"$r\" \"$k\" \"$f\" "
		">'%s'\n",
		cmd, out);
	fclose(fp);
	assert_int_equal(unit_sh("sh '%s'", script), 0);
	fp = fopen(out, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		line[strcspn(line, "\n")] = 0;
		assert_true(n < sizeof(want) / sizeof(want[0]));
		assert_string_equal(line, want[n]);
		n++;
	}
	fclose(fp);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	free(cmd);

	/* a read-only folder keeps its owners: k is set */
	owner_opts[1] = "ro";
	assert_int_equal(share9p_mount_command(&f, "envup7", true, &cmd, &e), 0);
	assert_non_null(strstr(cmd, " k='1' "));
	assert_non_null(strstr(cmd, "[ -z \"$k\" ] || exit $x"));
	free(cmd);
	/* a share that cannot keep the guest's owners (envvmm's) keeps them too: no chown walk */
	owner_opts[1] = "noatime";
	assert_int_equal(share9p_mount_command(&f, "envup7", false, &cmd, &e), 0);
	assert_non_null(strstr(cmd, " k='1' "));
	free(cmd);
	owner_opts[1] = "ro";

	/* fstab: true sets f; the line is the mount's, with nofail, added once per tag and
	 * mount point, before a read-only folder's early exit */
	f.fstab = true;
	assert_int_equal(share9p_mount_command(&f, "envup7", true, &cmd, &e), 0);
	assert_non_null(strstr(cmd, " f='1' "));
	assert_non_null(strstr(cmd, "$2==ENVIRON[\"M\"] {f=1} END {exit !f}' /etc/fstab"));
	assert_non_null(strstr(cmd, "printf '%s %s 9p %s,nofail 0 0\\n' \"$t\" \"$m\" \"$o\""));
	assert_true(strstr(cmd, "/etc/fstab") < strstr(cmd, "[ -z \"$k\" ] || exit $x"));
	free(cmd);
	free(script);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tags_and_readonly),
		cmocka_unit_test_setup_teardown(test_qemu_virtfs, unit_setup_dir,
						unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_vmm_share, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_mount_command, unit_setup_dir,
						unit_teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
