/* Which steps run, and the record of what ran: state.json "provisioners" maps each step name
 * to {kind, runs, last_run, exit_status}. A "once" step counts as done after a successful run,
 * so a step added to the Envfile later still runs at the next envup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "core/project.h"
#include "core/strutil.h"
#include "provisioners/file.h"
#include "provisioners/provision.h"
#include "provisioners/shell.h"

int provision_check_names(const struct machine *m, char **names, size_t n, struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		const char *cand[64];
		size_t nc = 0;
		bool found = false;
		const char *s;

		for (size_t j = 0; j < m->nsteps; j++) {
			found |= !strcmp(m->steps[j].name, names[i]);
			if (nc < 64)
				cand[nc++] = m->steps[j].name;
		}
		if (found)
			continue;
		s = str_suggest(names[i], cand, nc);
		return err_set(e, ERR_USAGE, "machine '%s' has no provision step named '%s'%s%s%s",
			       m->name, names[i], s ? " (did you mean '" : "", s ? s : "",
			       s ? "'?)" : "");
	}
	return 0;
}

/* The recorded run of step name with exit status 0? */
static bool ran_ok(const char *machine_dir, const char *name)
{
	struct json_object *st = NULL, *all, *one, *v;
	struct err e;
	bool ok = false;

	if (machine_state_load(machine_dir, &st, &e) < 0)
		return false;
	if (json_object_object_get_ex(st, "provisioners", &all) &&
	    json_object_object_get_ex(all, name, &one) &&
	    json_object_object_get_ex(one, "exit_status", &v))
		ok = json_object_get_int(v) == 0;
	json_object_put(st);
	return ok;
}

bool provision_wanted(const struct machine *m, const char *machine_dir,
		      const struct provision_step *st, const struct provision_opts *o)
{
	if (o->nonly) {
		for (size_t i = 0; i < o->nonly; i++)
			if (!strcmp(o->only[i], st->name))
				return true;
		return false;
	}
	switch (st->run) {
	case RUN_NEVER: return false;
	case RUN_ALWAYS: return true;
	case RUN_ONCE: return o->again || !ran_ok(machine_dir, st->name);
	}
	return false;
}

int provision_record(const char *machine_dir, const struct provision_step *st, int status,
		     struct err *e)
{
	struct json_object *state = NULL, *all, *one, *v;
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	int runs = 0, rc;

	if (machine_state_load(machine_dir, &state, e) < 0)
		return -1;
	if (!json_object_object_get_ex(state, "provisioners", &all)) {
		all = json_object_new_object();
		json_object_object_add(state, "provisioners", all);
	} else if (!json_object_is_type(all, json_type_object)) {
		/* json_object_object_add would abort on it. */
		json_object_put(state);
		return err_set(
			e, ERR_CORRUPT,
			"%s/state.json: \"provisioners\" is not a JSON object; move the file "
			"away and run the command again",
			machine_dir);
	}
	if (json_object_object_get_ex(all, st->name, &one)) {
		if (!json_object_is_type(one, json_type_object)) {
			json_object_put(state);
			return err_set(e, ERR_CORRUPT,
				       "%s/state.json: \"provisioners\".\"%s\" is not a JSON "
				       "object; move the file away and run the command again",
				       machine_dir, st->name);
		}
		if (json_object_object_get_ex(one, "runs", &v))
			runs = json_object_get_int(v);
	}
	one = json_object_new_object();
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(
		one, "kind",
		json_object_new_string(st->kind == PROVISION_SHELL ? "shell" : "file"));
	json_object_object_add(one, "runs", json_object_new_int(runs + 1));
	json_object_object_add(one, "last_run", json_object_new_string(when));
	json_object_object_add(one, "exit_status", json_object_new_int(status));
	json_object_object_add(all, st->name, one);
	rc = machine_state_save(machine_dir, state, e);
	json_object_put(state);
	return rc;
}

int provision_run(struct comm *c, const struct machine *m, const char *machine_dir,
		  const struct provision_opts *o, const struct provision_hooks *h, int *nran,
		  struct err *e)
{
	if (nran)
		*nran = 0;
	for (size_t i = 0; i < m->nsteps; i++) {
		const struct provision_step *st = &m->steps[i];
		int status = 0, r;

		if (!provision_wanted(m, machine_dir, st, o))
			continue;
		if (h && h->step)
			h->step(h->ctx, st);
		if (st->kind == PROVISION_SHELL)
			r = shell_step_run(c, st, h ? &h->out : NULL, &status, e);
		else
			r = file_step_run(c, st, NULL, e);
		if (r < 0) {
			provision_record(machine_dir, st, -1, &(struct err){0});
			return err_wrap(e, "machine '%s': provision step '%s'", m->name, st->name);
		}
		if (nran)
			(*nran)++;
		if (provision_record(machine_dir, st, status, e) < 0)
			return -1;
		if (status)
			return err_set(
				e, ERR_FAIL,
				"machine '%s': provision step '%s' failed with exit status %d",
				m->name, st->name, status);
	}
	return 0;
}
