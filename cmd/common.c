/* What every command shares: finding and loading the project's Envfile. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"

/* The Envfile's path as a person would type it from here: relative when it is below cwd. */
char *cmd_display_path(const char *path)
{
	char cwd[PATH_MAX];
	size_t n;

	if (path[0] == '/' && getcwd(cwd, sizeof(cwd))) {
		n = strlen(cwd);
		if (!strncmp(path, cwd, n) && path[n] == '/')
			return strdup(path + n + 1);
		if (!strcmp(path, cwd))
			return strdup(".");
	}
	return strdup(path);
}

int cmd_load_env_report(struct env **env, struct yaml_report *rep, struct err *e)
{
	char cwd[PATH_MAX], *path, *display;
	int rc;

	memset(rep, 0, sizeof(*rep));
	if (!getcwd(cwd, sizeof(cwd)))
		return err_sys(e, "cannot find the working directory");
	if (envfile_find(cwd, &path, e) < 0)
		return -1;
	display = cmd_display_path(path);
	rc = envfile_load_report(path, display ? display : path, env, rep, e);
	free(display);
	free(path);
	return rc;
}

int cmd_load_env(struct env **env, struct err *e)
{
	struct yaml_report rep;
	int rc = cmd_load_env_report(env, &rep, e);

	yaml_report_free(&rep);
	return rc;
}

int cmd_parse_common(const struct command *c, int argc, char **argv, int *nargs)
{
	int n = 0;
	bool opts = true;

	for (int i = 1; i < argc; i++) {
		int r;

		if (opts && !strcmp(argv[i], "--")) {
			opts = false;
			continue;
		}
		if (opts && argv[i][0] == '-' && argv[i][1]) {
			r = cmd_common_option(c, argv[i]);
			if (r < 0)
				return -1;
			if (r == 0) {
				cmd_usage(c, true);
				fprintf(stderr, "\nerror: unknown option '%s'\n", argv[i]);
				return -2;
			}
			continue;
		}
		argv[1 + n++] = argv[i];
	}
	*nargs = n;
	return 0;
}
