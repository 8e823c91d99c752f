/* envbox add, list, remove, outdated, update, prune: the box store commands. */
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxes/add.h"
#include "boxes/catalog.h"
#include "boxes/store.h"
#include "cmd/box_store.h"
#include "cmd/cmd.h"
#include "core/fsutil.h"
#include "core/http.h"
#include "core/ui.h"
#include "core/userconf.h"

/* One option table for every subcommand: each says which options it takes. */
struct opts {
	const char *name;
	const char *pos;
	const char *version, *provider, *arch, *checksum, *checksum_type, *as_name, *cacert;
	bool insecure, force, all, dry_run;
};

static int usage(const struct opts *o, bool err)
{
	fprintf(err ? stderr : stdout, "usage: envbox %s %s\n", o->name, cmd_box_usage(o->name));
	return err ? EXIT_USAGE : EXIT_OK;
}

/* Returns -1 to continue, else an exit code. allowed: the option names this subcommand takes. */
static int parse(int argc, char **argv, struct opts *o, const char *const *allowed)
{
	static const struct {
		const char *opt;
		size_t off;
	} valued[] = {
		{"--box-version", offsetof(struct opts, version)},
		{"--provider", offsetof(struct opts, provider)},
		{"--arch", offsetof(struct opts, arch)},
		{"--checksum", offsetof(struct opts, checksum)},
		{"--checksum-type", offsetof(struct opts, checksum_type)},
		{"--name", offsetof(struct opts, as_name)},
		{"--cacert", offsetof(struct opts, cacert)},
	};
	static const struct {
		const char *opt;
		size_t off;
	} flags[] = {
		{"--insecure", offsetof(struct opts, insecure)},
		{"--force", offsetof(struct opts, force)},
		{"--all", offsetof(struct opts, all)},
		{"--dry-run", offsetof(struct opts, dry_run)},
	};

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool ok = false, done = false;

		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return usage(o, false);
		/* -v, -q, --json (help was handled above, with this subcommand's usage) */
		if (cmd_common_option(cmd_lookup("box"), a) > 0)
			continue;
		if (a[0] != '-' || !a[1]) {
			if (o->pos) {
				ui_error("%s: unexpected argument '%s'", o->name, a);
				return usage(o, true);
			}
			o->pos = a;
			continue;
		}
		for (const char *const *p = allowed; *p; p++)
			if (!strcmp(*p, a))
				ok = true;
		for (size_t k = 0; ok && k < sizeof(valued) / sizeof(valued[0]); k++)
			if (!strcmp(valued[k].opt, a)) {
				if (i + 1 >= argc) {
					ui_error("%s: %s needs a value", o->name, a);
					return usage(o, true);
				}
				*(const char **)((char *)o + valued[k].off) = argv[++i];
				done = true;
			}
		for (size_t k = 0; ok && !done && k < sizeof(flags) / sizeof(flags[0]); k++)
			if (!strcmp(flags[k].opt, a)) {
				*(bool *)((char *)o + flags[k].off) = true;
				done = true;
			}
		if (!done) {
			ui_error("%s: unknown option '%s'", o->name, a);
			return usage(o, true);
		}
	}
	return -1;
}

static void phase_update(void *ctx, uint64_t done, uint64_t total)
{
	struct cmd_add_phase *ph = ctx;

	if (ph->bar->label != ph->name) {
		bool drawn = ph->bar->drawn;

		ui_progress_start(ph->bar, ph->name);
		ph->bar->drawn = drawn; /* the same line: cleared once at the end */
	}
	ui_progress_update(ph->bar, done, total);
}

static void on_step(void *ctx, const char *what)
{
	if (cli.verbosity < UI_VERBOSE)
		return;
	ui_progress_done(ctx);
	ui_verbose("==> box: %s", what);
}

static void set_phase(struct cmd_add_phase *ph, struct ui_progress *bar, const char *name,
		      const struct progress **slot)
{
	*ph = (struct cmd_add_phase){bar, name, {phase_update, ph}};
	*slot = &ph->on_update;
}

void cmd_add_progress_attach(struct cmd_add_progress *p, struct box_add_opts *o)
{
	ui_progress_start(&p->bar, NULL);
	set_phase(&p->download, &p->bar, "[1/3] download", &o->download);
	set_phase(&p->extract, &p->bar, "[2/3] unpack  ", &o->extract);
	/* a remote box is unpacked as it arrives: its first two phases are one */
	set_phase(&p->download_unpack, &p->bar, "[1+2/3] download+unpack", &o->download_unpack);
	set_phase(&p->convert, &p->bar, "[3/3] convert ", &o->convert);
	o->step = on_step;
	o->step_ctx = &p->bar;
	if (cli.verbosity >= UI_VERBOSE && !cli.json)
		o->trace = cmd_box_trace;
}

