/* http_download against the box tests' real HTTP server (tests/integration/boxes_server.py):
 * the size bound holds whether the server announces the size or not. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/unit.h"

#include "core/fsutil.h"
#include "core/http.h"

static char *dir;
static long server_pid;
static char base_url[64];

static void write_file(const char *name, size_t size)
{
	char *buf = malloc(size), *path = fs_join(dir, name);
	struct err e;

	assert_non_null(buf);
	for (size_t i = 0; i < size; i++)
		buf[i] = (char)(i * 7 + 1);
	assert_int_equal(fs_write_atomic(path, buf, size, 0644, &e), 0);
	free(buf);
	free(path);
}

static int start_server(void **state)
{
	const char *src = getenv("ENVUP_SRC") ? getenv("ENVUP_SRC") : ".";
	char *path;
	FILE *f;
	int port = 0;

	(void)state;
	dir = unit_tmpdir();
	path = fs_join(dir, "www");
	if (fs_mkdir_p(path, 0755, NULL) < 0)
		return -1;
	free(path);
	write_file("www/big.box", 300000);
	write_file("www/chunk.box", 300000);
	write_file("www/fits.box", 100000);
	unit_write(dir, "rules.json", "{\"/chunk.box\": {\"chunked\": true}}");
	if (unit_sh("python3 %s/tests/integration/boxes_server.py --root %s/www --port-file %s/port"
		    " --log %s/log --rules %s/rules.json >/dev/null 2>&1 & echo $! >%s/pid",
		    src, dir, dir, dir, dir, dir) != 0)
		return -1;
	path = fs_join(dir, "port");
	for (int i = 0; i < 200 && !fs_exists(path); i++)
		usleep(25000);
	f = fopen(path, "r");
	free(path);
	if (!f)
		return -1;
	if (fscanf(f, "%d", &port) != 1)
		port = 0;
	fclose(f);
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", port);
	path = fs_join(dir, "pid");
	f = fopen(path, "r");
	free(path);
	if (!f || fscanf(f, "%ld", &server_pid) != 1)
		return -1;
	fclose(f);
	return 0;
}

static int stop_server(void **state)
{
	(void)state;
	if (server_pid > 0)
		kill((pid_t)server_pid, SIGTERM);
	unit_rmdir(dir);
	return 0;
}

/* Files in cache/downloads. */
static int cached_files(const char *cache)
{
	char *p = fs_join(cache, "downloads");
	DIR *d = opendir(p);
	struct dirent *de;
	int n = 0;

	free(p);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void download(const char *name, uint64_t max, int want_rc, const char *want_msg)
{
	struct http_opts o = {.retries = 0, .max_bytes = max};
	struct http_download d;
	char url[128], *cache = fs_join(dir, "cache");
	struct err e = {0};
	int rc;

	snprintf(url, sizeof(url), "%s/%s", base_url, name);
	rc = http_download(url, cache, &o, NULL, &d, &e);
	if (rc != want_rc || (want_msg && !strstr(e.msg, want_msg)))
		fail_msg("%s: rc %d: %s", url, rc, e.msg);
	if (rc == 0) {
		assert_int_equal(d.size, 100000);
		http_download_forget(url, cache);
		http_download_free(&d);
	} else {
		assert_int_equal(e.code, ERR_CORRUPT);
		assert_non_null(strstr(e.msg, url));
	}
	assert_int_equal(cached_files(cache), 0);
	free(cache);
}

static void test_max_bytes(void **state)
{
	(void)state;
	/* Content-Length over the limit: refused before anything is kept. */
	download("big.box", 100000, -1, "larger (300000 bytes) than the download limit of 100000");
	/* No Content-Length: refused at the byte past the limit, the partial removed. */
	download("chunk.box", 100000, -1, "than the download limit of 100000 bytes");
	/* Exactly the limit is fine. */
	download("fits.box", 100000, 0, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_max_bytes),
	};
	return cmocka_run_group_tests_name("core_http", tests, start_server, stop_server);
}
