/* envbox convert and envbox info: the disk image commands. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "boxes/image.h"
#include "cmd/box_image.h"
#include "cmd/cmd.h"
#include "core/ui.h"

static int box_image_usage(const char *name, const char *usage, bool err)
{
	fprintf(err ? stderr : stdout, "usage: envbox %s %s\n", name, usage);
	return err ? EXIT_USAGE : EXIT_OK;
}

/* Handles the options every box subcommand takes; 1 consumed, 0 not ours, -1 help shown. */
static int common(const char *name, const char *usage, const char *arg)
{
	if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
		box_image_usage(name, usage, false);
		return -1;
	}
	if (!strcmp(arg, "-v") || !strcmp(arg, "--verbose"))
		cli.verbosity++;
	else if (!strcmp(arg, "-q") || !strcmp(arg, "--quiet"))
		cli.verbosity = UI_QUIET;
	else if (!strcmp(arg, "--json"))
		cli.json = true;
	else
		return 0;
	ui_init(cli.verbosity, cli.json);
	return 1;
}

static int parse_format(const char *opt, const char *val, enum image_format *fmt)
{
	*fmt = image_format_from_name(val);
	if (*fmt == IMAGE_UNKNOWN) {
		ui_error("%s: unknown image format '%s' (raw, qcow2, vmdk, vdi, vhd)", opt, val);
		return -1;
	}
	return 0;
}

int cmd_box_convert(int argc, char **argv)
{
	enum image_format from = IMAGE_UNKNOWN, to = IMAGE_QCOW2;
	const char *pos[2];
	struct ui_progress bar;
	struct progress p = {ui_progress_update, &bar};
	struct err e = {0};
	int npos = 0;

	for (int i = 1; i < argc; i++) {
		int r = common("convert", cmd_box_usage("convert"), argv[i]);

		if (r < 0)
			return EXIT_OK;
		if (r > 0)
			continue;
		if ((!strcmp(argv[i], "--from") || !strcmp(argv[i], "--to")) && i + 1 < argc) {
			bool is_from = argv[i][2] == 'f';

			if (parse_format(argv[i], argv[i + 1], is_from ? &from : &to) < 0)
				return EXIT_USAGE;
			i++;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			ui_error("convert: unknown option '%s'", argv[i]);
			return box_image_usage("convert", cmd_box_usage("convert"), true);
		} else if (npos < 2) {
			pos[npos++] = argv[i];
		} else {
			ui_error("convert: too many arguments");
			return box_image_usage("convert", cmd_box_usage("convert"), true);
		}
	}
	if (npos != 2)
		return box_image_usage("convert", cmd_box_usage("convert"), true);
	if (to != IMAGE_QCOW2 && to != IMAGE_RAW) {
		ui_error("--to: can only convert to qcow2 or raw");
		return EXIT_USAGE;
	}
	ui_progress_start(&bar, "Converting");
	if (image_convert(pos[0], from, pos[1], to, 0, &p, &e) < 0) {
		ui_progress_done(&bar);
		return cmd_fail(&e);
	}
	ui_progress_done(&bar);
	if (cli.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "source", json_object_new_string(pos[0]));
		json_object_object_add(o, "output", json_object_new_string(pos[1]));
		json_object_object_add(o, "format", json_object_new_string(image_format_name(to)));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else
		ui_info("==> Converted %s to %s (%s)", pos[0], pos[1], image_format_name(to));
	return EXIT_OK;
}

static json_object *image_json(struct image *img)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "path", json_object_new_string(image_name(img)));
	json_object_object_add(o, "format",
			       json_object_new_string(image_format_name(image_get_format(img))));
	json_object_object_add(o, "subformat", json_object_new_string(image_subformat(img)));
	json_object_object_add(o, "virtual_size", json_object_new_int64((int64_t)image_size(img)));
	json_object_object_add(o, "allocated",
			       json_object_new_int64((int64_t)image_allocated(img)));
	return o;
}

int cmd_box_info(int argc, char **argv)
{
	enum image_format fmt = IMAGE_UNKNOWN;
	struct image_open_opts o = {.follow_refs = true};
	const char *path = NULL;
	struct image *img;
	struct err e = {0};
	char a[32], b[32];

	for (int i = 1; i < argc; i++) {
		int r = common("info", cmd_box_usage("info"), argv[i]);

		if (r < 0)
			return EXIT_OK;
		if (r > 0)
			continue;
		if (!strcmp(argv[i], "--format") && i + 1 < argc) {
			if (parse_format(argv[i], argv[i + 1], &fmt) < 0)
				return EXIT_USAGE;
			i++;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			ui_error("info: unknown option '%s'", argv[i]);
			return box_image_usage("info", cmd_box_usage("info"), true);
		} else if (!path) {
			path = argv[i];
		} else {
			ui_error("info: too many arguments");
			return box_image_usage("info", cmd_box_usage("info"), true);
		}
	}
	if (!path)
		return box_image_usage("info", cmd_box_usage("info"), true);
	if (fmt == IMAGE_UNKNOWN && image_detect(path, &fmt, &e) < 0)
		return cmd_fail(&e);
	if (image_open(path, fmt, &o, &img, &e) < 0)
		return cmd_fail(&e);
	if (cli.json) {
		json_object *top = image_json(img), *chain = json_object_new_array();

		for (struct image *bk = image_backing(img); bk; bk = image_backing(bk))
			json_object_array_add(chain, image_json(bk));
		json_object_object_add(top, "backing_chain", chain);
		printf("%s\n", json_object_to_json_string_ext(top, JSON_C_TO_STRING_PLAIN));
		json_object_put(top);
	} else {
		ui_format_bytes(image_size(img), a, sizeof(a));
		ui_format_bytes(image_allocated(img), b, sizeof(b));
		ui_out("image: %s", image_name(img));
		ui_out("format: %s (%s)", image_format_name(image_get_format(img)),
		       image_subformat(img));
		ui_out("virtual size: %s (%llu bytes)", a, (unsigned long long)image_size(img));
		ui_out("disk size: %s", b);
		for (struct image *bk = image_backing(img); bk; bk = image_backing(bk))
			ui_out("backing file: %s (%s, %llu bytes)", image_name(bk),
			       image_format_name(image_get_format(bk)),
			       (unsigned long long)image_size(bk));
	}
	image_close(img);
	return EXIT_OK;
}