void cmd_box_trace(void *ctx, const char *line)
{
	(void)ctx;
	ui_verbose("    %s", line);
}

static struct json_object *entry_json(const struct box_entry *b)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(b->name));
	json_object_object_add(o, "version", json_object_new_string(b->version));
	json_object_object_add(o, "provider", json_object_new_string(b->provider));
	json_object_object_add(o, "architecture", json_object_new_string(b->arch));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)box_entry_size(b)));
	json_object_object_add(o, "dir", json_object_new_string(b->dir));
	return o;
}

static void print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static int add_one(const struct box_store *s, const struct box_add_opts *ao)
{
	struct cmd_add_progress progress;
	struct box_add_opts o = *ao;
	struct box_add_result r;
	struct err e = {0};
	int rc;

	cmd_add_progress_attach(&progress, &o);
	rc = box_add(s, &o, &r, &e);
	ui_progress_done(&progress.bar);
	if (rc < 0)
		return cmd_fail(&e);
	if (cli.json) {
		struct json_object *j = entry_json(&r.box), *t = json_object_new_object();

		json_object_object_add(j, "already_installed",
				       json_object_new_boolean(r.already_installed));
		json_object_object_add(j, "archive_bytes",
				       json_object_new_int64((int64_t)r.archive_bytes));
		json_object_object_add(j, "fetched", json_object_new_int64((int64_t)r.fetched));
		json_object_object_add(j, "resumed_from",
				       json_object_new_int64((int64_t)r.resumed_from));
		json_object_object_add(j, "adopted", json_object_new_boolean(r.adopted));
		json_object_object_add(j, "streamed", json_object_new_boolean(r.streamed));
		json_object_object_add(j, "unpacked_while_downloading",
				       json_object_new_boolean(r.unpacked_while_downloading));
		if (r.not_adopted[0])
			json_object_object_add(j, "not_adopted",
					       json_object_new_string(r.not_adopted));
		json_object_object_add(t, "resolve", json_object_new_double(r.secs_resolve));
		json_object_object_add(t, "download", json_object_new_double(r.secs_download));
		json_object_object_add(t, "verify", json_object_new_double(r.secs_verify));
		json_object_object_add(t, "extract", json_object_new_double(r.secs_extract));
		json_object_object_add(t, "convert", json_object_new_double(r.secs_convert));
		json_object_object_add(j, "seconds", t);
		print_json(j);
	} else if (r.already_installed) {
		ui_info("box '%s' version %s (%s, %s) is already installed", r.box.name,
			r.box.version, r.box.provider, r.box.arch);
	} else {
		ui_info("added box '%s' version %s (%s, %s)", r.box.name, r.box.version,
			r.box.provider, r.box.arch);
		ui_verbose(
			"  %llu bytes fetched%s; download %.2f s, verify %.2f s, extract %.2f s, "
			"convert %.2f s",
			(unsigned long long)r.fetched, r.resumed_from ? " (resumed)" : "",
			r.secs_download, r.secs_verify, r.secs_extract, r.secs_convert);
		if (r.unpacked_while_downloading)
			ui_verbose("  the box was unpacked while it downloaded");
		if (r.streamed)
			ui_verbose("  the box's stream VMDK was converted while it was unpacked");
		else if (r.adopted)
			ui_verbose("  the box's qcow2 disk was adopted as it is (no conversion)");
		else if (r.not_adopted[0])
			ui_verbose("  the box's qcow2 disk was converted: %s", r.not_adopted);
	}
	box_add_result_free(&r);
	return EXIT_OK;
}

