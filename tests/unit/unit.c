#include "tests/unit/unit.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"

char *unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	if (asprintf(&dir, "%s/envup-unit.XXXXXX", base && *base ? base : "/tmp") < 0 ||
	    !mkdtemp(dir)) {
		print_error("cannot create a temporary directory\n");
		abort();
	}
	return dir;
}

void unit_rmdir(char *dir)
{
	struct err e;

	fs_remove_tree(dir, &e);
	free(dir);
}

char *unit_dir;

int unit_setup_dir(void **state)
{
	(void)state;
	unit_dir = unit_tmpdir();
	return 0;
}

int unit_teardown_dir(void **state)
{
	(void)state;
	unit_rmdir(unit_dir);
	unit_dir = NULL;
	return 0;
}

void unit_write(const char *dir, const char *name, const char *text)
{
	char *path = fs_join(dir, name);
	struct err e;

	if (!path || fs_write_atomic(path, text, strlen(text), 0644, &e) < 0) {
		print_error("cannot write %s/%s\n", dir, name);
		abort();
	}
	free(path);
}

int unit_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd)) {
		print_error("shell command too long\n");
		abort();
	}
	return system(cmd);
}

bool unit_have(const char *command)
{
	return unit_sh("command -v %s >/dev/null 2>&1", command) == 0;
}
