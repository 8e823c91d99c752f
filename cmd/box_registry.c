/* envbox package, repackage, publish, index. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxes/add.h"
#include "boxes/image.h"
#include "boxes/index.h"
#include "boxes/package.h"
#include "boxes/publish.h"
#include "boxes/registry.h"
#include "boxes/store.h"
#include "cmd/box_registry.h"
#include "cmd/box_store.h"
#include "cmd/cmd.h"
#include "cmd/machines.h"
#include "core/fsutil.h"
#include "core/project.h"
#include "providers/local.h"
#include "core/ui.h"
#include "core/userconf.h"

#define MAX_POS 3
#define V(n, p)            \
	{                  \
		n, p, NULL \
	}
#define F(n, p)            \
	{                  \
		n, NULL, p \
	}
#define END                      \
	{                        \
		NULL, NULL, NULL \
	}

/* The options of one subcommand: NULL-terminated tables of valued options and flags. */
struct opt {
	const char *name;
	const char **value; /* valued option */
	bool *flag;	    /* or a flag */
};

struct args {
	const char *cmd;
	const char *pos[MAX_POS];
	int npos, want_pos;
};

static int usage(const char *cmd, bool err)
{
	fprintf(err ? stderr : stdout, "usage: envbox %s %s\n", cmd, cmd_box_usage(cmd));
	return err ? EXIT_USAGE : EXIT_OK;
}

/* Returns -1 to go on, else an exit code. */
static int parse(int argc, char **argv, struct args *a, const struct opt *opts)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		const struct opt *o;

		if (!strcmp(s, "-h") || !strcmp(s, "--help"))
			return usage(a->cmd, false);
		if (cmd_common_option(cmd_lookup("box"), s) > 0)
			continue;
		if (s[0] != '-' || !s[1]) {
			if (a->npos >= a->want_pos) {
				ui_error("%s: unexpected argument '%s'", a->cmd, s);
				return usage(a->cmd, true);
			}
			a->pos[a->npos++] = s;
			continue;
		}
		for (o = opts; o->name && strcmp(o->name, s); o++)
			;
		if (!o->name) {
			ui_error("%s: unknown option '%s'", a->cmd, s);
			return usage(a->cmd, true);
		}
		if (o->flag) {
			*o->flag = true;
		} else if (i + 1 >= argc) {
			ui_error("%s: %s needs a value", a->cmd, s);
			return usage(a->cmd, true);
		} else {
			*o->value = argv[++i];
		}
	}
	if (a->npos != a->want_pos) {
		ui_error("%s: %d argument%s expected", a->cmd, a->want_pos,
			 a->want_pos == 1 ? "" : "s");
		return usage(a->cmd, true);
	}
	return -1;
}

static void on_step(void *ctx, const char *what)
{
	ui_progress_done(ctx);
	ui_info("==> box: %s", what);
}