int cmd_box_add(int argc, char **argv)
{
	static const char *const allowed[] = {
		"--box-version", "--provider", "--arch",     "--checksum", "--checksum-type",
		"--name",	 "--cacert",   "--insecure", "--force",	   NULL};
	struct opts o = {.name = "add"};
	struct env *env = NULL;
	struct box_store s;
	struct userconf uc;
	struct err e = {0};
	int rc = parse(argc, argv, &o, allowed);

	if (rc >= 0)
		return rc;
	if (!o.pos) {
		ui_error("add: which box? (NAME, URL or FILE)");
		return usage(&o, true);
	}
	/* A project's Envfile registries come first; outside a project there are none. */
	if (cmd_load_env(&env, &e) < 0) {
		if (e.code != ERR_NOTFOUND)
			return cmd_fail(&e);
		env = NULL;
		err_clear(&e);
	}
	if (userconf_load(NULL, &uc, &e) < 0) {
		envfile_free(env);
		return cmd_fail(&e);
	}
	if (box_store_open(&s, &e) < 0) {
		userconf_free(&uc);
		envfile_free(env);
		return cmd_fail(&e);
	}
	rc = add_one(&s, &(struct box_add_opts){
				 .registries = env ? env->registries : NULL,
				 .nregistries = env ? env->nregistries : 0,
				 .source = o.pos,
				 .name = o.as_name,
				 .constraint = o.version,
				 .provider = o.provider,
				 .arch = o.arch,
				 .checksum = o.checksum,
				 .checksum_type = o.checksum_type,
				 .cacert = o.cacert,
				 .insecure = o.insecure,
				 .force = o.force,
				 .uc = &uc,
			 });
	box_store_close(&s);
	userconf_free(&uc);
	envfile_free(env);
	return rc;
}

static void not_a_box(void *ctx, const char *path, const char *why)
{
	ui_warn("skipped %s: %s", path, why);
}

int cmd_box_list(int argc, char **argv)
{
	static const char *const allowed[] = {NULL};
	struct opts o = {.name = "list"};
	struct box_store s;
	struct box_entry *v;
	size_t n;
	struct err e = {0};
	int rc = parse(argc, argv, &o, allowed);

	if (rc >= 0)
		return rc;
	if (o.pos) {
		ui_error("list: unexpected argument '%s'", o.pos);
		return usage(&o, true);
	}
	if (box_store_open(&s, &e) < 0)
		return cmd_fail(&e);
	if (box_store_list_report(&s, &v, &n, not_a_box, NULL, &e) < 0) {
		box_store_close(&s);
		return cmd_fail(&e);
	}
	if (cli.json) {
		struct json_object *a = json_object_new_array();

		for (size_t i = 0; i < n; i++)
			json_object_array_add(a, entry_json(&v[i]));
		print_json(a);
	} else if (!n) {
		ui_info("no boxes installed; 'envbox add NAME' adds one");
	} else {
		for (size_t i = 0; i < n; i++) {
			char sz[32];

			ui_format_bytes(box_entry_size(&v[i]), sz, sizeof(sz));
			ui_out("%-32s %-12s %-14s %-8s %10s", v[i].name, v[i].version,
			       v[i].provider, v[i].arch, sz);
		}
	}
	box_entries_free(v, n);
	box_store_close(&s);
	return EXIT_OK;
}

static bool entry_matches(const struct box_entry *b, const struct opts *o)
{
	return !strcmp(b->name, o->pos) && (!o->version || !strcmp(b->version, o->version)) &&
	       (!o->provider || !strcmp(b->provider, o->provider)) &&
	       (!o->arch || !strcmp(b->arch, o->arch));
}

static void pruned(void *ctx, const struct box_entry *b)
{
	struct json_object *arr = ctx;

	if (arr)
		json_object_array_add(arr, entry_json(b));
	else
		ui_info("removed box '%s' version %s (%s, %s)", b->name, b->version, b->provider,
			b->arch);
}

int cmd_box_remove(int argc, char **argv)
{
	static const char *const allowed[] = {"--box-version", "--provider", "--arch",
					      "--all",	       "--force",    NULL};
	struct opts o = {.name = "remove"};
	struct box_store s;
	struct box_entry *v;
	size_t n, matches = 0;
	struct err e = {0};
	int rc = parse(argc, argv, &o, allowed);

	if (rc >= 0)
		return rc;
	if (!o.pos) {
		ui_error("remove: which box?");
		return usage(&o, true);
	}
	if (box_store_open(&s, &e) < 0)
		return cmd_fail(&e);
	if (box_store_list(&s, &v, &n, &e) < 0) {
		box_store_close(&s);
		return cmd_fail(&e);
	}
	for (size_t i = 0; i < n; i++)
		matches += entry_matches(&v[i], &o);
	rc = EXIT_OK;
	if (!matches) {
		ui_error("box '%s'%s%s is not installed", o.pos, o.version ? " version " : "",
			 o.version ? o.version : "");
		rc = EXIT_FAIL;
	} else if (matches > 1 && !o.all) {
		ui_error("box '%s' is installed %zu times; pick one with --box-version, --provider "
			 "or --arch, or pass --all:",
			 o.pos, matches);
		for (size_t i = 0; i < n; i++)
			if (entry_matches(&v[i], &o))
				fprintf(stderr, "  %s %s (%s, %s)\n", v[i].name, v[i].version,
					v[i].provider, v[i].arch);
		rc = EXIT_USAGE;
	}
	struct json_object *removed = cli.json ? json_object_new_array() : NULL;

	for (size_t i = 0; rc == EXIT_OK && i < n; i++) {
		int lock;

		if (!entry_matches(&v[i], &o))
			continue;
		lock = box_store_lock(&s, v[i].name, true, &e);
		if (lock < 0 || box_store_remove(&s, &v[i], o.force, &e) < 0) {
			box_store_unlock(lock);
			rc = cmd_fail(&e);
			break;
		}
		box_store_unlock(lock);
		pruned(removed, &v[i]); /* a JSON entry, or the line saying so */
	}
	/* --json answers with what was removed, as prune does (also when something failed) */
	if (removed)
		print_json(removed);
	box_entries_free(v, n);
	box_store_close(&s);
	return rc;
}

