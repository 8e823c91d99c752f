/* Small core helpers: versions and constraints, sizes, suggestions, contained paths, writes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tests/unit/unit.h"

#include "core/fsutil.h"
#include "core/strutil.h"
#include "core/url.h"
#include "core/ui.h"
#include "core/version.h"

static bool matches(const char *constraint, const char *version)
{
	struct constraint c;
	struct version v;
	struct err e;

	assert_int_equal(constraint_parse(constraint, &c, &e), 0);
	assert_int_equal(version_parse(version, &v, &e), 0);
	return constraint_match(&c, &v);
}

static void test_versions(void **state)
{
	struct version a, b;
	struct constraint c;
	struct err e;

	(void)state;
	assert_int_equal(version_parse("1.10.0", &a, &e), 0);
	assert_int_equal(version_parse("1.2.0", &b, &e), 0);
	assert_true(version_compare(&a, &b) > 0);
	assert_int_equal(version_parse("1.2", &a, &e), 0);
	assert_int_equal(version_compare(&a, &b), 0);
	assert_int_equal(version_parse("1..2", &a, &e), -1);
	assert_int_equal(version_parse("v1", &a, &e), -1);
	assert_int_equal(version_parse("1.2.3.4.5.6.7.8.9", &a, &e), -1);
	assert_int_equal(version_parse("12345678901234567890", &a, &e), -1);
	assert_true(matches("", "0.1"));
	assert_true(matches(">= 1.0, < 2", "1.10"));
	assert_false(matches(">= 1.0, < 2", "2.0"));
	assert_true(matches("~> 1.2", "1.9"));
	assert_false(matches("~> 1.2", "2.0"));
	assert_true(matches("~> 1.2.3", "1.2.9"));
	assert_false(matches("~> 1.2.3", "1.3.0"));
	assert_false(matches("~> 1.2.3", "1.2.2"));
	assert_true(matches("!= 1.1", "1.1.1"));
	assert_false(matches("!= 1.1", "1.1.0"));
	assert_true(matches("1.1", "1.1"));
	assert_true(matches("= 1.1", "1.1.0"));
	assert_true(matches("> 1.2", "1.10"));
	assert_true(matches("<= 1.2", "1.2"));
	assert_int_equal(constraint_parse(">=", &c, &e), -1);
	assert_int_equal(constraint_parse("~> 1", &c, &e), -1);
	assert_int_equal(constraint_parse(">= 1,", &c, &e), -1);
	assert_int_equal(constraint_parse("1,1,1,1,1,1,1,1,1", &c, &e), -1);
}

static void test_sizes(void **state)
{
	uint64_t v;

	(void)state;
	assert_true(str_to_size("512", 1 << 20, &v));
	assert_true(v == 512ULL << 20);
	assert_true(str_to_size("2G", 1, &v));
	assert_true(v == 2ULL << 30);
	assert_true(str_to_size("1.5GiB", 1, &v));
	assert_true(v == 3ULL << 29);
	assert_true(str_to_size("20gb", 1, &v));
	assert_true(v == 20ULL << 30);
	assert_false(str_to_size("", 1, &v));
	assert_false(str_to_size("G", 1, &v));
	assert_false(str_to_size("-1G", 1, &v));
	assert_false(str_to_size("12X", 1, &v));
	assert_false(str_to_size("99999999999999T", 1, &v));
	assert_false(str_to_size("1Gx", 1, &v));
}

static void test_format_bytes(void **state)
{
	char b[32];

	(void)state;
	ui_format_bytes(0, b, sizeof(b));
	assert_string_equal(b, "0 B");
	ui_format_bytes(1023, b, sizeof(b));
	assert_string_equal(b, "1023 B");
	ui_format_bytes(3ULL << 19, b, sizeof(b));
	assert_string_equal(b, "1.5 MiB");
	ui_format_bytes(64ULL << 40, b, sizeof(b));
	assert_string_equal(b, "64.0 TiB");
	ui_format_bytes(UINT64_MAX, b, sizeof(b));
	assert_string_equal(b, "16384.0 PiB");
}

/* What the bar drew on the terminal (the pty's other side), read until it shows needle or 5 s
 * pass: a pty hands written bytes to its reader through a work queue, in pieces. */
