/* envstatus: each machine's recorded state, read from .envup/ without taking the lock. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/project.h"
#include "core/ui.h"
#include "providers/provider.h"

/* "not_created" -> "not created" for people; JSON keeps the identifier. */
static void human_state(const char *state, char *buf, size_t len)
{
	snprintf(buf, len, "%s", state);
	for (char *p = buf; *p; p++)
		if (*p == '_')
			*p = ' ';
}

/* The machine's state as its provider sees it, and the provider's name: the one that created
 * it, else the Envfile's choice. */
static int machine_status(const struct env *env, const struct machine *m,
			  const struct project *proj, const char **state, const char **provider,
			  char *ssh, size_t sshlen, struct err *e)
{
	struct provider_ctx c;
	const struct provider *p = NULL;
	enum machine_status st;
	int rc;

	if (provider_ctx_init(&c, env, m, proj, e) < 0)
		return -1;
	rc = provider_machine_status(&c, &st, e);
	if (rc == 0) {
		*state = machine_status_name(st);
		/* A machine keeps the provider that created it; others show the Envfile's. */
		*provider = m->provider;
		if (st != MACHINE_NOT_CREATED && provider_of_existing(&c, &p, e) == 0)
			*provider = p->name;
		/* where SSH answers, from what the provider recorded: no connection is made */
		ssh[0] = 0;
		if (st == MACHINE_RUNNING && p) {
			struct provider_ssh_info si;
			struct err ignored = {0};

			if (p->ssh_info(&c, &si, &ignored) == 0)
				snprintf(ssh, sshlen, "%s:%d", si.host, si.port);
		}
	}
	provider_ctx_free(&c);
	return rc;
}

int cmd_status(int argc, char **argv)
{
	const struct command *self = cmd_lookup("status");
	struct json_object *out = NULL, *list = NULL;
	struct env *env = NULL;
	struct project proj;
	struct err e = {0};
	int nargs, r = cmd_parse_common(self, argc, argv, &nargs), rc = EXIT_OK;

	if (r < 0)
		return r == -1 ? EXIT_OK : EXIT_USAGE;
	if (cmd_load_env(&env, &e) < 0)
		return cmd_fail(&e);
	for (int i = 1; i <= nargs; i++) {
		if (!env_machine_named(env, argv[i], &e)) {
			envfile_free(env);
			return cmd_fail(&e);
		}
	}
	if (project_peek(env, &proj, &e) < 0) {
		envfile_free(env);
		return cmd_fail(&e);
	}
	if (cli.json) {
		out = json_object_new_object();
		list = json_object_new_array();
		json_object_object_add(out, "envfile", json_object_new_string(env->path));
	} else {
		ui_out("Current machine states:\n");
	}
	for (size_t i = 0; i < env->nmachines; i++) {
		const struct machine *m = &env->machines[i];
		bool wanted = nargs == 0;
		const char *state = NULL, *provider = NULL;
		char human[64], ssh[300];

		for (int a = 1; a <= nargs; a++)
			wanted |= !strcmp(argv[a], m->name);
		if (!wanted)
			continue;
		if (machine_status(env, m, &proj, &state, &provider, ssh, sizeof(ssh), &e) < 0) {
			ui_error("%s", e.msg);
			rc = EXIT_FAIL;
			continue;
		}
		if (cli.json) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "name", json_object_new_string(m->name));
			json_object_object_add(o, "state", json_object_new_string(state));
			json_object_object_add(o, "provider", json_object_new_string(provider));
			if (m->box)
				json_object_object_add(o, "box", json_object_new_string(m->box));
			if (*ssh)
				json_object_object_add(o, "ssh", json_object_new_string(ssh));
			json_object_array_add(list, o);
		} else {
			human_state(state, human, sizeof(human));
			ui_out("%-24s %s (%s)%s%s", m->name, human, provider, *ssh ? ", ssh " : "",
			       ssh);
		}
	}
	if (cli.json) {
		json_object_object_add(out, "machines", list);
		puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(out);
	}
	project_close(&proj);
	envfile_free(env);
	return rc;
}