/* The installed record of a box (envup-box.json); NULL when unreadable. */
static struct json_object *record_of(const struct box_entry *b)
{
	char *path = fs_join(b->dir, BOX_RECORD_FILE), *buf;
	struct json_object *j = NULL;

	if (path && fs_read_file(path, 1 << 16, &buf, NULL, NULL) == 0) {
		j = json_tokener_parse(buf);
		free(buf);
	}
	free(path);
	return j;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* The newest catalog version for an installed box's provider and architecture (heap), or NULL
 * with e set. */
static char *newest_in_catalog(const struct box_entry *b, struct json_object *rec,
			       const struct userconf *uc, const struct opts *o, struct err *e)
{
	const char *url = jstr(rec, "catalog_url"), *reg = jstr(rec, "registry");
	struct http_opts ho = {.cacert = o->cacert,
			       .insecure = o->insecure,
			       .retries = 2,
			       .accept = "application/json"};
	struct catalog *c;
	struct catalog_choice ch;
	char *body, *out = NULL;
	size_t len;

	if (!url) {
		err_set(e, ERR_NOTFOUND, "added from a box file, not a catalog");
		return NULL;
	}
	ho.bearer = reg ? userconf_token_for(uc, reg) : NULL;
	ho.bearer_scope = reg;
	if (cli.verbosity >= UI_VERBOSE && !cli.json)
		ho.trace = cmd_box_trace;
	if (http_get(url, &ho, CATALOG_MAX_BYTES, &body, &len, e) < 0)
		return NULL;
	if (catalog_parse(body, len, url, &c, e) == 0) {
		struct catalog_query q = {.provider = b->provider, .arch = b->arch};

		if (catalog_select(c, &q, &ch, e) == 0 && !(out = strdup(ch.version->version)))
			err_set(e, ERR_FAIL, "out of memory");
		catalog_free(c);
	}
	free(body);
	return out;
}

/* Calls fn for the newest installed version of each name/provider/arch that a catalog has a
 * newer version of. Returns the number of boxes checked that failed. */
static int each_outdated(const struct box_store *s, const struct opts *o, const struct userconf *uc,
			 int (*fn)(void *ctx, const struct box_entry *b, const char *newest,
				   struct json_object *rec, const char *why),
			 void *ctx)
{
	struct box_entry *v;
	size_t n;
	struct err e = {0};
	int failures = 0;

	if (box_store_list(s, &v, &n, &e) < 0) {
		cmd_fail(&e);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *rec;
		char *newest;
		bool later = false;

		for (size_t j = i + 1; j < n; j++)
			if (!strcmp(v[j].name, v[i].name) &&
			    !strcmp(v[j].provider, v[i].provider) && !strcmp(v[j].arch, v[i].arch))
				later = true;
		if (later || (o->pos && strcmp(o->pos, v[i].name)))
			continue;
		rec = record_of(&v[i]);
		err_clear(&e);
		newest = newest_in_catalog(&v[i], rec, uc, o, &e);
		if (fn(ctx, &v[i], newest, rec, newest ? NULL : e.msg) < 0)
			failures++;
		free(newest);
		json_object_put(rec);
	}
	box_entries_free(v, n);
	return failures;
}

struct outdated_ctx {
	struct json_object *arr;
};

static int print_outdated(void *ctx, const struct box_entry *b, const char *newest,
			  struct json_object *rec, const char *why)
{
	struct outdated_ctx *c = ctx;
	bool old = newest && catalog_version_cmp(newest, b->version) > 0;

