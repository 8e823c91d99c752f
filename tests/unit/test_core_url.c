/* core/url: normalisation, resolution and the "under the registry?" test that guards tokens;
 * plus the other hardening helpers of issue 15 (versions, escapes, special files). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/unit.h"

#include "core/fsutil.h"
#include "core/ui.h"
#include "core/url.h"
#include "core/version.h"

static void norm_is(const char *in, const char *want)
{
	char *out;
	struct err e;

	assert_int_equal(url_normalize(in, &out, &e), 0);
	assert_string_equal(out, want);
	free(out);
}

static void resolve_is(const char *base, const char *ref, const char *want)
{
	char *out;
	struct err e;

	assert_int_equal(url_resolve(base, ref, &out, &e), 0);
	assert_string_equal(out, want);
	free(out);
}

static void test_normalize(void **state)
{
	char *out;
	struct err e;

	(void)state;
	norm_is("HTTP://Example.COM:80/a/./b/../c", "http://example.com/a/c");
	norm_is("https://h:443", "https://h/");
	norm_is("http://h:8765/reg/%2e%2E/other/o.box", "http://h:8765/other/o.box");
	norm_is("http://h/reg/.%2E/x?q=%7e#frag", "http://h/x?q=~");
	norm_is("http://h/a/%2f/b", "http://h/a/%2F/b");
	norm_is("http://h/../../x", "http://h/x");
	norm_is("http://h/a/b/..", "http://h/a/");
	assert_int_equal(url_normalize("file:///etc/passwd", &out, &e), -1);
	assert_int_equal(url_normalize("http://h/%zz", &out, &e), -1);
}

static void test_resolve(void **state)
{
	(void)state;
	/* RFC 3986 5.4.1 examples against http://a/b/c/d;p?q */
	resolve_is("http://a/b/c/d;p?q", "g", "http://a/b/c/g");
	resolve_is("http://a/b/c/d;p?q", "./g", "http://a/b/c/g");
	resolve_is("http://a/b/c/d;p?q", "/g", "http://a/g");
	resolve_is("http://a/b/c/d;p?q", "//g", "http://g/");
	resolve_is("http://a/b/c/d;p?q", "?y", "http://a/b/c/d;p?y");
	resolve_is("http://a/b/c/d;p?q", "", "http://a/b/c/d;p?q");
	resolve_is("http://a/b/c/d;p?q", "../../g", "http://a/g");
	resolve_is("http://a/b/c/d;p?q", "../../../../g", "http://a/g");
	resolve_is("http://a/b/c/d;p?q", "g;x?y#s", "http://a/b/c/g;x?y");
	resolve_is("http://h:1/reg/t/cat", "/trunc/good.box", "http://h:1/trunc/good.box");
	resolve_is("http://h:1/reg/t/cat", "../../other/o.box", "http://h:1/other/o.box");
}

static void test_is_under(void **state)
{
	const char *reg = "http://127.0.0.1:8765/reg";

	(void)state;
	assert_true(url_is_under(reg, "http://127.0.0.1:8765/reg/t/o.box"));
	assert_true(url_is_under(reg, "HTTP://127.0.0.1:8765/reg/t/%6f.box"));
	assert_true(url_is_under("http://127.0.0.1:8765/reg/", "http://127.0.0.1:8765/reg"));
	assert_false(url_is_under(reg, "http://127.0.0.1:8765/reg/../other/o.box"));
	assert_false(url_is_under(reg, "http://127.0.0.1:8765/reg/%2e%2E/other/o.box"));
	assert_false(url_is_under(reg, "http://127.0.0.1:8765/other/o.box"));
	assert_false(url_is_under(reg, "http://127.0.0.1:8765/registry/o.box"));
	assert_false(url_is_under(reg, "http://127.0.0.1:8766/reg/o.box"));
	assert_false(url_is_under(reg, "https://127.0.0.1:8765/reg/o.box"));
	assert_false(url_is_under(reg, "http://127.0.0.1:8765@evil/reg/o.box"));
	assert_false(url_is_under(reg, "http://127.0.0.1:8765/reg/..%2Fother/o.box"));
	assert_false(url_is_under(reg, "http://127.0.0.1:8765/reg/..\\other"));
	assert_false(url_is_under(reg, "file:///reg/x"));
	assert_true(url_is_under("http://h/", "http://h/anything"));
	/* host case and default ports do not matter; another host never is under */
	assert_true(url_is_under("http://reg.example/a", "HTTP://Reg.Example:80/a/c.box"));
	assert_false(url_is_under("http://reg.example/a", "http://reg.example.evil.org/a"));
	assert_false(url_is_under("http://127.0.0.1/", "http://127.0.0.2/"));
}