static int package_report(const char *output, const struct box_package_result *r)
{
	if (cli.json) {
		struct json_object *j = json_object_new_object();

		json_object_object_add(j, "output", json_object_new_string(output));
		json_object_object_add(j, "provider", json_object_new_string(r->provider));
		json_object_object_add(j, "size", json_object_new_int64((int64_t)r->size));
		json_object_object_add(j, "checksum_type", json_object_new_string("sha256"));
		json_object_object_add(j, "checksum", json_object_new_string(r->sha256));
		printf("%s\n", json_object_to_json_string_ext(
				       j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else {
		ui_info("packaged %s (%s box, %llu bytes)", output, r->provider,
			(unsigned long long)r->size);
		ui_out("sha256 %s  %s", r->sha256, output);
	}
	return EXIT_OK;
}

static int run_package(struct box_package_opts *po, const char *flavour)
{
	struct ui_progress bar;
	struct progress p = {ui_progress_update, &bar};
	struct box_package_result r;
	struct err e = {0};
	int f = box_flavour_from_name(flavour);
	int rc;

	if (f < 0) {
		ui_error("--flavour '%s': one of envup, libvirt, virtualbox", flavour);
		return EXIT_USAGE;
	}
	po->flavour = (enum box_flavour)f;
	ui_progress_start(&bar, "convert");
	po->progress = &p;
	rc = box_package(po, &r, &e);
	ui_progress_done(&bar);
	if (rc < 0)
		return cmd_fail(&e);
	return package_report(po->output, &r);
}

static int package_machine(const char *name, struct box_package_opts *po, const char *flavour,
			   const char *arch, const char *output);

int cmd_box_package(int argc, char **argv)
{
	const char *output = NULL, *name = NULL, *version = NULL, *flavour = NULL;
	bool flavour_given;
	char *named = NULL;
	const char *machine = NULL, *image = NULL, *format = NULL, *arch = NULL;
	struct box_package_opts po = {0};
	const struct opt opts[] = {
		V("--output", &output),	      V("--name", &name),
		V("--box-version", &version), V("--flavour", &flavour),
		V("--machine", &machine),     V("--image", &image),
		V("--format", &format),	      V("--kernel", &po.kernel),
		V("--initrd", &po.initrd),    V("--cmdline", &po.cmdline),
		V("--arch", &arch),	      END,
	};
	struct args a = {.cmd = "package"};
	int rc = parse(argc, argv, &a, opts);

	if (rc >= 0)
		return rc;
	flavour_given = flavour != NULL;
	if (!flavour)
		flavour = "envup";
	/* --name and --box-version name the file when --output does not: ORG-BOX-V-FLAVOUR.box */
	if (!output && name) {
		if (asprintf(&named, "%.*s-%s%s%s-%s.box", (int)strcspn(name, "/"), name,
			     strchr(name, '/') ? strchr(name, '/') + 1 : "", version ? "-" : "",
			     version ? version : "", flavour) < 0)
			return EXIT_FAIL;
		output = named;
	}
	if (!output)
		output = "package.box";
	if (machine && image) {
		ui_error("package: --machine and --image exclude each other");
		free(named);
		return EXIT_USAGE;
	}
	if (machine) {
		rc = package_machine(machine, &po, flavour_given ? flavour : NULL, arch, output);
		free(named);
		return rc;
	}
	if (!image) {
		ui_error("package: which disk? (--image DISK or --machine NAME)");
		free(named);
		return usage("package", true);
	}
	po.image = image;
	po.arch = arch;
	po.output = output;
	if (format && (po.fmt = image_format_from_name(format)) == IMAGE_UNKNOWN) {
		ui_error("--format '%s': one of raw, qcow2, vmdk, vdi, vhd", format);
		free(named);
		return EXIT_USAGE;
	}
	rc = run_package(&po, flavour);
	free(named);
	return rc;
}

/* Reads the kernel, initrd and cmdline the installed box in dir was recorded with. */
static void record_boot(const char *dir, struct box_package_opts *po, char **k, char **i, char **c)
{
	char *path = fs_join(dir, BOX_RECORD_FILE), *buf;
	struct json_object *j = NULL, *v;

	*k = *i = *c = NULL;
	if (path && fs_read_file(path, 1 << 16, &buf, NULL, NULL) == 0) {
		j = json_tokener_parse(buf);
		free(buf);
	}
	free(path);
	if (!j)
		return;
	if (json_object_object_get_ex(j, "kernel", &v) && json_object_is_type(v, json_type_string))
		*k = fs_join(dir, json_object_get_string(v));
	if (json_object_object_get_ex(j, "initrd", &v) && json_object_is_type(v, json_type_string))
		*i = fs_join(dir, json_object_get_string(v));
	if (json_object_object_get_ex(j, "cmdline", &v) && json_object_is_type(v, json_type_string))
		*c = strdup(json_object_get_string(v));
	json_object_put(j);
	po->kernel = *k;
	po->initrd = *i;
	po->cmdline = *c;
}

/* A string field of the installed box's record in dir (heap; NULL when absent). */
static char *record_string(const char *dir, const char *key)
{
	char *path = fs_join(dir, BOX_RECORD_FILE), *buf, *out = NULL;
	struct json_object *j = NULL, *v;

	if (path && fs_read_file(path, 1 << 16, &buf, NULL, NULL) == 0) {
		j = json_tokener_parse(buf);
		free(buf);
	}
	free(path);
	if (j && json_object_object_get_ex(j, key, &v) && json_object_is_type(v, json_type_string))
		out = strdup(json_object_get_string(v));
	json_object_put(j);
	return out;
}

/* The disk of a machine of this project, flattened with its box's base.qcow2, as a box. The
 * project lock is held throughout, so no `envup` starts the machine while its disk is read;
 * a machine that runs (or is suspended) is refused: its disk changes under the reader. */
static int package_machine(const char *name, struct box_package_opts *po, const char *flavour,
			   const char *arch, const char *output)
{
	const struct machine *m;
	const struct provider *pv;
	struct provider_ctx c;
	struct project proj = {.lock_fd = -1};
	enum machine_status s;
	struct env *env = NULL;
	struct err e = {0};
	char *box_dir = NULL, *disk = NULL, *base = NULL, *box_provider = NULL, *box_arch = NULL;
	char *k = NULL, *i = NULL, *cmdline = NULL;
	bool have_ctx = false, have_proj = false;
	int rc = EXIT_FAIL;

	if (cmd_load_env(&env, &e) < 0 || cmd_machines_one(env, name, &m, &e) < 0 ||
	    project_open(env, &proj, &e) < 0)
		goto fail;
	have_proj = true;
	if (project_lock(&proj, !cli.no_wait, &e) < 0 ||
	    cmd_machines_reach(&c, env, m, &proj, &s, &pv, &e) < 0)
		goto fail;
	have_ctx = true;
	switch (s) {
	case MACHINE_NOT_CREATED:
		err_set(&e, ERR_NOTFOUND,
			"machine '%s' is not created: nothing to package ('envup %s' "
			"first)",
			m->name, m->name);
		goto fail;
	case MACHINE_RUNNING:
	case MACHINE_SUSPENDED:
		err_set(&e, ERR_BUSY,
			"machine '%s' is %s: its disk changes while it runs; halt it first "
			"('envhalt %s'), then package it",
			m->name, machine_status_name(s), m->name);
		goto fail;
	case MACHINE_ABORTED:
		ui_warn("machine '%s' was not halted cleanly (aborted): its file systems may need "
			"a check at the next boot",
			m->name);
		break;
	case MACHINE_HALTED: break;
	}
	disk = fs_join(c.machine_dir, "disk.qcow2");
	if (!disk) {
		err_set(&e, ERR_FAIL, "out of memory");
		goto fail;
	}
	if (!fs_exists(disk)) {
		err_set(&e, ERR_UNSUPPORTED,
			"machine '%s' (provider %s) has no disk envup keeps (%s): only machines "
			"of the vmm and qemu providers can be packaged",
			m->name, pv ? pv->name : "?", disk);
		goto fail;
	}
	if (local_box_dir(&c, &box_dir, &e) < 0)
		goto fail;
	if (box_dir && !(base = fs_join(box_dir, "base.qcow2"))) {
		err_set(&e, ERR_FAIL, "out of memory");
		goto fail;
	}
	/* The box it came from decides the flavour and architecture unless told otherwise. */
	if (box_dir) {
		box_provider = record_string(box_dir, "provider");
		box_arch = record_string(box_dir, "architecture");
	}
	if (!flavour)
		flavour = box_provider && box_flavour_from_name(box_provider) >= 0 ? box_provider
										   : "envup";
	po->image = disk;
	po->fmt = IMAGE_QCOW2;
	po->trusted_backing = base;
	po->arch = arch ? arch : box_arch && strcmp(box_arch, "unknown") ? box_arch : NULL;
	po->output = output;
	if (!strcmp(flavour, "envup") && box_dir && !po->kernel)
		record_boot(box_dir, po, &k, &i, &cmdline);
	ui_info("==> %s: packaging its disk (%s) with its box's base image", m->name,
		machine_status_name(s));
	rc = run_package(po, flavour);
	goto out;
fail:
	rc = cmd_fail(&e);
out:
	if (have_ctx)
		provider_ctx_free(&c);
	if (have_proj)
		project_close(&proj);
	envfile_free(env);
	free(box_dir);
	free(disk);
	free(base);
	free(box_provider);
	free(box_arch);
	free(k);
	free(i);
	free(cmdline);
	return rc;
}

int cmd_box_repackage(int argc, char **argv)
{
	const char *output = "package.box", *flavour = NULL, *arch = NULL;
	const struct opt opts[] = {
		V("--output", &output),
		V("--flavour", &flavour),
		V("--arch", &arch),
		END,
	};
	struct args a = {.cmd = "repackage", .want_pos = 3};
	struct box_package_opts po = {0};
	struct box_store s;
	struct box_entry b;
	struct err e = {0};
	char *constraint = NULL, *image = NULL, *k = NULL, *i = NULL, *c = NULL;
	int rc = parse(argc, argv, &a, opts);

	if (rc >= 0)
		return rc;
	if (box_store_open(&s, &e) < 0)
		return cmd_fail(&e);
	if (asprintf(&constraint, "= %s", a.pos[1]) < 0 ||
	    box_store_find(&s, a.pos[0], constraint, a.pos[2], arch, &b, &e) < 0) {
		free(constraint);
		box_store_close(&s);
		return cmd_fail(&e);
	}
	free(constraint);
	/* The box goes out in its own flavour where envup can write that, else as an envup
	 * box: its disk is base.qcow2 in any case. */
	if (!flavour)
		flavour = box_flavour_from_name(b.provider) >= 0 ? b.provider : "envup";
	image = fs_join(b.dir, "base.qcow2");
	po.image = image;
	po.fmt = IMAGE_QCOW2;
	po.arch = strcmp(b.arch, "unknown") ? b.arch : NULL;
	po.output = output;
	if (!strcmp(flavour, "envup"))
		record_boot(b.dir, &po, &k, &i, &c);
	rc = run_package(&po, flavour);
	free(image);
	free(k);
	free(i);
	free(c);
	box_entry_free(&b);
	box_store_close(&s);
	return rc;
}

int cmd_box_publish(int argc, char **argv)
{
	struct box_publish_opts po = {.http = {.retries = -1}};
	const char *cacert = NULL;
	bool insecure = false;
	const struct opt opts[] = {
		V("--registry", &po.registry),	 V("--name", &po.name),
		V("--box-version", &po.version), V("--provider", &po.provider),
		V("--arch", &po.arch),		 V("--description", &po.description),
		V("--cacert", &cacert),		 F("--insecure", &insecure),
		F("--force", &po.force),	 END,
	};
	struct args a = {.cmd = "publish", .want_pos = 1};
	struct ui_progress bar;
	struct box_publish_result r;
	struct userconf uc;
	struct err e = {0};
	int rc = parse(argc, argv, &a, opts);

	if (rc >= 0)
		return rc;
	if (!po.registry || !po.name || !po.version) {
		ui_error("publish: --registry, --name and --box-version are required");
		return usage("publish", true);
	}
	if (userconf_load(NULL, &uc, &e) < 0)
		return cmd_fail(&e);
	po.file = a.pos[0];
	po.http.cacert = cacert;
	po.http.insecure = insecure;
	if (http_is_remote(po.registry))
		po.http.bearer = registry_token(&uc, po.registry, &po.token_from);
	if (cli.verbosity >= UI_VERBOSE && !cli.json)
		po.http.trace = cmd_box_trace;
	ui_progress_start(&bar, "publish");
	po.step = on_step;
	po.step_ctx = &bar;
	rc = box_publish(&po, &r, &e);
	userconf_free(&uc);
	if (rc < 0)
		return cmd_fail(&e);
	if (cli.json) {
		struct json_object *j = json_object_new_object();

		json_object_object_add(j, "url", json_object_new_string(r.box_url));
		json_object_object_add(j, "catalog", json_object_new_string(r.catalog_url));
		json_object_object_add(j, "provider", json_object_new_string(r.provider));
		json_object_object_add(j, "architecture", json_object_new_string(r.arch));
		json_object_object_add(j, "size", json_object_new_int64((int64_t)r.size));
		json_object_object_add(j, "checksum", json_object_new_string(r.sha256));
		json_object_object_add(j, "catalog_tries",
				       json_object_new_int((int)r.catalog_tries));
		json_object_object_add(j, "locked", json_object_new_boolean(r.locked));
		json_object_object_add(j, "upload_seconds", json_object_new_double(r.secs_upload));
		json_object_object_add(j, "catalog_seconds",
				       json_object_new_double(r.secs_catalog));
		printf("%s\n", json_object_to_json_string_ext(
				       j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else {
		ui_info("published '%s' version %s (%s, %s) to %s", po.name, po.version, r.provider,
			r.arch, r.catalog_url);
		ui_verbose("  %s, sha256 %s; upload %.2f s, catalog %.2f s (%u write%s)", r.box_url,
			   r.sha256, r.secs_upload, r.secs_catalog, r.catalog_tries,
			   r.catalog_tries == 1 ? "" : "s");
		if (http_is_remote(po.registry) && !r.locked)
			ui_verbose(
				"  the registry offers no WebDAV MKCOL lock: concurrent publishers "
				"rely on its If-Match, which some servers (nginx) ignore");
	}
	box_publish_result_free(&r);
	return EXIT_OK;
}

static void index_seen(void *ctx, const char *path, const char *why)
{
	(void)ctx;
	if (why)
		ui_warn("skipped %s: %s", path, why);
	else
		ui_verbose("  %s", path);
}

int cmd_box_index(int argc, char **argv)
{
	const char *base = NULL;
	const struct opt opts[] = {V("--base-url", &base), END};
	struct args a = {.cmd = "index", .want_pos = 1};
	struct box_index_result r;
	struct err e = {0};
	char *trimmed = NULL;
	int rc = parse(argc, argv, &a, opts);

	if (rc >= 0)
		return rc;
	if (base) {
		size_t n = strlen(base);

		while (n > 1 && base[n - 1] == '/')
			n--;
		trimmed = strndup(base, n);
	}
	rc = box_index(a.pos[0], trimmed, index_seen, NULL, &r, &e);
	free(trimmed);
	if (rc < 0)
		return cmd_fail(&e);
	if (cli.json) {
		printf("{\"catalogs\":%u,\"boxes\":%u,\"skipped\":%u}\n", r.catalogs, r.boxes,
		       r.skipped);
	} else {
		ui_info("indexed %u box file%s into %u catalog%s", r.boxes, r.boxes == 1 ? "" : "s",
			r.catalogs, r.catalogs == 1 ? "" : "s");
	}
	return EXIT_OK;
}
