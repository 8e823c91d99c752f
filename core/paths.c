#include "core/paths.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The spec says relative XDG values are invalid and must be ignored. */
static int xdg_dir(const char *var, const char *fallback, char **out, struct err *e)
{
	const char *v = getenv(var), *home = getenv("HOME");

	if (v && v[0] == '/') {
		if (asprintf(out, "%s/envup", v) < 0)
			return err_set(e, ERR_FAIL, "out of memory");
		return 0;
	}
	if (!home || home[0] != '/') {
		struct passwd *pw = getpwuid(getuid());

		home = pw ? pw->pw_dir : NULL;
	}
	if (!home || home[0] != '/')
		return err_set(e, ERR_USAGE, "neither $%s nor $HOME is set to an absolute path",
			       var);
	if (asprintf(out, "%s/%s/envup", home, fallback) < 0)
		return err_set(e, ERR_FAIL, "out of memory");
	return 0;
}

int paths_data_dir(char **out, struct err *e)
{
	return xdg_dir("XDG_DATA_HOME", ".local/share", out, e);
}

int paths_cache_dir(char **out, struct err *e)
{
	return xdg_dir("XDG_CACHE_HOME", ".cache", out, e);
}

int paths_config_dir(char **out, struct err *e)
{
	return xdg_dir("XDG_CONFIG_HOME", ".config", out, e);
}
