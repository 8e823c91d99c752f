/* envdestroy: remove machines and everything envup keeps about them (keys, pinned host key,
 * state), dependents first. Asks first unless -f. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/machines.h"
#include "core/fsutil.h"
#include "core/ui.h"

/* true when the person answers yes on the terminal. */
static bool confirm(const struct machine *m)
{
	char line[32];
	FILE *tty = fopen("/dev/tty", "r+");
	bool yes;

	if (!tty)
		return false;
	fprintf(tty, "    %s: Are you sure you want to destroy the '%s' machine? [y/N] ", m->name,
		m->name);
	fflush(tty);
	yes = fgets(line, sizeof(line), tty) && (line[0] == 'y' || line[0] == 'Y');
	fclose(tty);
	return yes;
}

struct destroy_opts {
	bool force;
	struct json_object *json; /* --json: one {"machine", "result"} per machine */
};

static void result(struct destroy_opts *o, const struct machine *m, const char *what)
{
	struct json_object *r;

	if (!o->json || !(r = json_object_new_object()))
		return;
	json_object_object_add(r, "machine", json_object_new_string(m->name));
	json_object_object_add(r, "result", json_object_new_string(what));
	json_object_array_add(o->json, r);
}

static int destroy_one(const struct env *env, const struct project *p, const struct machine *m,
		       void *ctx, struct err *e)
{
	struct destroy_opts *o = ctx;
	bool force = o->force;
	struct provider_ctx c;
	const struct provider *pv;
	enum machine_status s;
	int rc = -1;

	if (cmd_machines_reach(&c, env, m, p, &s, &pv, e) < 0)
		return -1;
	if (s == MACHINE_NOT_CREATED) {
		ui_info("==> %s: not created, nothing to do", m->name);
		rc = fs_exists(c.machine_dir) ? fs_remove_tree(c.machine_dir, e) : 0;
		result(o, m, "not_created");
	} else if (!force && !isatty(STDIN_FILENO)) {
		err_set(e, ERR_USAGE,
			"no terminal to confirm on: 'envdestroy -f' destroys "
			"without asking");
	} else if (!force && !confirm(m)) {
		ui_info("==> %s: not destroyed", m->name);
		rc = 0;
		result(o, m, "kept");
	} else {
		ui_info("==> %s: Destroying...", m->name);
		if (provider_ops(pv)->destroy(&c, e) == 0)
			rc = fs_remove_tree(c.machine_dir, e);
		result(o, m, rc == 0 ? "destroyed" : "failed");
	}
	provider_ctx_free(&c);
	return rc;
}

int cmd_destroy(int argc, char **argv)
{
	struct destroy_opts o = {0};
	int rc;

	/* cmd_machines_command parses --json; the array exists from the start in case */
	o.json = json_object_new_array();
	rc = cmd_machines_command(argc, argv, cmd_force_option, &o.force, SELECT_REVERSE,
				  destroy_one, &o);
	if (cli.json && o.json)
		puts(json_object_to_json_string_ext(o.json, JSON_C_TO_STRING_PLAIN));
	json_object_put(o.json);
	return rc;
}