static void read_bar(int master, char *buf, size_t len, const char *needle)
{
	size_t got = 0;
	struct pollfd pfd = {.fd = master, .events = POLLIN};

	buf[0] = '\0';
	while (!strstr(buf, needle) && got < len - 1 && poll(&pfd, 1, 5000) == 1) {
		ssize_t n = read(master, buf + got, len - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
	}
}

/* The bar on a real terminal (a pty as stderr): no speed or time left in its first half
 * second (a first frame had said 101.3 TiB/s), then the speed of this run's bytes only, not
 * those a resumed download already had. */
static void test_progress_bar(void **state)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY), tty, saved = dup(STDERR_FILENO);
	struct ui_progress p;
	char out[1024], *rate;
	double mib_s;

	(void)state;
	assert_true(master >= 0 && saved >= 0);
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	tty = open(ptsname(master), O_RDWR | O_NOCTTY);
	assert_true(tty >= 0);
	assert_int_equal(dup2(tty, STDERR_FILENO), STDERR_FILENO);
	ui_init(UI_NORMAL, false);
	ui_progress_start(&p, "[1/3] download");
	ui_progress_update(&p, 900ULL << 20, 1000ULL << 20); /* resumed at 900 MiB */
	read_bar(master, out, sizeof(out), "ETA --:--");
	assert_non_null(strstr(out, "[1/3] download ["));
	assert_non_null(strstr(out, " 90%  900.0 MiB"));
	assert_non_null(strstr(out, "ETA --:--"));
	assert_null(strstr(out, "/s"));
	usleep(600 * 1000);
	ui_progress_update(&p, 950ULL << 20, 1000ULL << 20);
	read_bar(master, out, sizeof(out), "MiB/s ETA");
	assert_non_null(strstr(out, " 95%  950.0 MiB"));
	/* 50 MiB in at least 0.6 s: at most 83.3 MiB/s (with the 900 MiB it would be > 1 GiB/s) */
	rate = strstr(out, "MiB/s");
	assert_non_null(rate);
	while (rate > out && rate[-1] != ' ')
		rate--;
	while (rate > out && rate[-1] == ' ')
		rate--;
	while (rate > out && rate[-1] != ' ')
		rate--;
	mib_s = strtod(rate, NULL);
	assert_true(mib_s > 0 && mib_s <= 83.4);
	assert_null(strstr(out, "ETA --:--"));
	ui_progress_done(&p);
	/* a slow start on a large file: hours, not an overflowing count of minutes */
	ui_progress_start(&p, "[1/3] download");
	ui_progress_update(&p, 0, 1ULL << 40);
	usleep(600 * 1000);
	ui_progress_update(&p, 1ULL << 20, 1ULL << 40);
	read_bar(master, out, sizeof(out), "ETA >99 h");
	assert_non_null(strstr(out, "ETA >99 h"));
	ui_progress_done(&p);
	/* every frame fits the terminal's width (a wider one wraps, and the next frame's \r
	 * clears only its last row) and is as wide as the others (the bar does not jump when
	 * the speed appears); the bar is 30 wide where there is room */
	for (int cols = 40; cols <= 120; cols += 40) {
		struct winsize ws = {.ws_row = 24, .ws_col = (unsigned short)cols};
		char *frame, *next;
		size_t len, first_len = 0;

		assert_int_equal(ioctl(tty, TIOCSWINSZ, &ws), 0);
		ui_progress_start(&p, "[1+2/3] download+unpack");
		ui_progress_update(&p, 0, 1000ULL << 30);
		usleep(600 * 1000);
		ui_progress_update(&p, 999ULL << 30, 1000ULL << 30);
		read_bar(master, out, sizeof(out), "999.0 GiB");
		ui_progress_done(&p);
		for (frame = strstr(out, "\r\033[K"); frame; frame = next) {
			frame += 4;
			next = strstr(frame, "\r\033[K");
			len = next ? (size_t)(next - frame) : strlen(frame);
			if (!len)
				continue; /* the previous bar's clearing */
			assert_true(len < (size_t)cols);
			if (!first_len)
				first_len = len;
			assert_int_equal(len, first_len);
		}
		if (cols == 120)
			assert_non_null(strstr(out, "[############################# ]"));
	}
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(tty);
	close(master);
}

static void test_suggest_and_paths(void **state)
{
	const char *const keys[] = {"memory", "cpus", "provision", "provider"};
	long long n;

	(void)state;
	assert_string_equal(str_suggest("memroy", keys, 4), "memory");
	assert_string_equal(str_suggest("provisoin", keys, 4), "provision");
	assert_null(str_suggest("zzzzzz", keys, 4));
	assert_true(str_to_int("65535", 1, 65535, &n));
	assert_false(str_to_int("65536", 1, 65535, &n));
	assert_false(str_to_int(" 1", 1, 9, &n));
	assert_false(str_to_int("1x", 1, 9, &n));
	assert_true(fs_path_is_contained("a/b/c.vmdk"));
	assert_true(fs_path_is_contained("a/..b"));
	assert_false(fs_path_is_contained("../x"));
	assert_false(fs_path_is_contained("a/../../x"));
	assert_false(fs_path_is_contained("/etc/passwd"));
	assert_false(fs_path_is_contained(""));
}

/* fs_pwrite_all writes everything at the offset; when the kernel stops part-way (a file size
 * limit makes the first pwrite short and the next one fail), it says why. */
static void test_pwrite_all(void **state)
{
	char *dir = unit_tmpdir(), path[4096], *buf = malloc(20000), back[100];
	struct rlimit old, lim = {.rlim_cur = 16384, .rlim_max = RLIM_INFINITY};
	void (*oldsig)(int);
	int fd;

	(void)state;
	assert_non_null(buf);
	memset(buf, 'x', 20000);
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fs_pwrite_all(fd, "hello", 5, 4096), 0);
	assert_int_equal(pread(fd, back, sizeof(back), 4094), 7);
	assert_memory_equal(back, "\0\0hello", 7);

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim.rlim_max = old.rlim_max;
	oldsig = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	errno = 0;
	assert_int_equal(fs_pwrite_all(fd, buf, 20000, 0), -1);
	assert_int_equal(errno, EFBIG);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	assert_int_equal(lseek(fd, 0, SEEK_END), 16384);
	close(fd);
	free(buf);
	unit_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_format_bytes),
		cmocka_unit_test(test_progress_bar),
		cmocka_unit_test(test_suggest_and_paths),
		cmocka_unit_test(test_pwrite_all),
	};
	return cmocka_run_group_tests_name("core_util", tests, NULL, NULL);
}