static void test_long_versions(void **state)
{
	struct version a, b;
	struct err e;

	(void)state;
	assert_int_equal(version_parse("202406011230", &a, &e), 0);
	assert_int_equal(version_parse("4294967295.0", &b, &e), 0);
	assert_true(version_compare(&a, &b) > 0);
	assert_int_equal(version_parse("20240601123059.1", &a, &e), 0);
	assert_true(version_compare(&a, &b) > 0);
	assert_int_equal(version_parse("0000000000000000000001.2", &a, &e), 0);
	assert_int_equal(version_parse("9999999999999999999", &a, &e), 0);
	assert_int_equal(version_parse("10000000000000000000", &a, &e), -1);
	assert_non_null(strstr(e.msg, "more than 19 digits"));
}

static void test_escape(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const char in[] = "ok\ttab\n\x1b[2J\r\x07 caf\xc3\xa9 \xc2\x9b \xff end";

	(void)state;
	assert_non_null(f);
	ui_escape_write(f, in, sizeof(in) - 1);
	fclose(f);
	assert_string_equal(buf, "ok\ttab\n\\x1b[2J\\r\\x07 caf\xc3\xa9 \\xc2\\x9b \\xff end");
	free(buf);
	assert_int_equal(ui_escape_len("\xe2\x82", 2), 0); /* cut UTF-8 */
}

static void test_special_files(void **state)
{
	char *dir = unit_tmpdir(), path[512];
	struct fs_temp t;
	struct err e;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	/* would block forever without O_NONBLOCK */
	assert_int_equal(fs_open_input(path, false, &e), -1);
	assert_non_null(strstr(e.msg, "is a FIFO"));
	assert_int_equal(fs_check_output(path, &e), -1);
	assert_int_equal(fs_temp_create(path, 0644, &t, &e), -1);
	snprintf(path, sizeof(path), "%s/missing/out", dir);
	assert_int_equal(fs_check_output(path, &e), -1);
	assert_non_null(strstr(e.msg, "/missing"));
	snprintf(path, sizeof(path), "%s/out", dir);
	assert_int_equal(fs_temp_create(path, 0644, &t, &e), 0);
	assert_int_equal(write(t.fd, "x", 1), 1);
	assert_false(fs_exists(path));
	assert_int_equal(fs_temp_commit(&t, false, &e), 0);
	fs_temp_discard(&t);
	assert_true(fs_exists(path));
	assert_int_equal(fs_temp_create(path, 0644, &t, &e), 0);
	assert_int_equal(fs_temp_commit(&t, false, &e), -1); /* exists, no replace */
	assert_int_equal(fs_temp_commit(&t, true, &e), 0);
	fs_temp_discard(&t);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(unit_sh("test $(ls %s | wc -l) -eq 2", dir), 0); /* fifo, out */
	unit_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize), cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_is_under),  cmocka_unit_test(test_long_versions),
		cmocka_unit_test(test_escape),	  cmocka_unit_test(test_special_files),
	};
	return cmocka_run_group_tests_name("core_url", tests, NULL, NULL);
}