	(void)rec;
	if (c->arr) {
		struct json_object *j = entry_json(b);

		json_object_object_add(j, "latest", newest ? json_object_new_string(newest) : NULL);
		json_object_object_add(j, "outdated", json_object_new_boolean(old));
		if (why)
			json_object_object_add(j, "error", json_object_new_string(why));
		json_object_array_add(c->arr, j);
	} else if (!newest) {
		ui_out("%s %s (%s, %s): cannot check: %s", b->name, b->version, b->provider,
		       b->arch, why);
	} else if (old) {
		ui_out("%s %s (%s, %s): outdated, %s is available", b->name, b->version,
		       b->provider, b->arch, newest);
	} else {
		ui_out("%s %s (%s, %s): up to date", b->name, b->version, b->provider, b->arch);
	}
	return 0;
}

int cmd_box_outdated(int argc, char **argv)
{
	static const char *const allowed[] = {"--cacert", "--insecure", NULL};
	struct opts o = {.name = "outdated"};
	struct outdated_ctx c = {0};
	struct box_store s;
	struct userconf uc;
	struct err e = {0};
	int rc = parse(argc, argv, &o, allowed);

	if (rc >= 0)
		return rc;
	if (userconf_load(NULL, &uc, &e) < 0)
		return cmd_fail(&e);
	if (box_store_open(&s, &e) < 0) {
		userconf_free(&uc);
		return cmd_fail(&e);
	}
	if (cli.json)
		c.arr = json_object_new_array();
	each_outdated(&s, &o, &uc, print_outdated, &c);
	if (c.arr)
		print_json(c.arr);
	box_store_close(&s);
	userconf_free(&uc);
	return EXIT_OK;
}

struct update_ctx {
	const struct box_store *s;
	const struct opts *o;
	const struct userconf *uc;
};

static int update_one(void *ctx, const struct box_entry *b, const char *newest,
		      struct json_object *rec, const char *why)
{
	struct update_ctx *c = ctx;

	if (!newest) {
		ui_warn("%s %s (%s, %s): cannot check: %s", b->name, b->version, b->provider,
			b->arch, why);
		return 0;
	}
	if (catalog_version_cmp(newest, b->version) <= 0) {
		ui_info("%s %s (%s, %s) is up to date", b->name, b->version, b->provider, b->arch);
		return 0;
	}
	ui_info("==> box: updating '%s' from %s to %s", b->name, b->version, newest);
	return add_one(c->s,
		       &(struct box_add_opts){
			       .source = jstr(rec, "catalog_url"),
			       .name = b->name,
			       .constraint = newest,
			       .provider = b->provider,
			       .arch = b->arch,
			       .cacert = c->o->cacert,
			       .insecure = c->o->insecure,
			       .uc = c->uc,
		       }) == EXIT_OK
		       ? 0
		       : -1;
}

int cmd_box_update(int argc, char **argv)
{
	static const char *const allowed[] = {"--cacert", "--insecure", NULL};
	struct opts o = {.name = "update"};
	struct box_store s;
	struct userconf uc;
	struct err e = {0};
	struct update_ctx c = {.s = &s, .o = &o, .uc = &uc};
	int rc = parse(argc, argv, &o, allowed), failures;

	if (rc >= 0)
		return rc;
	if (userconf_load(NULL, &uc, &e) < 0)
		return cmd_fail(&e);
	if (box_store_open(&s, &e) < 0) {
		userconf_free(&uc);
		return cmd_fail(&e);
	}
	failures = each_outdated(&s, &o, &uc, update_one, &c);
	box_store_close(&s);
	userconf_free(&uc);
	return failures ? EXIT_FAIL : EXIT_OK;
}


int cmd_box_prune(int argc, char **argv)
{
	static const char *const allowed[] = {"--dry-run", NULL};
	struct opts o = {.name = "prune"};
	struct json_object *arr = NULL;
	struct box_store s;
	struct err e = {0};
	int rc = parse(argc, argv, &o, allowed);

	if (rc >= 0)
		return rc;
	if (box_store_open(&s, &e) < 0)
		return cmd_fail(&e);
	if (cli.json)
		arr = json_object_new_array();
	rc = box_store_prune(&s, o.dry_run, pruned, arr, &e);
	if (rc == 0) {
		uint64_t bytes;
		unsigned files;

		rc = http_cache_prune(s.cache, o.dry_run, &bytes, &files, &e);
		if (rc == 0 && files) {
			char b[32];

			ui_format_bytes(bytes, b, sizeof(b));
			ui_info("%s %u download%s from the cache (%s)",
				o.dry_run ? "would remove" : "removed", files, files == 1 ? "" : "s",
				b);
		}
	}
	box_store_close(&s);
	if (rc < 0) {
		json_object_put(arr);
		return cmd_fail(&e);
	}
	if (arr)
		print_json(arr);
	return EXIT_OK;
}
