/* envvalidate: load the Envfile and report every problem. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "core/ui.h"

int cmd_validate(int argc, char **argv)
{
	const struct command *self = cmd_lookup("validate");
	struct yaml_report rep;
	struct env *env = NULL;
	struct err e = {0};
	int nargs, r = cmd_parse_common(self, argc, argv, &nargs);

	if (r < 0)
		return r == -1 ? EXIT_OK : EXIT_USAGE;
	if (nargs) {
		ui_error("validate takes no arguments");
		return EXIT_USAGE;
	}
	r = cmd_load_env_report(&env, &rep, &e);
	if (cli.json) {
		struct json_object *o = json_object_new_object(), *probs = json_object_new_array();

		json_object_object_add(o, "valid", json_object_new_boolean(r == 0));
		if (env) {
			struct json_object *ms = json_object_new_array();

			json_object_object_add(o, "envfile", json_object_new_string(env->path));
			for (size_t i = 0; i < env->nmachines; i++)
				json_object_array_add(ms,
					json_object_new_string(env->machines[i].name));
			json_object_object_add(o, "machines", ms);
		}
		for (size_t i = 0; i < rep.n; i++)
			json_object_array_add(probs, json_object_new_string(rep.msgs[i]));
		if (r < 0 && rep.n == 0)
			json_object_array_add(probs, json_object_new_string(e.msg));
		json_object_object_add(o, "problems", probs);
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else if (r < 0 && rep.n) {
		for (size_t i = 0; i < rep.n; i++)
			ui_error("%s", rep.msgs[i]);
		fprintf(stderr, "%zu problem%s found\n", rep.n, rep.n == 1 ? "" : "s");
	} else if (r < 0) {
		ui_error("%s", e.msg);
	} else {
		char *display = cmd_display_path(env->path);

		ui_info("%s is valid: %zu machine%s", display ? display : env->path,
			env->nmachines, env->nmachines == 1 ? "" : "s");
		free(display);
	}
	yaml_report_free(&rep);
	envfile_free(env);
	return r < 0 ? EXIT_FAIL : EXIT_OK;
}
