/* envvalidate: load the Envfile and report every problem. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "core/ui.h"
#include "providers/provider.h"
#include "providers/share9p.h"

/* The owner and group a folder's files get (rsync) or are given (9p), in words. */
static void owner_explained(FILE *o, const struct machine *m, const struct synced_folder *f)
{
	if (f->owner || f->group)
		fprintf(o, "%s:%s", f->owner ? f->owner : m->ssh.user,
			f->group   ? f->group
			: f->owner ? f->owner
				   : m->ssh.user);
	else
		fprintf(o, "the SSH user %s and its group", m->ssh.user);
}

/* How one synced folder reaches machine m's guest, in words (heap). */
static char *folder_explained(const struct machine *m, size_t index)
{
	const struct synced_folder *f = &m->folders[index];
	const struct provider *pv = NULL;
	enum folder_how how = FOLDER_SKIP;
	const char *why;
	struct err e = {0};
	char *s = NULL, tag[SHARE9P_TAG_LEN];
	size_t len = 0;
	FILE *o = open_memstream(&s, &len);

	if (!o)
		return NULL;
	if (f->disabled) {
		fputs("disabled", o);
	} else if (provider_for_machine(m, NULL, &pv, NULL, &e) < 0) {
		fprintf(o, "%s; %s",
			f->type == FOLDER_9P ? "9p"
			: f->type == FOLDER_RSYNC
				? "rsync"
				: "auto (9p where the provider shares live, else rsync)",
			e.msg);
		how = f->type == FOLDER_9P ? FOLDER_BY_PROVIDER : FOLDER_BY_RSYNC;
	} else if (provider_folder_how(pv, m, f, &how, &why, &e) < 0) {
		fprintf(o, "refused: %s", e.msg);
	} else {
		fprintf(o, "%s (provider '%s')", why, pv->name);
	}
	if (how == FOLDER_BY_RSYNC) {
		for (size_t i = 0; i < f->nexclude; i++)
			fprintf(o, "%s%s", i ? ", " : "; rsync skips ", f->exclude[i]);
		fputs("; files owned by ", o);
		owner_explained(o, m, f);
		if (f->rsync_install)
			fputs("; envup may install rsync in the guest", o);
	} else if (how == FOLDER_BY_PROVIDER) {
		share9p_tag(index, tag);
		if (f->type == FOLDER_AUTO)
			fputs(" (rsync if the guest kernel has no 9p)", o);
		fprintf(o, "; mounted as tag %s with %s", tag, SHARE9P_MOUNT_OPTIONS);
		for (size_t i = 0; i < f->nmount_options; i++)
			fprintf(o, ",%s", f->mount_options[i]);
		if (f->fstab)
			fputs("; entered in the guest's /etc/fstab (nofail)", o);
		if (share9p_readonly(f)) {
			fputs("; read-only, files keep their owners", o);
		} else if (pv && !(pv->caps & PROVIDER_CAP_SHARE_OWNERS)) {
			fputs("; files keep their host owners (the user running envup)", o);
		} else {
			fputs("; files given to ", o);
			owner_explained(o, m, f);
		}
		if (f->nexclude)
			fputs("; exclude ignored (9p shares everything)", o);
	}
	if (f->create)
		fputs("; the host folder is made when missing", o);
	if (f->nmount_options && how == FOLDER_BY_RSYNC)
		fputs("; mount_options ignored (rsync)", o);
	if (f->fstab && how == FOLDER_BY_RSYNC)
		fputs("; fstab ignored (rsync)", o);
	if (fclose(o) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void explain_folders(const struct env *env, struct json_object *js)
{
	for (size_t i = 0; i < env->nmachines; i++) {
		const struct machine *m = &env->machines[i];
		struct json_object *list = json_object_new_array();

		if (!js)
			ui_info("%s: synced folders", m->name);
		for (size_t k = 0; k < m->nfolders; k++) {
			const struct synced_folder *f = &m->folders[k];
			char *how = folder_explained(m, k), *host = cmd_display_path(f->host);
			const char *h = host && *host ? host : f->host;

			if (js) {
				struct json_object *o = json_object_new_object();

				json_object_object_add(o, "host", json_object_new_string(f->host));
				json_object_object_add(o, "guest",
						       json_object_new_string(f->guest));
				json_object_object_add(o, "default",
						       json_object_new_boolean(f->implicit));
				json_object_object_add(o, "explained",
						       json_object_new_string(how ? how : ""));
				json_object_array_add(list, o);
			} else {
				ui_info("  %s -> %s%s: %s", h, f->guest,
					f->implicit ? " (the default)" : "", how ? how : "");
			}
			free(how);
			free(host);
		}
		if (js)
			json_object_object_add(js, m->name, list);
		else
			json_object_put(list);
	}
}

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
				json_object_array_add(
					ms, json_object_new_string(env->machines[i].name));
			json_object_object_add(o, "machines", ms);
			ms = json_object_new_object();
			explain_folders(env, ms);
			json_object_object_add(o, "synced_folders", ms);
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

		ui_info("%s is valid: %zu machine%s", display ? display : env->path, env->nmachines,
			env->nmachines == 1 ? "" : "s");
		free(display);
		explain_folders(env, NULL);
	}
	yaml_report_free(&rep);
	envfile_free(env);
	return r < 0 ? EXIT_FAIL : EXIT_OK;
}
