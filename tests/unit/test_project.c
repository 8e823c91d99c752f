/* Project state: atomic state.json under SIGKILL, the project lock between processes. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/unit.h"

#include "core/envfile.h"
#include "core/fsutil.h"
#include "core/project.h"

static struct env env;

static int setup(void **state)
{
	unit_setup_dir(state);
	env.dir = unit_dir;
	return 0;
}

static void test_open_creates_gitignore(void **state)
{
	struct project p;
	struct err e;
	char *gi, *text;

	(void)state;
	assert_int_equal(project_open(&env, &p, &e), 0);
	gi = fs_join(p.state_dir, ".gitignore");
	assert_int_equal(fs_read_file(gi, 100, &text, NULL, &e), 0);
	assert_string_equal(text, "*\n");
	free(text);
	free(gi);
	project_close(&p);
}

static void test_state_roundtrip(void **state)
{
	struct json_object *s, *got, *v;
	struct project p;
	struct err e;
	char *mdir;

	(void)state;
	assert_int_equal(project_open(&env, &p, &e), 0);
	assert_int_equal(project_machine_dir_create(&p, "web", &mdir, &e), 0);
	assert_int_equal(machine_state_load(mdir, &s, &e), 0);
	assert_int_equal(json_object_object_length(s), 0);
	json_object_object_add(s, "state", json_object_new_string("running"));
	assert_int_equal(machine_state_save(mdir, s, &e), 0);
	json_object_put(s);
	assert_int_equal(machine_state_load(mdir, &got, &e), 0);
	assert_true(json_object_object_get_ex(got, "state", &v));
	assert_string_equal(json_object_get_string(v), "running");
	json_object_put(got);
	/* A corrupt file is an error that names it, never silently empty. */
	unit_write(mdir, "state.json", "{\"state\": ");
	assert_int_equal(machine_state_load(mdir, &got, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_non_null(strstr(e.msg, "state.json"));
	free(mdir);
	project_close(&p);
}

/* A writer killed at random moments must leave a complete old or new state, never a torn one. */
static void test_state_survives_kill(void **state)
{
	struct project p;
	struct err e;
	char *mdir;

	(void)state;
	assert_int_equal(project_open(&env, &p, &e), 0);
	assert_int_equal(project_machine_dir_create(&p, "web", &mdir, &e), 0);
	srand((unsigned)time(NULL));
	for (int round = 0; round < 15; round++) {
		struct json_object *got, *v;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			/* Big enough that a write takes more than one system call. */
			for (long gen = 0;; gen++) {
				struct json_object *s = json_object_new_object();
				char pad[20000];

				memset(pad, 'a' + (int)(gen % 26), sizeof(pad) - 1);
				pad[sizeof(pad) - 1] = '\0';
				json_object_object_add(s, "gen", json_object_new_int64(gen));
				json_object_object_add(s, "pad", json_object_new_string(pad));
				machine_state_save(mdir, s, &e);
				json_object_put(s);
			}
		}
		usleep(2000 + (unsigned)(rand() % 20000));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (machine_state_load(mdir, &got, &e) == 0) {
			/* Either nothing was written yet (empty) or a whole state is there. */
			if (json_object_object_length(got)) {
				const char *pad;

				assert_true(json_object_object_get_ex(got, "pad", &v));
				pad = json_object_get_string(v);
				assert_int_equal(strlen(pad), 19999);
				assert_true(json_object_object_get_ex(got, "gen", &v));
				assert_int_equal(pad[0], 'a' + (int)(json_object_get_int64(v) % 26));
			}
			json_object_put(got);
		} else {
			fail_msg("state unreadable after kill in round %d: %s", round, e.msg);
		}
	}
	free(mdir);
	project_close(&p);
}

static void test_lock_contention(void **state)
{
	struct project p, q;
	struct err e;
	int ready[2], release[2];
	char c, want[64];
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(release), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct project cp;

		if (project_open(&env, &cp, &e) < 0 || project_lock(&cp, false, &e) < 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1 || read(release[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(project_open(&env, &p, &e), 0);
	assert_int_equal(project_lock(&p, false, &e), -1);
	assert_int_equal(e.code, ERR_BUSY);
	snprintf(want, sizeof(want), "(pid %d)", (int)pid);
	assert_non_null(strstr(e.msg, "another envup command is running on this project"));
	assert_non_null(strstr(e.msg, want));
	/* A waiting command gets the lock once the holder exits. */
	assert_int_equal(write(release[1], "x", 1), 1);
	assert_int_equal(project_lock(&p, true, &e), 0);
	waitpid(pid, NULL, 0);
	/* And now it is ours: a third one is refused. */
	assert_int_equal(project_open(&env, &q, &e), 0);
	assert_int_equal(project_lock(&q, false, &e), -1);
	project_close(&q);
	project_close(&p);
	close(ready[0]);
	close(ready[1]);
	close(release[0]);
	close(release[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_gitignore, setup, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_state_roundtrip, setup, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_state_survives_kill, setup, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_lock_contention, setup, unit_teardown_dir),
	};
	return cmocka_run_group_tests_name("project", tests, NULL, NULL);
}
